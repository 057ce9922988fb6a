"""httpcore's connection pool, with each idle connection promised to one request.

httpcore 1.0 hands an idle HTTP/1.1 connection to a request without marking
it taken: until that request wakes and starts on it, every other request
arriving meanwhile is handed the same connection, fails with
``ConnectionNotAvailable`` and goes round the pool again. Under a broadcast's
load that churn was 40% of the client's CPU (6,000 requests: 32,000 passes of
the pool, 4.5 million ``is_idle`` calls). The same gap lets a pass close, as
surplus or expired, a connection already promised to a request
(encode/httpcore#1110).

`ReservingPool` overrides the one method that decides. `ReservingTransport`
is httpx's own transport (its request conversion, its mapping of httpcore's
exceptions to httpx's) constructed over a `ReservingPool` instead of
httpcore's: the clients this package creates use it, only on the httpcore
versions the test suite ran on (`TESTED_HTTPCORE`, also the bound in
``pyproject.toml``); on any other, httpcore's own pool, said once in an INFO
log line. Never under an ``http_client`` or ``transport`` of the user's, nor
under a proxy's.

Delete ``ReservingPool._assign_requests_to_connections`` and its helpers
(and the version bound) once httpcore ships the fixes of these, open
upstream:

- https://github.com/encode/httpcore/pull/1035 (the pool's pass made
  linear, and its keep-alive count fixed)
- https://github.com/encode/httpcore/issues/1110 (a pass closes a
  connection already promised to a request), with its fix
  https://github.com/encode/httpcore/pull/1111

Its connections also keep the rules of `._keepalive`. httpcore checks an idle
connection for a server's close only when the pool hands it to a request;
the request then waits for the event loop to run it, and two lock
checkpoints more, before it writes, so under load a close that comes in
that gap (milliseconds) caught the send on the wire: against a server that
closes connections idle for 5 ms, 43 of 1,500 sends of a broadcast ended
in doubt though the server never read them. `FreshConnection` checks again
at the last moment, with nothing between the check and the write, and
expires a connection before the ``Keep-Alive: timeout=`` its server states.
The pool makes each `FreshConnection` itself; the HTTP/1.1 connection inside
it, which httpcore makes on connecting, becomes a `_CheckedHTTP11Connection`
by a class change after its first answer (the one place left where a class
of httpcore's is changed, on objects of our own pool, on `TESTED_HTTPCORE`
only: the alternative is a copy of httpcore's connecting code).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
from httpcore._async import connection_pool

# httpx's own reading of the proxy variables (a plain function, in the httpx
# 0.27 and 0.28 this package allows), so that a client given our transport
# mounts what httpx would have.
from httpx._utils import get_environment_proxies

from ._keepalive import has_pending_input, server_idle_limit

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable

    from httpcore._async.connection_pool import AsyncPoolRequest
    from httpcore._async.interfaces import AsyncConnectionInterface
    from httpx._transports.default import SOCKET_OPTION

__all__ = [
    "TESTED_HTTPCORE",
    "FreshConnection",
    "ReservingPool",
    "ReservingTransport",
    "proxy_mounts",
    "reserving_transport",
]

logger = logging.getLogger("iprogsms_async")

TESTED_HTTPCORE = frozenset({"1.0.9"})
"""The httpcore versions the test suite ran `ReservingPool` on: it is used on no other.

Its overrides reach into httpcore's pool internals, which any release may
change. Keep in step with the bound on httpcore in ``pyproject.toml``; add a
version here only after the suite has passed on it.
"""


class ReservingPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, giving an idle connection to one request at a time.

    Nor does it close a connection promised to a request. HTTP/1.1 only: a
    connection carries one request at a time, so one that a request in the
    pool holds (starting on it, or streaming its answer) is taken.

    httpcore looks at every connection on every request's arrival and
    departure (and asks each idle one's socket whether the server closed it,
    a system call each); this pool keeps its free connections in a list and
    looks only at what changed: the connection a departing request frees, the
    last freed one for an arriving request. Every `SWEEP_EVERY` seconds, and
    when it is full, it looks at them all. A connection the server has closed
    while idle is found when it is next used (`FreshConnection` checks just
    before writing), or by the sweep.

    Two more departures from httpcore 1.0.9: ``max_keepalive_connections``
    counts idle connections (httpcore counts them all, a bug fixed on its
    master), and a connection whose request left before it connected is
    dropped instead of holding a place in the pool for good. And each
    connection it makes is a `FreshConnection`.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._requests: list[AsyncPoolRequest] = _Requests()
        self._free: list[AsyncConnectionInterface] = []
        """Idle connections no request holds, the last freed last."""
        self._next_sweep = 0.0
        self._last_sweep = -1.0

    def create_connection(self, origin: httpcore.Origin) -> AsyncConnectionInterface:
        """A connection to ``origin`` as httpcore makes it, as a `FreshConnection`.

        A proxy's connection (never made here: `ReservingTransport` builds no
        proxy pool) is left to httpcore.
        """
        if self._proxy is not None:
            return super().create_connection(origin)
        return FreshConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            http1=self._http1,
            http2=self._http2,
            retries=self._retries,
            local_address=self._local_address,
            uds=self._uds,
            network_backend=self._network_backend,
            socket_options=self._socket_options,
        )

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        # Called by httpcore after each arrival and each departure of a request.
        closing: list[AsyncConnectionInterface] = []
        now = time.monotonic()
        left = getattr(self._requests, "left", None)
        if left is None or now >= self._next_sweep:
            self._sweep(closing, now)
        elif left:
            self._recycle(left, closing, now)
        for pool_request in self._requests:
            if pool_request.connection is None:  # queued
                connection = self._connection_for(
                    pool_request.request.url.origin, closing, now
                )
                if connection is not None:
                    pool_request.assign_to_connection(connection)
        return closing

    def _sweep(self, closing: list[AsyncConnectionInterface], now: float) -> None:
        """Look at every connection: drop the closed, close the expired and surplus.

        Rebuilds the free list from the connections no request holds.
        """
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        free: list[AsyncConnectionInterface] = []
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif id(connection) in taken:
                continue  # its request will find out, not a pass on its behalf
            elif _never_started(connection):
                # Made for a request that left before it connected (asyncio's
                # own cancellation can do that): no socket, yet it would hold
                # a place in the pool for good (httpcore 1.0.9 keeps it).
                self._connections.remove(connection)
            elif connection.has_expired():
                self._connections.remove(connection)
                closing.append(connection)
            elif connection.is_idle():
                if len(free) < self._max_keepalive_connections:
                    free.append(connection)
                else:
                    self._connections.remove(connection)
                    closing.append(connection)
        self._free = free
        left = getattr(self._requests, "left", None)
        if left is not None:
            left.clear()
        self._last_sweep = now
        self._next_sweep = now + SWEEP_EVERY

    def _recycle(
        self,
        left: list[AsyncPoolRequest],
        closing: list[AsyncConnectionInterface],
        now: float,
    ) -> None:
        """Free the connections of the requests that left, or drop them."""
        for pool_request in left:
            connection = pool_request.connection
            if connection is None:
                continue  # it left before it was given one
            if connection.is_closed() or _never_started(connection):
                self._drop(connection)
            elif connection.is_idle():
                if _expired_by_time(connection, now) or (
                    len(self._free) >= self._max_keepalive_connections
                ):
                    self._drop(connection)
                    closing.append(connection)
                else:
                    self._free.append(connection)
        left.clear()

    def _connection_for(
        self,
        origin: httpcore.Origin,
        closing: list[AsyncConnectionInterface],
        now: float,
    ) -> AsyncConnectionInterface | None:
        """A free connection for ``origin``, a new one, or None: wait."""
        connection = self._free_for(origin, closing, now)
        if connection is not None:
            return connection
        if len(self._connections) >= self._max_connections:
            if self._last_sweep != now:
                # Full, or holding connections closed since the last look.
                self._sweep(closing, now)
                return self._connection_for(origin, closing, now)
            if not self._free:
                return None
            idle = self._free.pop(0)  # the longest idle, to another origin
            self._connections.remove(idle)  # make room for one to ``origin``
            closing.append(idle)
        connection = self.create_connection(origin)
        self._connections.append(connection)
        return connection

    def _free_for(
        self,
        origin: httpcore.Origin,
        closing: list[AsyncConnectionInterface],
        now: float,
    ) -> AsyncConnectionInterface | None:
        """The last freed usable connection to ``origin``, taken off the free list."""
        free = self._free
        elsewhere: list[AsyncConnectionInterface] = []
        found = None
        while free:
            connection = free.pop()
            if connection.is_closed():
                self._drop(connection)
            elif _expired_by_time(connection, now):
                self._drop(connection)
                closing.append(connection)
            elif not connection.can_handle_request(origin):
                elsewhere.append(connection)
            elif connection.is_available():
                found = connection
                break
        free.extend(reversed(elsewhere))
        return found

    def _drop(self, connection: AsyncConnectionInterface) -> None:
        if connection in self._connections:
            self._connections.remove(connection)


SWEEP_EVERY = 1.0
"""Seconds between two looks of `ReservingPool` at all its connections."""


class _Requests(list[connection_pool.AsyncPoolRequest]):
    """A pool's requests, noting each that leaves: its connection may be free."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        super().__init__()
        self.left: list[AsyncPoolRequest] = []

    def remove(self, request: AsyncPoolRequest) -> None:
        """Remove ``request`` (it has left the pool), and note it."""
        super().remove(request)
        self.left.append(request)


def _expired_by_time(connection: AsyncConnectionInterface, now: float) -> bool:
    """Whether ``connection`` is past its keep-alive expiry, by the clock alone.

    No system call: whether its server has closed it is checked just before
    it is written to (see `_CheckedHTTP11Connection`).
    """
    inner = getattr(connection, "_connection", _MISSING)
    if inner is _MISSING:  # not an httpcore connection
        return connection.has_expired()
    expire_at = getattr(inner, "_expire_at", None)
    return expire_at is not None and now > expire_at


_MISSING = object()


class FreshConnection(httpcore.AsyncHTTPConnection):
    """httpcore's connection, never reused once its server has closed it.

    Its HTTP/1.1 connection becomes a `_CheckedHTTP11Connection` after its
    first answer, and takes its keep-alive expiry from each answer: the
    pool's, or less if the server says ``Keep-Alive: timeout=N``.
    """

    async def handle_async_request(
        self, request: httpcore.Request
    ) -> httpcore.Response:
        """Send ``request``; note what the answer says of keep-alive."""
        response = await super().handle_async_request(request)
        inner = self._connection
        if type(inner) is httpcore.AsyncHTTP11Connection:
            inner.__class__ = _CheckedHTTP11Connection
        if isinstance(inner, _CheckedHTTP11Connection):
            # Read by httpcore when the answer is closed, to set the expiry.
            inner._keepalive_expiry = _expiry(  # noqa: SLF001 -- see TESTED_HTTPCORE
                self._keepalive_expiry, _header(response.headers, b"keep-alive")
            )
        return response


class _CheckedHTTP11Connection(httpcore.AsyncHTTP11Connection):
    """An HTTP/1.1 connection that checks for a close before reusing itself.

    It also writes a request's head with the first bytes of its body (or
    with its end, for a request without one): one write, one system call
    and one write timeout a request, where httpcore makes two of each for
    a send's JSON body.
    """

    async def _send_request_headers(self, request: httpcore.Request) -> None:
        # The last moment before the request's first byte is written (no
        # checkpoint from here to the socket). On a reused connection, input
        # pending can only be the server's close (or a protocol error): give
        # the request back to the pool, which closes this one (httpcore does
        # so on any failure here) and finds or makes another.
        if self._request_count > 1 and self._closed_by_server():
            raise httpcore.ConnectionNotAvailable
        self._head: bytes | None = None  # the next event sent is the head
        await super()._send_request_headers(request)

    async def _send_event(
        self,
        event: Any,  # an h11 event, as httpcore's own takes
        timeout: float | None = None,
    ) -> None:
        # httpcore's, but the head is held back to go with what follows it.
        data = self._h11_state.send(event)
        if data is None:
            return
        head = self.__dict__.get("_head", b"")
        if head is None:  # this is the head
            self._head = data
            return
        if head:
            self._head = b""
            data = head + data
        if data:
            await self._network_stream.write(data, timeout=timeout)

    def _closed_by_server(self) -> bool:
        """Whether the socket has input pending (on an idle connection: a close).

        Its socket is looked up once: httpcore's ``is_readable`` looks it up
        through anyio's typed attributes on every call, which cost more than
        the poll.
        """
        sock = self.__dict__.get("_raw_socket")
        if sock is None:
            sock = self._network_stream.get_extra_info("socket")
            if sock is None:  # a stream without one: ask it
                return bool(self._network_stream.get_extra_info("is_readable"))
            self._raw_socket = sock
        return has_pending_input(sock)


def _expiry(pool_expiry: float | None, keep_alive: str | None) -> float | None:
    """The keep-alive expiry of one connection: the pool's, or the server's if less."""
    limit = server_idle_limit(keep_alive)
    if limit is None:
        return pool_expiry
    return limit if pool_expiry is None else min(limit, pool_expiry)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The value of header ``name`` (lower case), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _never_started(connection: AsyncConnectionInterface) -> bool:
    """Whether ``connection`` was made but never connected, nor failed to."""
    return (
        getattr(connection, "_connection", False) is None
        and getattr(connection, "_connect_failed", True) is False
    )


def _not_applicable() -> str | None:
    """Why `ReservingPool` cannot be used with this httpcore, or None if it can."""
    if httpcore.__version__ not in TESTED_HTTPCORE:
        tested = ", ".join(sorted(TESTED_HTTPCORE))
        return (
            f"httpcore {httpcore.__version__} is not a version it was tested on"
            f" ({tested})"
        )
    missing = [
        f"{owner.__name__}.{name}"
        for owner, name in (
            (httpcore.AsyncConnectionPool, "_assign_requests_to_connections"),
            (connection_pool, "AsyncPoolRequest"),
            (httpcore.AsyncHTTP11Connection, "_send_request_headers"),
        )
        if not hasattr(owner, name)
    ]
    if missing:
        return f"httpcore {httpcore.__version__} lacks {', '.join(missing)}"
    return None


_said: set[str] = set()
"""The reasons already logged by `_say_not_applied`."""


def _say_not_applied(reason: str) -> None:
    """Log, once per reason, that the clients made here use httpcore's own pool."""
    if reason in _said:
        return
    _said.add(reason)
    logger.info(
        "iprogsms_async: httpcore's own connection pool is used, not ReservingPool: %s",
        reason,
    )


class ReservingTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, over a `ReservingPool` of the same settings.

    Everything but the pool is httpx's: turning a request into httpcore's and
    the answer back, mapping httpcore's exceptions to httpx's (on which the
    retry rule rests: `httpx.ConnectError` is "not sent"), closing. The pool
    is made as httpx makes its own for a direct connection (TLS context from
    the same ``verify`` and ``trust_env``, limits, ``retries=0``, local
    address, Unix socket, socket options), HTTP/1.1 only. Proxies are not its
    business: a client mounts httpx's transports for them (`proxy_mounts`).
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        verify: ssl.SSLContext | bool = True,
        trust_env: bool = True,
        uds: str | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        options = list(socket_options) if socket_options is not None else None
        super().__init__(
            verify=ssl_context,
            limits=limits,
            uds=uds,
            local_address=local_address,
            socket_options=options,
        )
        # Instead of the httpcore.AsyncConnectionPool httpx has just made with
        # the same arguments (no socket, nothing to close).
        self._pool = ReservingPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            uds=uds,
            local_address=local_address,
            socket_options=options,
        )


def reserving_transport(limits: httpx.Limits) -> ReservingTransport | None:
    """The transport for a client made here, or None: httpx's own, with a log line.

    None when this httpcore is not one `ReservingPool` was tested on.
    """
    reason = _not_applicable()
    if reason is not None:
        _say_not_applied(reason)
        return None
    return ReservingTransport(limits=limits)


def proxy_mounts(limits: httpx.Limits) -> dict[str, httpx.AsyncBaseTransport | None]:
    """The proxies of the environment, mounted as httpx mounts them itself.

    httpx reads ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
    ``NO_PROXY`` only for a client without a ``transport``; a client given
    `ReservingTransport` mounts them with this instead: httpx's own transport
    (httpcore's proxy pool) for each proxy, and for each ``NO_PROXY`` entry
    None, which is the client's transport.
    """
    return {
        pattern: None
        if url is None
        else httpx.AsyncHTTPTransport(proxy=url, limits=limits)
        for pattern, url in get_environment_proxies().items()
    }
