"""Serving the fake gateway over real HTTP on loopback, with uvicorn.

uvicorn is the optional extra ``fake`` (``pip install 'iprogsms-async[fake]'``)
and is imported only when serving starts, so the core install never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

import sniffio

from .._redact import redact_url
from ._asgi import ConnectionDropped
from ._routes import PREFIX

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import uvicorn

    from ._asgi import ASGIApp

__all__ = ["require_uvicorn", "serve_in_loop", "serve_in_thread"]

_STARTUP_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
# Slow answers stop when their client leaves; this caps what remains at exit.
_GRACEFUL_SHUTDOWN = 2


def require_uvicorn() -> None:
    """Import uvicorn, or raise an `ImportError` that says how to install it."""
    try:
        import uvicorn  # noqa: F401, PLC0415 -- optional, imported only when serving
    except ImportError:
        raise ImportError(
            "serving the fake gateway over HTTP needs uvicorn: "
            "pip install 'iprogsms-async[fake]' (or pip install uvicorn). "
            "FakeGateway.transport() and FakeGateway.client() need no server."
        ) from None


class _QuietDrops(logging.Filter):
    """Hides uvicorn's error log of the app's deliberate `ConnectionDropped`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.exc_info is not None
            and isinstance(record.exc_info[1], ConnectionDropped)
        )


class _RedactedAccess(logging.Filter):
    """Takes the token out of uvicorn's access log lines, should there be any.

    ``access_log=False`` is not enough: uvicorn logs each request whenever its
    access logger has a handler, and pytest (9 and later) attaches its capture
    handlers to every logger that does not propagate. A GET or DELETE carries
    the token in the query string of the logged path.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


_FILTER = _QuietDrops()
_ACCESS_FILTER = _RedactedAccess()
_FILTER_LOCK = threading.Lock()


def _quiet_drops() -> None:
    with _FILTER_LOCK:
        error_logger = logging.getLogger("uvicorn.error")
        if _FILTER not in error_logger.filters:
            error_logger.addFilter(_FILTER)
        access_logger = logging.getLogger("uvicorn.access")
        if _ACCESS_FILTER not in access_logger.filters:
            access_logger.addFilter(_ACCESS_FILTER)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections
    # only for sockets that say so, and without it every answer (head and body
    # are written apart) waits about 40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket, host: str, path: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def _config(app: ASGIApp) -> uvicorn.Config:
    import uvicorn  # noqa: PLC0415 -- optional, checked by require_uvicorn

    # No log configuration of our own: uvicorn's records go to the caller's
    # logging setup, and only the deliberate drops are filtered out. The access
    # log stays off: its request lines would carry the token of GET and DELETE
    # requests, which travels in the query string.
    return uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
    )


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, path: str = PREFIX
) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread; yield its base URL.

    The server has its own asyncio loop in its own thread, so this works from
    synchronous code and from any event loop (asyncio or trio) alike. The
    base URL ends in ``path``, the gateway's ``/api/v1`` by default, where
    the fake's app answers.
    """
    require_uvicorn()
    import uvicorn  # noqa: PLC0415 -- optional

    _quiet_drops()
    sock = _bind(host, port)
    server = uvicorn.Server(_config(app))
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"iprogsms-fake-gateway-{sock.getsockname()[1]}",
        daemon=True,
    )
    try:
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start serving the fake gateway")
            time.sleep(0.002)
        yield _url(sock, host, path)
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():  # pragma: no cover - a stuck shutdown
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        sock.close()


@contextlib.asynccontextmanager
async def serve_in_loop(
    app: ASGIApp, *, host: str, port: int, path: str
) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn as a task of the running asyncio loop.

    uvicorn runs on asyncio only: under trio, use `serve_in_thread`. The
    process's signal handlers are left alone.
    """
    if sniffio.current_async_library() != "asyncio":
        raise RuntimeError(
            "FakeGateway.serve() runs uvicorn in the current loop, which must be "
            "asyncio; under trio (or from sync code) use serve_in_thread()"
        )
    require_uvicorn()
    import uvicorn  # noqa: PLC0415 -- optional

    _quiet_drops()

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    sock = _bind(host, port)
    server = _Server(_config(app))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn did not start serving the fake gateway")
            await asyncio.sleep(0.002)
        yield _url(sock, host, path)
    finally:
        server.should_exit = True
        await task
        sock.close()
