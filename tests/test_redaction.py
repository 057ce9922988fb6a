"""The token never appears in a log line, an exception's text or a repr."""

import gc
import json
import logging
import traceback

import httpx
import pytest

from iprogsms_async import (
    APIConnectionError,
    IProgSMS,
    IProgSMSError,
    ResponseFormatError,
    _redact,
)
from iprogsms_async._redact import (
    Secret,
    known_tokens,
    redact,
    redact_data,
    redact_foreign,
    redact_url,
    shorten,
    stand_in,
)
from iprogsms_async._response import decode_body

from .loopback import answer, base_url, closed_port, drop, serve
from .support import TOKEN

pytestmark = pytest.mark.anyio

REMINDER = {
    "id": 1,
    "phone_number": "09171251234",
    "message": "m",
    "scheduled_at": "2025-03-08T05:00:00+08:00",
    "status": "scheduled",
}


async def exercise(client):
    """Every operation once, and the failures they can meet; return error texts."""
    texts = []
    calls = [
        lambda: client.sms.send("09171251234", "hi"),
        lambda: client.sms.send_bulk(["09171251234", "09181234567"], "hi"),
        lambda: client.sms.status("iSms-1"),
        client.account.credits,
        lambda: client.reminders.create(
            phone_number="09171251234", message="m", scheduled_at="2025-03-08 05:00AM"
        ),
        lambda: client.reminders.get(1),
        lambda: client.reminders.update(1, message="n"),
        lambda: client.reminders.delete(1),
        lambda: client.phone_numbers.detect("09171251234"),
        lambda: client.otp.send("09171251234"),
        lambda: client.otp.verify("09171251234", "123456"),
    ]
    for call in calls:
        try:
            await call()
        except IProgSMSError as error:
            texts.append("".join(traceback.format_exception(error)))
            texts.append(repr(error))
    return texts


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    for name in ("httpx", "httpcore", "iprogsms_async"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("httpx", "httpcore", "iprogsms_async"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def assert_clean(caplog, texts):
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for record in caplog.records:
        assert TOKEN not in record.getMessage(), record.getMessage()
    assert TOKEN not in caplog.text
    for text in texts:
        assert TOKEN not in text


async def test_no_token_in_logs_or_errors_with_mocked_answers(
    all_logs, gateway, no_backoff
):
    answers = iter(
        [
            httpx.Response(200, json={"status": 200, "message_id": "i"}),
            httpx.Response(500, json={"message": f"token {TOKEN} broke it"}),
            httpx.ReadTimeout("slow"),
            httpx.Response(401, json={"message": "bad token", "api_token": TOKEN}),
            httpx.Response(200, json={"status": "success", "data": REMINDER}),
            httpx.Response(404, text=f"<html><title>{TOKEN}</title></html>"),
            httpx.Response(200, json={"status": "success", "data": REMINDER}),
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.ConnectError("refused"),
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"status": "success", "data": {}}),
            httpx.Response(400, json={"errors": {"otp": [f"{TOKEN} wrong"]}}),
        ]
    )

    def next_answer(request):
        answer = next(answers, httpx.Response(500, json={"echo": str(request.url)}))
        if isinstance(answer, Exception):
            raise answer
        return answer

    gateway.route().mock(side_effect=next_answer)
    async with IProgSMS(TOKEN) as client:
        texts = await exercise(client)
    assert len(texts) >= 8
    assert_clean(all_logs, texts)
    assert any("HTTP Request: GET" in r.getMessage() for r in all_logs.records)


async def test_no_token_in_logs_over_a_real_socket(all_logs, no_backoff):
    routes = {
        "/sms_messages": answer({"status": 200, "message_id": "i"}),
        "/sms_messages/send_bulk": drop(),
        "/sms_messages/status": answer({"message": "nope"}, 500),
        "/account/sms_credits": answer(
            {"status": "success", "data": {"load_balance": 1}}
        ),
        "/message-reminders": answer({"status": "success", "data": REMINDER}),
        "/message-reminders/1": answer({"status": "error", "message": "x"}, 404),
    }
    with serve(routes) as server:
        async with IProgSMS(TOKEN, base_url=base_url(server)) as client:
            texts = await exercise(client)
    async with IProgSMS(
        TOKEN, base_url=f"http://127.0.0.1:{closed_port()}/api/v1"
    ) as dead:
        texts += await exercise(dead)
    assert_clean(all_logs, texts)
    assert any(r.name.startswith("httpcore") for r in all_logs.records)


def test_redact_helpers():
    secret = Secret("abc123")
    assert redact("token abc123 here", secret) == "token [REDACTED] here"
    assert redact_url("https://h/p?message_id=1&api_token=abc123&x=1") == (
        "https://h/p?message_id=1&api_token=[REDACTED]&x=1"
    )
    assert "abc123" not in repr(secret)
    assert "abc123" not in str(secret)
    assert secret == Secret("abc123")


# --- every token alive, and how each kind of text is redacted ------------------------

LIVE = "live-Token-9f8e7d6c5b4a3210zz"
RUN = 8


def runs_of(token, text):
    return [
        token[i : i + RUN]
        for i in range(len(token) - RUN + 1)
        if token[i : i + RUN] in text
    ]


def test_every_live_token_is_redacted_and_a_collected_one_forgotten():
    first = Secret("first-token-Aa11Bb22Cc33")
    second = Secret("second-token-Dd44Ee55Ff66")
    both = "first-token-Aa11Bb22Cc33 and second-token-Dd44Ee55Ff66"
    assert redact(both) == "[REDACTED] and [REDACTED]"
    twin = Secret("second-token-Dd44Ee55Ff66")  # an equal token, in another client
    del second
    gc.collect()
    assert "second-token-Dd44Ee55Ff66" in known_tokens()  # the twin still holds it
    del first, twin
    gc.collect()
    assert not known_tokens() & {
        "first-token-Aa11Bb22Cc33",
        "second-token-Dd44Ee55Ff66",
    }


async def test_two_clients_with_their_own_tokens_are_both_kept_out_of_logs(
    audited_tokens,
):
    tokens = ("client-one-Tk7Hq2Xz9Lp4", "client-two-Rw5Ny8Vb3Mc6")
    audited_tokens.add(*tokens)
    clients = [
        IProgSMS(token, base_url="http://127.0.0.1:9/api/v1") for token in tokens
    ]
    capture = ListHandler()
    child = logging.getLogger("httpcore.http11")
    child.addHandler(capture)
    try:
        child.debug("echo %s %s", *(token.encode() for token in tokens))
    finally:
        child.removeHandler(capture)
    assert capture.lines == ["echo b'[REDACTED]' b'[REDACTED]'"]
    for client in clients:
        await client.aclose()
    del clients, client
    gc.collect()
    assert not known_tokens() & set(tokens)  # closed and collected: forgotten


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.NOTSET)
        self.lines = []
        self.records = []

    def emit(self, record):
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def library_loggers_at_debug():
    names = ("httpx", "httpcore", "aiohttp", "hpack", "iprogsms_async")
    loggers = [logging.getLogger(name) for name in names]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield
    for logger, level in levels:
        logger.setLevel(level)


@pytest.mark.parametrize(
    "name",
    [
        "httpx",
        "httpcore.connection",
        "httpcore.http11",
        "httpcore.http2",  # created when httpcore first imports its HTTP/2 module
        "httpcore.socks",
        "aiohttp.client",
        "hpack.hpack",
        "iprogsms_async",
    ],
)
def test_records_of_every_library_logger_are_redacted_before_any_handler(
    name, library_loggers_at_debug
):
    secret = Secret(LIVE)
    IProgSMS(LIVE, base_url="http://127.0.0.1:9/api/v1")  # installs the filter
    logger = logging.getLogger(name)
    on_logger, on_root = ListHandler(), ListHandler()
    logger.addHandler(on_logger)
    logging.getLogger().addHandler(on_root)
    try:
        # Header tuples of bytes, as httpcore's traces log them.
        logger.debug("headers=%r", [(b"Location", b"/x?api_token=" + LIVE.encode())])
    finally:
        logger.removeHandler(on_logger)
        logging.getLogger().removeHandler(on_root)
    for handler in (on_logger, on_root):
        assert handler.lines == ["headers=[(b'Location', b'/x?api_token=[REDACTED]')]"]
        assert handler.records[0].args is None  # no structured copy of it left
    assert secret.get() == LIVE


def test_a_logged_exception_holding_a_token_anywhere_in_its_chain_is_redacted(
    library_loggers_at_debug,
):
    secret = Secret(LIVE)
    IProgSMS(LIVE, base_url="http://127.0.0.1:9/api/v1")
    capture = ListHandler()
    logger = logging.getLogger("aiohttp.client")
    logger.addHandler(capture)
    try:
        try:
            try:
                int(f"echo {LIVE}")
            except ValueError:
                # Suppressed, so not printed: but an error tracker walks to it.
                raise KeyError("plain") from None
        except KeyError:
            logger.exception("failed")
        try:
            {}["clean"]
        except KeyError:
            logger.exception("failed cleanly")
    finally:
        logger.removeHandler(capture)
    tainted, clean = capture.records
    assert tainted.exc_info is None  # the exception object is not passed on
    assert "KeyError: 'plain'" in capture.lines[0]
    assert LIVE not in capture.lines[0]
    assert clean.exc_info is not None  # a clean one is, for trackers to read
    assert secret.get() == LIVE


async def test_the_filter_costs_nothing_while_the_libraries_log_above_debug(
    monkeypatch,
):
    calls = []
    original = _redact._FILTER.filter
    monkeypatch.setattr(
        _redact._FILTER,
        "filter",
        lambda record: calls.append(record) or original(record),
    )
    loggers = [
        logging.getLogger(name) for name in ("httpx", "httpcore", "iprogsms_async")
    ]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with serve(
            {"/sms_messages/status": answer({"message_status": "sent"})}
        ) as server:
            async with IProgSMS(TOKEN, base_url=base_url(server)) as client:
                await client.sms.status("iSms-1")
    finally:
        for logger, level in levels:
            logger.setLevel(level)
    assert calls == []  # no record was even made, so nothing was redacted


def test_a_cut_never_keeps_part_of_a_token():
    secret = Secret(LIVE)
    for k in range(len(LIVE) + 1):
        text = "x" * (50 - k) + LIVE + " and on"
        assert runs_of(LIVE, shorten(text, 50)) == []
    assert secret.get() == LIVE


def test_runs_go_from_foreign_text_but_data_is_left_whole():
    secret = Secret("tok-0917125123-xyzw")  # eight digits of a phone number
    body = {"phone_number": "09171251234", "message_id": "iSms-1"}
    assert redact_data(body) == body
    assert redact("09171251234") == "09171251234"
    # A library that cut the token before we saw it: what is left goes too.
    assert (
        redact_foreign("illegal line: b'tok-0917125'") == "illegal line: b'[REDACTED]'"
    )
    assert redact_foreign("a whole tok-0917125123-xyzw") == "a whole [REDACTED]"
    assert secret.get()


def test_decoded_bodies_are_redacted_at_any_depth_and_behind_escapes():
    secret = Secret(LIVE)
    escaped = "".join(f"\\u{ord(char):04x}" for char in LIVE)
    content = (
        '{"escaped": "' + escaped + '", "slashed": "https:\\/\\/h\\/r\\/' + LIVE
        + '", "deep": ' + "[" * 500 + '"' + LIVE + '"' + "]" * 500 + "}"
    ).encode()  # fmt: skip
    body = decode_body(content)
    assert body["escaped"] == "[REDACTED]"
    assert body["slashed"] == "https://h/r/[REDACTED]"
    deep = body["deep"]
    for _ in range(500):
        (deep,) = deep
    assert deep == "[REDACTED]"
    assert decode_body(json.dumps({LIVE: 1}).encode("utf-16")) == {"[REDACTED]": 1}
    assert decode_body(b'{"message_id": "iSms-1"}') == {"message_id": "iSms-1"}
    assert secret.get() == LIVE


def test_a_stand_in_keeps_the_class_and_the_redacted_text_and_nothing_else():
    secret = Secret(LIVE)
    try:
        try:
            int(f"inner {LIVE}")
        except ValueError as inner:
            cut = LIVE[:20]  # a library's own cut
            raise httpx.RemoteProtocolError(f"illegal status line: {cut}") from inner
    except httpx.RemoteProtocolError as exc:
        copy = stand_in(exc)
    assert type(copy) is httpx.RemoteProtocolError
    assert str(copy) == "illegal status line: [REDACTED]"
    assert copy.__cause__ is None
    assert copy.__context__ is None
    assert copy.__traceback__ is None

    class NeedsARequest(ConnectionError):
        def __init__(self, request, message):
            super().__init__(message)
            self.request = request

    copy = stand_in(NeedsARequest(f"GET /?api_token={LIVE}", f"bad {LIVE}"))
    assert type(copy) is ConnectionError
    assert str(copy) == "bad [REDACTED]"
    assert secret.get() == LIVE


async def test_a_transport_error_chains_a_clean_stand_in_and_is_still_retried(
    client, gateway
):
    route = gateway.get("/sms_messages/status").mock(
        side_effect=httpx.RemoteProtocolError(f"illegal status line: {TOKEN}")
    )
    with pytest.raises(APIConnectionError) as caught:
        await client.sms.status("iSms-1")
    cause = caught.value.__cause__
    assert type(cause) is httpx.RemoteProtocolError
    assert str(cause) == "illegal status line: [REDACTED]"
    assert caught.value.__context__ is None  # httpx's own is not reachable
    assert route.call_count == 3  # a read: retried as before


async def test_a_wrong_typed_answer_chains_nothing(client, gateway):
    gateway.get("/account/sms_credits").respond(
        json={"status": "success", "data": {"load_balance": f"12 {TOKEN}"}}
    )
    with pytest.raises(ResponseFormatError) as caught:
        await client.account.credits()
    assert "load_balance" in str(caught.value)
    # Not even as a suppressed context: cattrs' errors quote the value.
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
