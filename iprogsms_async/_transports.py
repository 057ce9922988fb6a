"""Which HTTP machinery carries the client's requests, and how it is sized.

Two backends carry a client's attempts, each behind the same `Wire` seam
(_wire.py), so everything above it (retries, send-safety, error mapping) is
one and the same:

- ``"httpx"`` (the default): an `httpx.AsyncClient` (`HttpxWire`) over
  httpx's own transport, httpcore's connection pool. Runs on asyncio and
  trio. Measured CPU-bound at a few hundred requests a second on one core,
  and slower the more connections its pool holds or the more requests wait
  in it.
- ``"aiohttp"``: straight on an ``aiohttp.ClientSession`` (`AiohttpWire`),
  aiohttp's connection pool and HTTP parser, with no httpx objects on the
  way. Several times less CPU per request; asyncio only. Needs the
  ``aiohttp`` extra, imported only when chosen.

`ConnectionGate` keeps requests that httpcore cannot serve yet out of its
pool: it lets in at most as many requests as the pool has connections, and
the rest wait in a cheap semaphore instead of in httpcore's queue, which
httpcore walks on every pass (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import anyio
import httpx

from ._cookies import read_cookies_when_set
from ._errors import ConfigurationError
from ._httpx import HttpxWire
from ._keepalive import DEFAULT_KEEPALIVE_EXPIRY
from ._loop import refuse_trio
from ._pool import proxy_mounts, reserving_transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._wire import Wire

__all__ = [
    "DEFAULT_AIOHTTP_LIMITS",
    "DEFAULT_LIMITS",
    "ConnectionGate",
    "HTTPBackend",
    "build_wire",
    "check_http_backend",
    "gate_for",
    "pool_size",
]

HTTPBackend = Literal["httpx", "aiohttp"]
"""The HTTP machinery under the client: httpx's own, or aiohttp's."""

DEFAULT_LIMITS = httpx.Limits(
    max_connections=50,
    max_keepalive_connections=50,
    keepalive_expiry=DEFAULT_KEEPALIVE_EXPIRY,
)
"""httpx's pool: 50 connections (a broadcast's default concurrency), all kept alive.

Keep-alive equals the maximum, so a busy client never reconnects per request
(httpx's own default of 20 kept of 100 reconnected for nearly every request
at 50 in flight: a TLS handshake each). With `ReservingPool` a connection
costs little CPU, so throughput follows connections once the gateway is 20 ms
or more away; `ConnectionGate` holds requests beyond the pool. Measured in
``benchmarks/RESULTS.md``. An idle connection is kept 4 s, below common
servers' keep-alive timeouts (`DEFAULT_KEEPALIVE_EXPIRY`), or less when the
server says ``Keep-Alive: timeout=``.
"""

DEFAULT_AIOHTTP_LIMITS = httpx.Limits(
    max_connections=100,
    max_keepalive_connections=100,
    keepalive_expiry=DEFAULT_KEEPALIVE_EXPIRY,
)
"""aiohttp's pool costs little per connection, so it can hold many more."""

_EXTRA_HINT = "pip install 'iprogsms-async[aiohttp]'"


def check_http_backend(value: object) -> HTTPBackend:
    """Return ``value`` if it names a backend; raise `ConfigurationError` if not."""
    if value == "httpx":
        return "httpx"
    if value == "aiohttp":
        return "aiohttp"
    choices = ", ".join(repr(name) for name in get_args(HTTPBackend))
    raise ConfigurationError(f"http_backend must be one of {choices}, not {value!r}")


def build_wire(
    backend: HTTPBackend,
    *,
    headers: Mapping[str, str],
    timeout: httpx.Timeout,
    limits: httpx.Limits | None,
    transport: httpx.AsyncBaseTransport | None,
) -> Wire:
    """Create the `Wire` a client owns, over the chosen backend.

    The aiohttp backend's is an `AiohttpWire`: no httpx client at all. The
    httpx backend's is an `httpx.AsyncClient`; with no ``transport`` given,
    its transport is `ReservingTransport` (httpcore versions it was tested
    on), with the environment's proxies mounted as httpx would.
    """
    if backend == "aiohttp":
        if transport is not None:
            raise ConfigurationError(
                "pass either http_backend='aiohttp' or a transport, not both"
            )
        refuse_trio()
        try:
            from ._aiohttp import AiohttpWire  # noqa: PLC0415 -- optional extra
        except ImportError as exc:
            raise ConfigurationError(
                f"http_backend='aiohttp' needs aiohttp: {_EXTRA_HINT} ({exc})"
            ) from None
        return AiohttpWire(limits=limits or DEFAULT_AIOHTTP_LIMITS, headers=headers)
    mounts = None
    if transport is None:
        transport = reserving_transport(limits or DEFAULT_LIMITS)
        if transport is not None:
            mounts = proxy_mounts(limits or DEFAULT_LIMITS)
    http = httpx.AsyncClient(
        headers=headers,
        timeout=timeout,
        limits=limits or DEFAULT_LIMITS,
        transport=transport,
        mounts=mounts,
        follow_redirects=False,
    )
    read_cookies_when_set(http)
    return HttpxWire(http)


class ConnectionGate:
    """At most ``size`` requests inside httpcore's pool at once; the rest wait here.

    httpcore 1.0 re-examines every queued request against every connection
    each time a request arrives or leaves, so requests queued in its pool cost
    CPU for all the others. Waiting in an anyio semaphore costs nothing. The
    wait is bounded by the pool timeout, as httpcore's own would be.

    The semaphore is made on first use, inside the event loop the client is
    bound to (anyio primitives belong to one backend).
    """

    __slots__ = ("_semaphore", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._semaphore: anyio.Semaphore | None = None

    async def acquire(self, patience: float | None) -> bool:
        """Take a place, waiting at most ``patience`` seconds; False if none came."""
        semaphore = self._semaphore
        if semaphore is None:
            semaphore = self._semaphore = anyio.Semaphore(self.size)
        try:
            semaphore.acquire_nowait()  # no checkpoint while places are free
        except anyio.WouldBlock:
            with anyio.move_on_after(patience):
                await semaphore.acquire()
                return True
            return False
        return True

    def release(self) -> None:
        """Give back a place taken with `acquire`."""
        assert self._semaphore is not None  # noqa: S101 -- acquired first
        self._semaphore.release()


def pool_size(
    backend: HTTPBackend,
    limits: httpx.Limits | None,
    transport: httpx.AsyncBaseTransport | None,
) -> int | None:
    """Connections of the pool a client creates here; None for one not known.

    (A transport passed in is not known to have a pool at all.)
    """
    if transport is not None:
        return None
    default = DEFAULT_AIOHTTP_LIMITS if backend == "aiohttp" else DEFAULT_LIMITS
    return (limits or default).max_connections


def gate_for(
    backend: HTTPBackend,
    limits: httpx.Limits | None,
    transport: httpx.AsyncBaseTransport | None,
) -> ConnectionGate | None:
    """The gate for a client created here, or None where it does not apply.

    Only httpx's own pool needs it; a transport passed in is not known to
    have a pool at all.
    """
    if backend != "httpx":
        return None
    size = pool_size(backend, limits, transport)
    return ConnectionGate(size) if size is not None else None
