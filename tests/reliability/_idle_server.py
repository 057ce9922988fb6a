"""A raw HTTP/1.1 gateway on 127.0.0.1 that closes idle keep-alive connections.

Like a gateway behind a proxy: once a connection has been idle (no request
byte since the last answer) for ``idle_timeout`` seconds, the server closes
it, with no warning unless ``keep_alive_header`` makes every answer say
``Keep-Alive: timeout=N``. A request whose bytes arrive after that close is
never read: the kernel answers it with a reset.

It runs its own asyncio loop in a thread, so it works under any event loop
of the client's, and it notes every send it read (``received``: the phone
numbers, in order): the ground truth a test checks the client's outcomes
against. asyncio runs the callbacks of ready sockets before the timers due in
the same pass, so a request that reached the server before its idle timer
fired is read, and counted, rather than closed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections import Counter

_SENT = b'{"status":200,"message":"queued","message_id":"iSms-%08d"}'
_STATUS = b'{"status":200,"message_status":"delivered"}'


class IdleServer:
    """What the server saw: sends read, connections made and closed as idle."""

    def __init__(self, idle_timeout: float, *, keep_alive_header: bool) -> None:
        self.idle_timeout = idle_timeout
        self.keep_alive_header = keep_alive_header
        self.received: Counter[str] = Counter()
        self.connections = 0
        self.closed_idle = 0
        self.url = ""
        self._ids = itertools.count()

    def answer(self, head: bytes, body: bytes) -> bytes:
        """The answer to one request: an id for a send, ``delivered`` for a poll."""
        if head.startswith(b"POST "):
            self.received[json.loads(body)["phone_number"]] += 1
            content = _SENT % next(self._ids)
        else:
            content = _STATUS
        extra = b""
        if self.keep_alive_header:
            extra = b"Keep-Alive: timeout=%d\r\n" % round(self.idle_timeout)
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + extra
            + b"Content-Length: %d\r\n\r\n" % len(content)
            + content
        )


class _Connection(asyncio.Protocol):
    """One keep-alive connection: answer each request, close once idle."""

    def __init__(self, server: IdleServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self.buffer) < total:
                return  # the rest of the request is on its way: not idle
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            assert self.transport is not None
            self.transport.write(self.server.answer(head, body))
        if not self.buffer:
            self._arm()

    def connection_lost(self, _exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.server.idle_timeout, self._close_idle)

    def _close_idle(self) -> None:
        self.timer = None
        assert self.transport is not None
        self.server.closed_idle += 1
        self.transport.close()


@contextlib.contextmanager
def serve_idle(idle_timeout: float, *, keep_alive_header: bool):
    """Run an `IdleServer` on a free loopback port in a thread; yield it."""
    server = IdleServer(idle_timeout, keep_alive_header=keep_alive_header)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def run() -> None:
        nonlocal stop
        stop = loop.create_future()
        listener = await loop.create_server(
            lambda: _Connection(server), "127.0.0.1", 0, backlog=512
        )
        port = listener.sockets[0].getsockname()[1]
        server.url = f"http://127.0.0.1:{port}/api/v1"
        ready.set()
        async with listener:
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),))
    thread.daemon = True
    thread.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the idle-closing server did not start")
        yield server
    finally:
        loop.call_soon_threadsafe(lambda: stop is None or stop.set_result(None))
        thread.join(10)
        loop.close()
