"""A fast stub of the iProgSMS gateway for benchmarks: raw asyncio HTTP/1.1.

Keep-alive (and pipelining) on loopback, fixed JSON answers, and no framework
in the way, so that what a benchmark measures is the client. Answers:

- ``POST .../sms_messages``: a fresh ``iSms-...`` id
- ``POST .../sms_messages/send_bulk``: one id per number of ``phone_number``
- ``GET .../sms_messages/status``: ``"delivered"``
- ``GET .../account/sms_credits``: a large balance
- ``GET /__stats``: ``{"connections": N, "requests": M, "sends": S,
  "closed_idle": C}`` so far (sends: texts the stub read, one per number)
- anything else: 404

With ``--idle-timeout SECONDS`` it closes a kept-alive connection once it
has been idle that long since its last answer, as a server behind a proxy
does; ``--keep-alive-header`` makes every answer say so (``Keep-Alive:
timeout=N``). asyncio runs the callbacks of ready sockets before the timers
due in the same pass, so a request that reached the stub before its idle
timer fired is read and answered; one that comes after the close is never
read (the kernel resets it).

Usage: ``python benchmarks/stub_gateway.py [--port 0] [--latency-ms 20]
[--tls CERT KEY] [--idle-timeout 1 [--keep-alive-header]] [--uvloop]`` (or
``STUB_LATENCY_MS=20``). It prints ``ready PORT``
once listening, and stops on SIGTERM or when its standard input closes (so it
never outlives the benchmark that started it). It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import ssl
import sys

_ids = itertools.count()
_stats = {"connections": 0, "requests": 0, "sends": 0, "closed_idle": 0}


_extra_headers = b""
"""Headers every answer carries (``Keep-Alive`` when asked for)."""


def _answer(body: bytes, status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: application/json\r\n"
        + _extra_headers
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


_SENT = (
    b'{"status":200,"message":"Your SMS message has been successfully added to '
    b'the queue and will be processed shortly.","message_id":"iSms-%08d"}'
)
_STATUS = b'{"status":200,"message_status":"delivered"}'
_CREDITS = (
    b'{"status":"success","message":"Account found.","data":{"load_balance":100000000}}'
)
_NOT_FOUND = b'{"status":404,"message":"Not found."}'


def _bulk(body: bytes) -> bytes:
    try:
        numbers = json.loads(body)["phone_number"].split(",")
    except (ValueError, KeyError, AttributeError):
        return _answer(b'{"status":422,"message":"bad body"}', b"422 Unprocessable")
    ids = ",".join(f"iSms-{next(_ids):08d}" for _ in numbers)
    _stats["sends"] += len(numbers)
    return _answer(
        b'{"status":200,"message":"queued","message_ids":"%s"}' % ids.encode()
    )


def route(head: bytes, body: bytes) -> bytes:
    """The answer to one request, from its request line (and a bulk body)."""
    line = head.split(b"\r\n", 1)[0]
    method, _, rest = line.partition(b" ")
    target = rest.split(b" ", 1)[0].split(b"?", 1)[0]
    if target == b"/__stats":
        return _answer(json.dumps(_stats).encode())
    _stats["requests"] += 1
    if method == b"POST" and target.endswith(b"/sms_messages"):
        _stats["sends"] += 1
        return _answer(_SENT % next(_ids))
    if method == b"GET" and target.endswith(b"/sms_messages/status"):
        return _answer(_STATUS)
    if method == b"POST" and target.endswith(b"/sms_messages/send_bulk"):
        return _bulk(body)
    if method == b"GET" and target.endswith(b"/account/sms_credits"):
        return _answer(_CREDITS)
    return _answer(_NOT_FOUND, b"404 Not Found")


class StubProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests, answer each in order."""

    def __init__(self, delay: float, idle_timeout: float | None) -> None:
        self.delay = delay
        self.idle_timeout = idle_timeout
        self.idle_timer: asyncio.TimerHandle | None = None
        self.pending = 0  # answers not written yet (latency)
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses.
        self.transport = transport  # type: ignore[assignment]
        _stats["connections"] += 1

    def data_received(self, data: bytes) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        buffer = self.buffer
        buffer += data
        out = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end])
            length = 0
            low = head.lower()
            at = low.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = low.find(b"\r\n", at + 2)
                length = int(low[at + 17 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(buffer) < total:
                break
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            out.append(route(head, body))
        if out:
            data = b"".join(out)
            self.pending += 1
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self._write, data)
            else:
                self._write(data)

    def connection_lost(self, _exc: Exception | None) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()

    def _write(self, data: bytes) -> None:
        self.pending -= 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            if self.idle_timeout is not None and not self.pending and not self.buffer:
                self.idle_timer = asyncio.get_running_loop().call_later(
                    self.idle_timeout, self._close_idle
                )

    def _close_idle(self) -> None:
        self.idle_timer = None
        if self.transport is not None and not self.transport.is_closing():
            _stats["closed_idle"] += 1
            self.transport.close()


async def serve(
    port: int,
    latency_ms: float,
    tls: tuple[str, str] | None,
    idle_timeout: float | None = None,
) -> None:
    """Listen on 127.0.0.1:``port`` until SIGTERM or standard input closes.

    ``tls`` is a certificate and key file: serve HTTPS with them.
    ``idle_timeout``: close connections idle that long after an answer.
    """
    loop = asyncio.get_running_loop()
    delay = latency_ms / 1000.0
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    server = await loop.create_server(
        lambda: StubProtocol(delay, idle_timeout),
        "127.0.0.1",
        port,
        backlog=4096,
        ssl=context,
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if not sys.stdin.isatty():
        # The parent holds our stdin: when it exits (even killed), we stop.
        loop.add_reader(sys.stdin.fileno(), _stop_on_eof, stop)
    print("ready", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stop.wait()


def _stop_on_eof(stop: asyncio.Event) -> None:
    if not os.read(sys.stdin.fileno(), 4096):
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        stop.set()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=float(os.environ.get("STUB_LATENCY_MS", "0")),
        help="delay before each answer, in milliseconds",
    )
    parser.add_argument(
        "--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with these"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="close a kept-alive connection idle this long after an answer",
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="serve on uvloop when it is installed (plain asyncio otherwise)",
    )
    parser.add_argument(
        "--keep-alive-header",
        action="store_true",
        help="answer with Keep-Alive: timeout=N (N: --idle-timeout, rounded)",
    )
    args = parser.parse_args()
    if args.keep_alive_header:
        if args.idle_timeout is None:
            parser.error("--keep-alive-header needs --idle-timeout")
        global _extra_headers  # noqa: PLW0603 -- set once, before serving
        _extra_headers = b"Keep-Alive: timeout=%d\r\n" % round(args.idle_timeout)
    serving = serve(args.port, args.latency_ms, args.tls, args.idle_timeout)
    if args.uvloop and _has_uvloop():
        import uvloop  # noqa: PLC0415 -- optional

        uvloop.run(serving)
    else:
        asyncio.run(serving)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401, PLC0415 -- optional
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
