"""The native aiohttp path (`AiohttpWire`) on the wire, over raw loopback servers.

What each way a server can fail means for a send and for a read, the total
deadline over a body that trickles, hostile bodies read as the httpx backend
reads them, the request the gateway receives, and the token kept out of
everything a program could show. asyncio only (aiohttp's). The lifecycle and
the translation table are in tests/test_aiohttp_transport.py.
"""

from __future__ import annotations

import gc
import gzip
import json
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from iprogsms_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    IProgSMS,
    IProgSMSError,
    ResponseFormatError,
    ServerError,
)

from .loopback import answer, base_url, closed_port, http_answer, serve, serve_raw
from .support import TOKEN, exception_text

aiohttp = pytest.importorskip("aiohttp")

from iprogsms_async._aiohttp import (  # noqa: E402
    _STALE_TRIES,
    AiohttpWire,
    FreshConnector,
    _Deadlines,
    _dumps,
    _LookingRequest,
    _StaleConnectionError,
    _watched,
)
from iprogsms_async._redact import Secret, known_tokens  # noqa: E402
from iprogsms_async._response import RequestContext  # noqa: E402
from iprogsms_async._shielding import SendTrace  # noqa: E402

pytestmark = pytest.mark.anyio

SEND_OK = {"status": 200, "message": "queued", "message_id": "iSms-1"}
STATUS_OK = {"status": 200, "message_status": "pending"}
NUMBER = "09171251234"
BOUND = 15.0  # seconds, for timeout=1.0 (a deadline of 4 s)


@pytest.fixture
def anyio_backend():
    return "asyncio"


def client_of(url, **options):
    return IProgSMS(TOKEN, base_url=url, http_backend="aiohttp", **options)


class Counted:
    """A raw server's answer, counting the requests it was asked."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.lock = threading.Lock()

    def __call__(self, request):
        with self.lock:
            self.requests.append(request)
        return self.answer(request)


def cut_short(_request):
    """An answer whose body stops a third of the way, then the connection closes."""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: 300\r\n\r\n" + b'{"status": 200, "message": "que'
    )


# --- not sent, maybe sent ------------------------------------------------------------


async def test_a_server_that_closes_mid_answer_leaves_a_send_in_doubt(no_backoff):
    counted = Counted(cut_short)
    with serve_raw(counted) as url:
        async with client_of(url) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.sms.send(NUMBER, "hi")
    assert caught.value.maybe_sent is True
    assert "may have accepted" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert len(counted.requests) == 1  # never repeated


async def test_a_read_cut_mid_answer_is_retried(no_backoff):
    counted = Counted(cut_short)
    with serve_raw(counted) as url:
        async with client_of(url, max_retries=2) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.sms.status("iSms-1")
    assert caught.value.maybe_sent is False  # a read texts nobody
    assert len(counted.requests) == 3


async def test_a_refused_connection_is_not_sent_and_a_read_is_retried(
    no_backoff, monkeypatch
):
    attempts = []
    original = AiohttpWire.exchange

    async def counting(self, method, url, *args, **kwargs):
        attempts.append((method, url))
        return await original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(AiohttpWire, "exchange", counting)
    url = f"http://127.0.0.1:{closed_port()}/api/v1"
    async with client_of(url, max_retries=2) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.sms.status("iSms-1")
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.maybe_sent is False
    assert attempts == [("GET", url + "/sms_messages/status")] * 3


# --- the total deadline ---------------------------------------------------------------


def body_trickle(body, every=0.4):
    """Answer the headers at once, then ``body`` one byte every ``every`` seconds.

    aiohttp's read timeout (1 s for ``timeout=1.0``) never fires: each byte
    comes in time. Only the attempt's total can end it.
    """

    def behave(handler):
        data = json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.close_connection = True
        try:
            for index in range(len(data)):
                handler.wfile.write(data[index : index + 1])
                handler.wfile.flush()
                time.sleep(every)
        except OSError:  # the client gave up and closed the connection
            pass

    return behave


async def test_one_timer_keeps_the_deadlines_of_every_attempt():
    # aiohttp's own timeouts make two or three timers a request; the wire's
    # deadlines one for all of them, set again only for a sooner deadline.
    import asyncio  # noqa: PLC0415 -- aiohttp's loop, only here

    deadlines = _Deadlines(asyncio.get_running_loop())
    timeout = httpx.Timeout(1.0)
    watches = [deadlines.watch(4.0, timeout) for _ in range(50)]
    total_timer = deadlines._handle
    assert total_timer is not None
    for watch in watches:
        watch.progress(watch.quiet)  # written: each has 1 s to be answered
    timer = deadlines._handle
    assert timer is not total_timer  # the first read clock was sooner
    for watch in watches:
        watch.progress(watch.quiet)  # each read restarts its read clock, later
    assert deadlines._handle is timer
    for watch in watches:
        deadlines.done(watch)
    sooner = deadlines.watch(0.5, httpx.Timeout(0.1, read=None))
    assert deadlines._handle is not timer  # sooner than any before: set again
    deadlines.done(sooner)


async def test_a_quiet_attempt_ends_at_its_read_timeout_not_its_deadline():
    import asyncio  # noqa: PLC0415 -- aiohttp's loop, only here

    deadlines = _Deadlines(asyncio.get_running_loop())
    watch = deadlines.watch(30.0, httpx.Timeout(0.2))
    watch.progress(watch.quiet)
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(10)
    assert watch.expired == "read"
    assert time.monotonic() - started < 5
    if sys.version_info >= (3, 11):
        asyncio.current_task().uncancel()  # the test's own task goes on


async def test_a_callers_cancellation_with_the_deadline_is_not_lost(no_backoff):
    # The deadline cancels the attempt's task; a cancellation of the caller's
    # that comes with it must still cancel the caller, not become a timeout.
    import asyncio  # noqa: PLC0415 -- asyncio's own cancellation, only here

    with serve({"/sms_messages": answer(SEND_OK, delay=3.0)}) as server:
        async with client_of(base_url(server), timeout=5.0) as client:
            task = asyncio.ensure_future(client.sms.send(NUMBER, "hi"))
            while not server.hits["/api/v1/sms_messages"]:
                await asyncio.sleep(0.01)
            wire = client._shared.wire
            # Both at once: the caller's task.cancel(), then the deadline's.
            task.cancel()
            for watch in list(wire._deadlines._watches):
                watch.expired = "total"
                watch.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_the_deadlines_timer_keeps_no_task_and_no_token_alive(audited_tokens):
    # The timer's callback runs in a context of its own, and an attempt's
    # task leaves no watch behind in its context: a task that failed (its
    # error holding the frames, and they the client) goes, and the client's
    # token with it, without waiting for a garbage collection or the timer.
    import asyncio  # noqa: PLC0415 -- a task of its own, asyncio's

    token = "deadline-timer-keeps-no-token"
    refused = {"message": "Invalid number."}
    gc.disable()
    try:
        with serve({"/sms_messages": answer(refused, status=422)}) as server:
            async with IProgSMS(
                token, base_url=base_url(server), http_backend="aiohttp", max_retries=0
            ) as client:
                task = asyncio.ensure_future(client.sms.send(NUMBER, "hi"))
                with pytest.raises(APIError):
                    await task
            audited_tokens.check_errors()
            del client, task
            assert token not in known_tokens()
    finally:
        gc.enable()


async def test_a_body_that_trickles_ends_the_send_at_the_total_deadline(no_backoff):
    with serve({"/sms_messages": body_trickle(SEND_OK)}) as server:
        async with client_of(base_url(server), timeout=1.0) as client:
            with anyio.fail_after(BOUND), pytest.raises(APITimeoutError) as caught:
                await client.sms.send(NUMBER, "hi")
    assert caught.value.maybe_sent is True
    assert "total of 4 s" in str(caught.value)
    assert server.hits["/api/v1/sms_messages"] == 1


async def test_the_deadline_holds_for_a_shielded_send_whose_body_trickles(
    no_backoff,
):
    with serve({"/sms_messages": body_trickle(SEND_OK)}) as server:
        async with client_of(
            base_url(server), timeout=1.0, shield_sends=True
        ) as client:
            with (
                anyio.fail_after(BOUND),
                pytest.raises(APITimeoutError) as caught,
                anyio.move_on_after(0.5),
            ):
                await client.sms.send(NUMBER, "hi")
    assert caught.value.maybe_sent is True
    assert server.hits["/api/v1/sms_messages"] == 1


# --- hostile bodies, read as the httpx backend reads them -----------------------------


def gzipped(body, status="200 OK"):
    data = gzip.compress(json.dumps(body).encode())
    return http_answer(data, status, (b"Content-Encoding: gzip",))


HOSTILE = {
    # name: (answer, what a send raises, or None for success)
    "a gzipped answer": (gzipped(SEND_OK), None),
    "a gzip bomb": (
        http_answer(
            gzip.compress(b"0" * (20 << 20)), headers=(b"Content-Encoding: gzip",)
        ),
        (ResponseFormatError, "a body over 1048576 bytes"),
    ),
    "broken gzip": (
        http_answer(b"not gzip at all", headers=(b"Content-Encoding: gzip",)),
        (ResponseFormatError, "cannot be decoded"),
    ),
    "broken deflate in a 500": (
        http_answer(
            b"\x00\x01\x02",
            "500 Internal Server Error",
            (b"Content-Encoding: deflate",),
        ),
        (ServerError, "HTTP 500"),
    ),
    "over 1 MB": (http_answer(b"a" * (2 << 20)), (ResponseFormatError, "over")),
    "over 1 MB, announced": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n{}",
        (ResponseFormatError, "over"),
    ),
    "over 1 MB in a 503": (
        http_answer(b"b" * (2 << 20), "503 Service Unavailable"),
        (ServerError, "HTTP 503"),
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_bodies_end_as_on_the_httpx_backend(name, no_backoff):
    answer, expected = HOSTILE[name]
    with serve_raw(lambda _request: answer) as url:
        async with client_of(url, max_retries=0) as client:
            if expected is None:
                sent = await client.sms.send(NUMBER, "hi")
                assert sent.message_id == "iSms-1"
                return
            cls, words = expected
            with anyio.fail_after(BOUND), pytest.raises(cls) as caught:
                await client.sms.send(NUMBER, "hi")
    assert words in str(caught.value)
    assert caught.value.maybe_sent is True  # a send the gateway may have taken


async def test_a_redirect_is_not_followed_and_the_token_goes_nowhere(no_backoff):
    elsewhere = Counted(lambda _request: http_answer(SEND_OK))
    with serve_raw(elsewhere) as target:
        location = target.encode() + b"/sms_messages"
        moved = http_answer(
            {"message": "moved"}, "307 Temporary Redirect", (b"Location: " + location,)
        )
        with serve_raw(lambda _request: moved) as url:
            async with client_of(url) as client:
                with pytest.raises(APIError) as caught:
                    await client.sms.send(NUMBER, "hi")
                with pytest.raises(APIError):
                    await client.sms.status("iSms-1")
    assert caught.value.status_code == 307
    assert caught.value.maybe_sent is True  # after a POST, often "done"
    assert elsewhere.requests == []


# --- what the gateway receives -------------------------------------------------------


async def test_the_gateway_receives_what_the_httpx_backend_sends(no_backoff):
    received = {}

    def capture(backend):
        def respond(request):
            received.setdefault(backend, []).append(request)
            if request.line.startswith(b"POST"):
                return http_answer(SEND_OK)
            return http_answer(STATUS_OK)

        return respond

    for backend in ("httpx", "aiohttp"):
        with serve_raw(capture(backend)) as url:
            async with IProgSMS(TOKEN, base_url=url, http_backend=backend) as client:
                await client.sms.send(NUMBER, "Salamat! ñ")
                await client.sms.status("iSms-1")
    seen = {}
    for backend, (send, status) in received.items():
        send_headers = headers_of(send)
        status_url = urlsplit(status.line.split(b" ")[1].decode())
        seen[backend] = (
            send.line.split(b" ")[:2],
            json.loads(send.body),
            send_headers["content-type"],
            send_headers["user-agent"],
            send_headers["accept"],
            status.line.split(b" ")[0],
            status_url.path,
            parse_qs(status_url.query),
            status.body,
        )
    assert seen["aiohttp"] == seen["httpx"]
    send_line, body, *_ = seen["aiohttp"]
    assert TOKEN.encode() not in send_line[1]  # a POST's token rides in its body
    assert body == {
        "api_token": TOKEN,
        "phone_number": NUMBER,
        "message": "Salamat! ñ",
    }


def headers_of(request):
    lines = request.head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.partition(":") for line in lines if line)
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


# --- the token ----------------------------------------------------------------------


def echoing(request):
    """An answer that repeats the request line (a GET's holds the token) in a
    header, then breaks off mid-body."""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\nX-Echo: "
        + request.line
        + b"\r\n\r\n"
        + b'{"echo": "'
        + request.line
    )


def echoing_error(request):
    body = {"message": f"bad request: {request.line.decode()}"}
    return http_answer(body, "500 Internal Server Error", (b"X-Echo: " + request.line,))


def echoing_malformed(request):
    return b"HTTP/1.1 200 OK\r\nX-Bad header " + request.line + b"\r\n\r\n{}"


def silent_after_headers(request):
    """The headers, echoing the request line, then nothing: a read timeout."""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Echo: "
        + request.line
        + b"\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("respond", "keep_open"),
    [
        (echoing, False),
        (echoing_error, False),
        (echoing_malformed, False),
        (silent_after_headers, True),
    ],
    ids=["cut-mid-body", "a-500", "a-malformed-header", "a-read-timeout"],
)
async def test_the_token_echoed_by_the_server_never_surfaces(
    respond, keep_open, no_backoff, caplog
):
    caplog.set_level("DEBUG")
    errors = []
    with serve_raw(respond, keep_open=keep_open) as url:
        async with client_of(url, max_retries=1, timeout=0.5) as client:
            for call in (
                lambda: client.sms.status("iSms-1"),  # the token in the URL
                lambda: client.sms.send(NUMBER, "hi"),  # the token in the body
            ):
                with anyio.fail_after(BOUND), pytest.raises(IProgSMSError) as caught:
                    await call()
                errors.append(caught.value)
    for error in errors:
        assert TOKEN not in exception_text(error)
        assert TOKEN not in repr(getattr(error, "body", None))
    assert TOKEN not in caplog.text
    if respond is silent_after_headers:
        assert all(isinstance(error, APITimeoutError) for error in errors)


async def test_a_shielded_send_s_scope_is_made_by_the_running_backend():
    # Found once, on the first attempt: should anyio stop giving the backend,
    # anyio.CancelScope would serve, finding it again for every send.
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        async with client_of(base_url(server)) as client:
            wire = client._shared.wire
            assert wire._shield is anyio.CancelScope
            await client.sms.send(NUMBER, "hi")
            backend = anyio.lowlevel.current_token().backend_class
            assert wire._shield == backend.create_cancel_scope
            with wire._shield(shield=True) as scope:
                assert isinstance(scope, anyio.CancelScope)
                assert scope.shield


async def test_a_standing_scope_shields_a_send_in_place_of_a_scope_of_its_own():
    # A broadcast worker's trace carries its own scope: the send raises its
    # shield (and lowers it after) instead of making a scope each time.
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        async with client_of(base_url(server)) as client:
            wire = client._shared.wire
            await client.sms.send(NUMBER, "hi")  # the wire finds its backend
            made, make = [], wire._shield

            def counted(**options):
                made.append(options)
                return make(**options)

            wire._shield = counted
            sender = client._broadcast_sender(None)
            with anyio.CancelScope() as standing:
                sent = await sender.send(NUMBER, "hi", None, SendTrace(standing))
                assert not standing.shield
            assert made == []
            await sender.send(NUMBER, "hi", None, SendTrace())
            assert made == [{"shield": True}]
    assert sent.message_id == "iSms-1"


async def test_an_attempt_leaves_only_an_emptied_watch_in_the_task_s_context():
    # The attempt's watch stays in the task's context (set once an attempt,
    # never reset), emptied: neither the task nor the connection is kept.
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        async with client_of(base_url(server)) as client:
            await client.sms.send(NUMBER, "hi")
            watch = _watched.get()
            assert watch is not None
            assert watch.task is None
            assert watch.handout is None
            # A request of another session in the same task is not taken
            # for the attempt that ended.
            connector = FreshConnector()
            async with aiohttp.ClientSession(
                connector=connector, request_class=_LookingRequest
            ) as session:
                for _ in range(2):  # the second on a reused connection
                    async with session.post(
                        base_url(server) + "/sms_messages", json={"a": "b"}
                    ) as response:
                        assert response.status == 200
            assert watch.handout is None


class FailingSession:
    """A session whose every request fails with ``make()``; counts the tries."""

    def __init__(self, make):
        self.make = make
        self.tries = 0

    async def request(self, *_args, **_kwargs):
        self.tries += 1
        raise self.make()


def a_wire_on(session):
    wire = AiohttpWire(limits=httpx.Limits(), headers={})
    wire.session = session
    return wire


async def an_exchange(wire):
    url = "http://127.0.0.1:9/api/v1/sms_messages/status"
    context = RequestContext("GET", url, sends_sms=False, secret=Secret(TOKEN))
    return await wire.exchange(
        "GET", url, {"api_token": TOKEN}, None, httpx.Timeout(5.0), 20.0, context
    )


async def test_connections_found_stale_each_time_end_the_attempt_not_sent():
    # Each connection found closed by its server just before the request
    # was written is dropped and another taken, up to _STALE_TRIES; then
    # the attempt fails as never sent, with no exception of aiohttp's
    # behind it.
    def stale():
        failure = aiohttp.ClientConnectionError("request not written")
        failure.__cause__ = _StaleConnectionError()
        return failure

    session = FailingSession(stale)
    with pytest.raises(httpx.ConnectError) as caught:
        await an_exchange(a_wire_on(session))
    assert session.tries == _STALE_TRIES
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


async def test_aiohttp_s_error_is_translated_outside_its_handler():
    # aiohttp's exception names the request's URL, a GET's with the token
    # in it: the translation must not keep it as its context.
    session = FailingSession(
        lambda: aiohttp.ServerDisconnectedError(f"lost at ?api_token={TOKEN}")
    )
    with pytest.raises(httpx.TransportError) as caught:
        await an_exchange(a_wire_on(session))
    assert session.tries == 1  # a failure after the hand-out is not retried here
    assert caught.value.__context__ is None
    assert TOKEN not in exception_text(caught.value)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(), st.text() | st.integers(), max_size=5)
    | st.dictionaries(st.text(), _JSON_VALUES, max_size=4)
)
@example({"api_token": 'tok"\\/\n\u2028é', "phone_number": "09171251234"})
@example({"message": "\x00\x1f\x7f\ud800", "sms_provider": 2})
@example({"flag": True, "count": 1})  # a bool is not an int here
def test_a_request_body_is_the_json_httpx_would_write(body):
    written = json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    assert _dumps(body) == written
