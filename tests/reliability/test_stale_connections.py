"""A server that closes idle keep-alive connections costs no recipient a text.

A send written on a connection the server has just closed is lost, and the
client can only report it in doubt (``unknown``): that recipient is never
texted. The raw server here (`._idle_server`) closes connections idle for a
set time, like a gateway behind a proxy, and notes every send it reads; each
test checks the client's outcomes against it. Every test runs on both HTTP
backends (httpx under asyncio and trio, aiohttp under asyncio).

The residual race (the server's close still on its way while a request is
written) is measured in ``benchmarks/bench_stale_connections.py``, not here.
"""

from __future__ import annotations

import time

import anyio
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async.broadcast import ACCEPTED, UNKNOWN

from ..support import TOKEN
from ._idle_server import serve_idle

pytestmark = pytest.mark.anyio

BACKENDS = pytest.mark.parametrize(
    ("anyio_backend", "http_backend"),
    [("asyncio", "httpx"), ("trio", "httpx"), ("asyncio", "aiohttp")],
)
LIMIT = 30.0  # seconds: a bound on waits, far above what any test needs
FIRST, SECOND = "09171251234", "09181234567"


def client_of(server, http_backend):
    return IProgSMS(TOKEN, base_url=server.url, http_backend=http_backend)


def numbers(count):
    return [f"09{170_000_000 + i:09d}" for i in range(count)]


async def in_batches(recipients, size, pause):
    """Yield ``recipients`` ``size`` at a time, ``pause`` seconds between batches."""
    for index, number in enumerate(recipients):
        if index and index % size == 0:
            await anyio.sleep(pause)
        yield number


async def broadcast_in_batches(server, http_backend, recipients, pause):
    """Broadcast to ``recipients`` 30 at a time, ``pause`` seconds between."""
    async with client_of(server, http_backend) as client:
        with anyio.fail_after(LIMIT * 2):
            return await client.broadcast(
                in_batches(recipients, 30, pause),
                message="Your bill is due on the 8th",
                concurrency=10,
                poll=False,
            )


def wait_for_idle_close(server, count=1):
    """Block the event loop until the server has closed ``count`` connections.

    Blocking on purpose: the client's event loop cannot run, so nothing in
    the client sees the close until it looks at the socket itself.
    """
    deadline = time.monotonic() + LIMIT
    while server.closed_idle < count:
        assert time.monotonic() < deadline, "the server never closed the connection"
        time.sleep(0.01)
    time.sleep(0.05)  # the FIN crosses loopback in microseconds; be generous


def check_outcomes(report, server, recipients):
    """No false unknown: every ``unknown`` is a send the server read."""
    assert [r.phone_number for r in report.results] == recipients
    assert max(server.received.values(), default=0) == 1  # nothing sent twice
    for result in report.results:
        if result.status == UNKNOWN:
            assert server.received[result.phone_number] == 1, result
        else:
            assert result.status == ACCEPTED, result
            assert server.received[result.phone_number] == 1, result
    return sum(1 for r in report.results if r.status == UNKNOWN)


@BACKENDS
@pytest.mark.parametrize("header", [False, True], ids=["no-header", "stated"])
async def test_a_broadcast_with_idle_gaps_has_no_false_unknown(http_backend, header):
    # Pauses longer than the server's 1 s idle timeout: every connection the
    # client kept is closed by the time it is wanted again.
    recipients = numbers(90)
    with serve_idle(1.0, keep_alive_header=header) as server:
        report = await broadcast_in_batches(server, http_backend, recipients, 1.5)
    assert check_outcomes(report, server, recipients) == 0
    assert server.closed_idle >= 10  # the server did close connections under it


@BACKENDS
async def test_a_stated_keep_alive_timeout_wins_the_race(http_backend):
    # The deliberate race: pauses of about the server's timeout, so the
    # client wants its connections back just when the server closes them.
    # The server says so (Keep-Alive: timeout=1), and the client stops
    # reusing a connection half a second before: no send can meet a close.
    recipients = numbers(120)
    with serve_idle(1.0, keep_alive_header=True) as server:
        report = await broadcast_in_batches(server, http_backend, recipients, 1.0)
    assert check_outcomes(report, server, recipients) == 0


@BACKENDS
async def test_a_connection_idle_past_the_stated_timeout_is_not_reused(http_backend):
    with serve_idle(1.0, keep_alive_header=True) as server:
        async with client_of(server, http_backend) as client:
            await client.sms.send(FIRST, "one")
            await anyio.sleep(0.75)  # past the client's 0.5 s, before the server's 1 s
            await client.sms.send(SECOND, "two")
    assert server.received == {FIRST: 1, SECOND: 1}
    assert server.connections == 2


@BACKENDS
async def test_a_connection_closed_while_the_loop_was_busy_is_not_reused(http_backend):
    # The server's close arrives while the event loop is blocked, so no
    # callback of the client has seen it: only a look at the socket can.
    # aiohttp's pool reused such a connection, and the send ended unknown.
    with serve_idle(0.1, keep_alive_header=False) as server:
        async with client_of(server, http_backend) as client:
            await client.sms.send(FIRST, "one")
            wait_for_idle_close(server)
            sent = await client.sms.send(SECOND, "two")
    assert sent.message_id.startswith("iSms-")
    assert server.received == {FIRST: 1, SECOND: 1}
    assert server.connections == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_httpx_looks_for_a_close_just_before_writing():
    # httpcore looks for a close when its pool hands a connection to a
    # request, but the request writes only after the event loop has run it
    # and two locks: a close in that gap caught the send on the wire. Here
    # the gap is stretched (a trace hook waits in it until the server has
    # closed): the send must go on another connection.
    with serve_idle(0.1, keep_alive_header=False) as server:
        url = server.url + "/sms_messages"
        stretched = False

        async def trace(event, _info):
            nonlocal stretched
            if event == "http11.send_request_headers.started" and not stretched:
                stretched = True
                with anyio.fail_after(LIMIT):
                    while not server.closed_idle:
                        await anyio.sleep(0.01)
                await anyio.sleep(0.05)

        async with IProgSMS(TOKEN, base_url=server.url) as client:
            http = client._shared.wire.http
            first = await http.post(url, json={"phone_number": FIRST})
            second = await http.post(
                url, json={"phone_number": SECOND}, extensions={"trace": trace}
            )
    assert stretched
    assert (first.status_code, second.status_code) == (200, 200)
    assert server.received == {FIRST: 1, SECOND: 1}
    assert server.connections == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("max_retries", [2, 0], ids=["retries", "no-retries"])
async def test_aiohttp_looks_just_before_writing_a_send(monkeypatch, max_retries):
    # aiohttp (3.12 and later) writes a request with a body in a task of its
    # own, which before Python 3.12 runs a loop pass after its pool handed
    # the connection out: a send's one look at the socket is there, just
    # before writing. A close found then: the send, never written, goes on
    # a new connection, found by the wire itself (no retry of the call is
    # needed: none is allowed here in one case).
    _aiohttp = pytest.importorskip("iprogsms_async._aiohttp")
    if not _aiohttp._HEADERS_WAIT_FOR_BODY:
        pytest.skip("aiohttp before 3.12 writes the headers before the body task")
    looked = []
    look = _aiohttp._closed

    def looking(protocol, kept):
        closed = look(protocol, kept)
        looked.append(closed)
        return closed

    with serve_idle(0.1, keep_alive_header=False) as server:
        async with IProgSMS(
            TOKEN,
            base_url=server.url,
            http_backend="aiohttp",
            max_retries=max_retries,
        ) as client:
            await client.sms.send(FIRST, "one")
            wait_for_idle_close(server)
            monkeypatch.setattr(_aiohttp, "_closed", looking)
            sent = await client.sms.send(SECOND, "two")
    assert sent.message_id.startswith("iSms-")
    assert looked == [True]  # once, as it was written, and it saw the close
    assert server.received == {FIRST: 1, SECOND: 1}
    assert server.connections == 2
