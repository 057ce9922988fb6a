"""The token stays secret: the suite's audit, and the probe over loopback.

First, the token audit of tests/conftest.py sees what it must and stays out of
the way. Then the probe (see below) drives every answer a gateway could give
and searches everything a program could show for the token.
"""

from __future__ import annotations

import logging
import threading
import traceback

import pytest

from iprogsms_async import APIConnectionError, APIError, IProgSMS, IProgSMSError
from iprogsms_async.cli import ExitCode, run

from ..loopback import http_answer, serve_raw
from ..support import TOKEN, chain, exception_text


def taken(audit):
    """The leaks the audit noted so far, which this test then forgives."""
    audit.check_errors()
    leaks, audit.leaks = list(audit.leaks), []
    return leaks


def test_debug_records_of_the_libraries_are_audited(audited_tokens):
    # A token no client holds: the clients' own filter redacts theirs first
    # (and any "api_token=..."), which would leave the audit nothing to see.
    unheld = "unheld-token-5150-audit"
    audited_tokens.add(unheld)
    logging.getLogger("iprogsms_async").debug("sent with %s", unheld)
    logging.getLogger("httpcore.http11").debug("trace %s", unheld)
    logging.getLogger("httpx").info("HTTP Request: GET /x?token=%s", unheld)
    leaks = taken(audited_tokens)
    assert len(leaks) == 3
    assert all(unheld not in leak for leak in leaks)  # reported redacted


def test_records_from_another_thread_are_audited(audited_tokens):
    server = threading.Thread(
        target=logging.getLogger("uvicorn.error").debug, args=(f"echo {TOKEN}",)
    )
    server.start()
    server.join()
    assert len(taken(audited_tokens)) == 1


def test_a_test_can_add_its_own_token(audited_tokens):
    logging.getLogger("iprogsms_async").debug("my-own-token-4242")
    assert taken(audited_tokens) == []
    audited_tokens.add("my-own-token-4242")
    logging.getLogger("iprogsms_async").debug("my-own-token-4242")
    assert len(taken(audited_tokens)) == 1


def fail_with_the_token_in_the_cause():
    try:
        int(f"GET https://h/p?api_token={TOKEN} failed")  # raises ValueError
    except ValueError as exc:
        raise APIConnectionError(
            "GET https://h/p failed", method="GET", url="u", maybe_sent=False
        ) from exc


def test_the_chained_cause_of_an_error_is_audited(audited_tokens):
    with pytest.raises(IProgSMSError):
        fail_with_the_token_in_the_cause()
    leaks = taken(audited_tokens)
    assert len(leaks) == 1
    assert leaks[0].startswith("APIConnectionError")


def test_an_error_without_the_token_passes(audited_tokens):
    APIConnectionError("GET https://h/p failed", method="GET", url="u", maybe_sent=True)
    assert taken(audited_tokens) == []


def test_debug_records_do_not_reach_pytests_own_capture(request):
    report = request.config.pluginmanager.get_plugin("logging-plugin").report_handler
    logging.getLogger("iprogsms_async").debug("quiet")
    logging.getLogger("iprogsms_async").warning("loud")
    messages = [record.getMessage() for record in report.records]
    assert "loud" in messages
    assert "quiet" not in messages  # pytest keeps and shows what it did before


def test_a_test_reading_caplog_keeps_its_own_levels(caplog):
    logging.getLogger("iprogsms_async").debug("not shown")
    logging.getLogger("httpx").info("not shown either")
    assert caplog.records == []


# --- the probe: every way a gateway's answer could carry the token out --------------
#
# A raw loopback server answers with the token wherever an answer can hold it:
# echoed request lines and bodies, headers, redirects, reason phrases, broken
# headers and status lines, bodies at every depth, and next to every place
# where a text is cut to length. Every logger logs at DEBUG, to the root and
# to a handler on httpcore.http11 itself. Then no capture may hold the token,
# nor any 8-character run of it: not a log line (nor its args or exception),
# not the text, repr or attributes of any exception anywhere in the chain of
# an error, not a result or its raw body, not the CLI's output or files.

PROBE = "pRoBe-7Qx9Vb2LmK4Ns8Tz1Wc6Hd3Jf5"
RUN = 8
RUNS = frozenset(PROBE[i : i + RUN] for i in range(len(PROBE) - RUN + 1))
T = PROBE.encode()
NUMBER = "09171251234"
# Where the token starts, counted back from a cut: each straddles it differently.
CUT_OFFSETS = tuple(range(1, len(PROBE), 3))


def runs_in(text):
    """The 8-character runs of the probe's token found in ``text``."""
    return sorted(run for run in RUNS if run in text)


def nested(value, depth):
    for level in range(depth):
        value = {f"level{level}": [value]}
    return value


SUCCESS = {
    "status": 200,
    "message": "queued",
    "message_id": "iSms-1",
    "message_status": "pending",
    "data": {"load_balance": 5},
    # Seen in public client code: newer gateways link to the status, token included.
    "message_status_link": "https://www.iprogsms.com/api/v1/sms_messages/status"
    f"?message_id=iSms-1&api_token={PROBE}",
    "receipt": f"https://www.iprogsms.com/r/{PROBE}",
    "echo": {PROBE: PROBE},
    "deep": nested(PROBE, 40),
}


def broken(*lines):
    """A raw answer, one line per argument."""
    return b"\r\n".join(lines)


SCENARIOS = {
    "the request echoed as the answer": lambda request, _k: request.raw,
    "the request echoed in a success": lambda request, _k: http_answer(
        {**SUCCESS, "request": request.line.decode(), "sent": request.body.decode()},
        headers=(
            b"X-Request-Line: " + request.line,
            b"X-Token: " + T,
            T + b": a header named after it",
            b"Set-Cookie: session=" + T,
        ),
    ),
    "a redirect to a URL with the token": lambda _r, _k: http_answer(
        {"message": "moved"},
        "302 Found",
        (b"Location: http://127.0.0.1:9/api/v1/elsewhere?api_token=" + T,),
    ),
    "a redirect with the token in the path": lambda _r, _k: http_answer(
        b"", "301 Moved Permanently", (b"Location: /moved/" + T + b"/here",)
    ),
    "the token in the reason phrase": lambda _r, _k: http_answer(
        {"message": "nope"}, f"503 {PROBE} unavailable"
    ),
    "a malformed header line": lambda _r, _k: broken(
        b"HTTP/1.1 200 OK", b"X-Bad header " + T, b"Content-Length: 2", b"", b"{}"
    ),
    "a malformed status line": lambda _r, _k: broken(b"HTTP/1.1 2x0 " + T, b"", b""),
    "a Content-Length that is the token": lambda _r, _k: broken(
        b"HTTP/1.1 200 OK", b"Content-Length: " + T, b"", b"{}"
    ),
    "a broken chunked body": lambda _r, _k: broken(
        b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked", b"", T, b""
    ),
    "an answer dropped mid-body": lambda _r, _k: broken(
        b"HTTP/1.1 200 OK",
        b"Content-Type: application/json",
        b"Content-Length: 500",
        b"X-Token: " + T,
        b"",
        b'{"message": "' + T,
    ),
    "an error body holding it at every depth": lambda _r, _k: http_answer(
        {
            "message": f"token {PROBE} refused",
            "errors": {PROBE: [PROBE, {"deeper": PROBE}]},
            "deep": nested(PROBE, 25),
            "deepest": nested(PROBE, 400),
        },
        "400 Bad Request",
    ),
    "a success whose body says error": lambda _r, _k: http_answer(
        {"status": "error", "message": f"bad {PROBE}", "deep": nested(PROBE, 30)}
    ),
    "a success that is not JSON": lambda _r, _k: http_answer(b"not json " + T),
    "a success without the fields": lambda _r, _k: http_answer(
        {"status": 200, "unexpected": PROBE, "deep": nested(PROBE, 30)}
    ),
    "wrong-typed fields": lambda _r, _k: http_answer(
        {
            **SUCCESS,
            "message_id": [PROBE],
            "message_status": {"value": PROBE},
            "data": {"load_balance": f"12 {PROBE}"},  # float() says it back
        }
    ),
    "rate limited, retried": lambda _r, _k: http_answer(
        {"message": f"slow down {PROBE}"},
        "429 Too Many Requests",
        (b"Retry-After: " + T,),
    ),
    # The cuts: the token straddles where a text is cut to length.
    "a message cut at 500": lambda _r, k: http_answer(
        {"message": "x" * (500 - len("HTTP 400: ") - k) + PROBE}, "400 Bad Request"
    ),
    "a text hint cut at 80": lambda _r, k: http_answer(
        b"y" * (80 - k) + T, "400 Bad Request"
    ),
    "a kept text body cut at 2000": lambda _r, k: http_answer(
        b"z" * (2000 - k) + T, "400 Bad Request"
    ),
    "a server error retried, cut at 500": lambda _r, k: http_answer(
        {"message": "x" * (500 - len("HTTP 500: ") - k) + PROBE},
        "500 Internal Server Error",
    ),
    "a described value cut at 40": lambda _r, k: http_answer(
        {**SUCCESS, "data": {"load_balance": ["w" * (40 - 2 - k) + PROBE]}}
    ),
}
CUTS = frozenset(name for name in SCENARIOS if " cut at " in name)


class Probe:
    """The raw server's behaviour: the scenario in play, and its cut offsets."""

    def __init__(self):
        self.scenario = "the request echoed as the answer"
        self.lock = threading.Lock()
        self.count = 0

    def play(self, scenario):
        with self.lock:
            self.scenario, self.count = scenario, 0

    def __call__(self, request):
        with self.lock:
            k = CUT_OFFSETS[self.count % len(CUT_OFFSETS)]
            self.count += 1
            scenario = self.scenario
        return SCENARIOS[scenario](request, k)


class Capture(logging.Handler):
    """Everything a handler could write of a record, and what a structured one
    (a JSON logger, an error tracker) could read of it."""

    def __init__(self):
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts = []
        self.names = set()

    def emit(self, record):
        self.names.add(record.name)
        self.texts.append(self.format(record))
        self.texts.append(f"{record.msg!r} {record.args!r}")
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.extend(chain_texts(record.exc_info[1]))


def chain_texts(error):
    """All an error tracker or a debugger sees of ``error`` and its whole chain,
    suppressed contexts included: traceback, str, repr, args and attributes."""
    texts = ["".join(traceback.format_exception(error)), exception_text(error)]
    for current in chain(error):
        texts.extend([repr(current.args), repr(getattr(current, "__dict__", {}))])
    return texts


@pytest.fixture
def every_logger_at_debug(audited_tokens):
    """Root and libraries at DEBUG; a handler on the root and one on httpcore.http11."""
    audited_tokens.add(PROBE)
    root = logging.getLogger()
    names = ("httpx", "httpcore", "httpcore.http11", "aiohttp", "iprogsms_async")
    loggers = [root, *(logging.getLogger(name) for name in names)]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    on_root, on_child = Capture(), Capture()
    root.addHandler(on_root)
    child = logging.getLogger("httpcore.http11")
    child.addHandler(on_child)
    try:
        yield on_root, on_child
    finally:
        root.removeHandler(on_root)
        child.removeHandler(on_child)
        for logger, level in levels:
            logger.setLevel(level)


SETUPS = [("asyncio", "httpx"), ("asyncio", "aiohttp"), ("trio", "httpx")]


@pytest.fixture(params=SETUPS, ids=["-".join(setup) for setup in SETUPS])
def setup(request):
    if request.param[1] == "aiohttp":
        pytest.importorskip("aiohttp")
    return request.param


@pytest.fixture
def anyio_backend(setup):
    return setup[0]


@pytest.fixture(scope="module")
def probe_server():
    probe = Probe()
    with serve_raw(probe) as url:
        yield probe, url


async def drive(client, rounds):
    """Status (a GET: the token in the URL), send (a POST: in the body) and
    credits, ``rounds`` times; return what a program could show of each outcome."""
    texts = []
    outcomes = []
    for _ in range(rounds):
        for call in (
            lambda: client.sms.status("iSms-1"),
            lambda: client.sms.send(NUMBER, "probe"),
            client.account.credits,
        ):
            try:
                result = await call()
            except IProgSMSError as error:
                outcomes.append(error)
                texts.extend(chain_texts(error))
                texts.append(repr(getattr(error, "body", None)))
            else:
                outcomes.append(result)
                texts.extend([repr(result), repr(result.raw), str(result.raw)])
    return texts, outcomes


@pytest.mark.anyio
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_token_shows_nowhere_whatever_the_gateway_answers(
    scenario, setup, probe_server, every_logger_at_debug, no_backoff
):
    probe, url = probe_server
    probe.play(scenario)
    on_root, on_child = every_logger_at_debug
    async with IProgSMS(
        PROBE, base_url=url, http_backend=setup[1], max_retries=1
    ) as client:
        texts, outcomes = await drive(
            client, len(CUT_OFFSETS) if scenario in CUTS else 1
        )
    captured = "\n".join([*texts, *on_root.texts, *on_child.texts])
    assert runs_in(captured) == [], scenario
    assert outcomes, "nothing was driven: the probe would prove nothing"
    assert on_root.texts, "nothing was logged: the probe would prove nothing"
    if setup[1] == "httpx":
        assert "httpcore.http11" in on_root.names
        assert on_child.texts  # the handler on the child logger saw records too
    if scenario in CUTS:
        assert any(isinstance(outcome, IProgSMSError) for outcome in outcomes)


@pytest.mark.anyio
@pytest.mark.parametrize("setup", [("asyncio", "httpx")], ids=["asyncio-httpx"])
async def test_the_probe_sees_the_token_where_it_is_kept_redacted(
    setup, probe_server, every_logger_at_debug
):
    """What the probe searches does hold the gateway's text, redacted: the
    search above is not vacuous."""
    probe, url = probe_server
    probe.play("the request echoed in a success")
    on_root, _ = every_logger_at_debug
    async with IProgSMS(PROBE, base_url=url, max_retries=0) as client:
        sent = await client.sms.send(NUMBER, "probe")
        probe.play("an error body holding it at every depth")
        with pytest.raises(APIError) as caught:
            await client.sms.status("iSms-1")
    assert sent.raw["message_status_link"].endswith("api_token=[REDACTED]")
    assert sent.raw["receipt"] == "https://www.iprogsms.com/r/[REDACTED]"
    assert sent.raw["echo"] == {"[REDACTED]": "[REDACTED]"}
    deepest = caught.value.body["deepest"]
    for level in reversed(range(400)):
        deepest = deepest[f"level{level}"][0]
    assert deepest == "[REDACTED]"  # kept, 400 levels down, and redacted
    logged = "\n".join(on_root.texts)
    assert "X-Token" in logged
    assert "[REDACTED]" in logged


@pytest.mark.parametrize("scenario", ["a message cut at 500", "a text hint cut at 80"])
def test_the_token_shows_nowhere_in_what_the_cli_prints_or_writes(
    scenario, probe_server, every_logger_at_debug, capsys, monkeypatch, tmp_path
):
    """stderr, ``--json``, the broadcast's ``--out`` CSV and its journal on disk."""
    probe, url = probe_server
    probe.play(scenario)
    on_root, _ = every_logger_at_debug
    monkeypatch.setenv("IPROGSMS_API_TOKEN", PROBE)
    monkeypatch.setenv("IPROGSMS_BASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    printed = []
    for _ in CUT_OFFSETS:
        for json_flag in ((), ("--json",)):
            assert run(["status", "iSms-1", *json_flag]) == ExitCode.API
            out, err = capsys.readouterr()
            printed.append(out + err)
    recipients = tmp_path / "recipients.csv"
    recipients.write_text(
        "\n".join(f"0917100{index:04d}" for index in range(len(CUT_OFFSETS))) + "\n"
    )
    out_csv, journal = tmp_path / "out.csv", tmp_path / "journal.sqlite"
    run([
        "broadcast", str(recipients), "-m", "hi", "--no-poll",
        "--out", str(out_csv), "--journal", str(journal),
    ])  # fmt: skip
    out, err = capsys.readouterr()
    printed.append(out + err)
    written = [out_csv.read_text(encoding="utf-8")]
    written += [
        path.read_bytes().decode("latin-1") for path in tmp_path.glob("journal*")
    ]
    assert "HTTP 400" in written[0]  # each failed send's error is in the CSV
    assert any("HTTP 400" in text for text in written[1:])  # and in the journal
    captured = "\n".join([*printed, *written, *on_root.texts])
    assert runs_in(captured) == []
