"""httpcore's connection pool, with each idle connection promised to one request.

httpcore 1.0 hands an idle HTTP/1.1 connection to a request without marking
it taken: until that request wakes and starts on it, every other request
arriving meanwhile is handed the same connection, fails with
``ConnectionNotAvailable`` and goes round the pool again. Under a broadcast's
load that churn was 40% of the client's CPU (6,000 requests: 32,000 passes of
the pool, 4.5 million ``is_idle`` calls). The same gap lets a pass close, as
surplus or expired, a connection already promised to a request
(encode/httpcore#1110). Both are open upstream (encode/httpcore#1035, #1111).

`ReservingPool` overrides the one method that decides, and is put under the
clients this package creates over httpx's own transport, only for httpcore
versions whose internals it was written against; otherwise httpcore's pool is
left as it is. Never under an ``http_client`` or ``transport`` of the user's,
nor under a proxy's.

Its connections also keep the rules of `._keepalive`. httpcore checks an idle
connection for a server's close only when the pool hands it to a request;
the request then waits for the event loop to run it, and two lock
checkpoints more, before it writes, so under load a close that comes in
that gap (milliseconds) caught the send on the wire: against a server that
closes connections idle for 5 ms, 43 of 1,500 sends of a broadcast ended
in doubt though the server never read them. `FreshConnection` checks again
at the last moment, with nothing between the check and the write, and
expires a connection before the ``Keep-Alive: timeout=`` its server states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpcore
import httpx
from httpcore._async import connection_pool

from ._keepalive import server_idle_limit

if TYPE_CHECKING:
    from httpcore._async.interfaces import AsyncConnectionInterface

__all__ = ["FreshConnection", "ReservingPool", "reserve_connections"]

_WRITTEN_FOR = "1.0."
"""httpcore versions whose pool internals `ReservingPool` relies on."""


class ReservingPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, giving an idle connection to one request at a time.

    Nor does it close a connection promised to a request. HTTP/1.1 only: a
    connection carries one request at a time, so one that a request in the
    pool holds (starting on it, or streaming its answer) is taken.

    Two more departures from httpcore 1.0.9: ``max_keepalive_connections``
    counts idle connections (httpcore counts them all, a bug fixed on its
    master), and a connection whose request left before it connected is
    dropped instead of holding a place in the pool for good. And each
    connection it makes is a `FreshConnection`.
    """

    def create_connection(self, origin: httpcore.Origin) -> AsyncConnectionInterface:
        """A connection to ``origin`` as httpcore makes it, as a `FreshConnection`."""
        connection = super().create_connection(origin)
        if type(connection) is httpcore.AsyncHTTPConnection:
            connection.__class__ = FreshConnection
        return connection

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        closing = self._tidy(taken)
        for pool_request in self._requests:
            if pool_request.is_queued():
                connection = self._connection_for(
                    pool_request.request.url.origin, taken, closing
                )
                if connection is not None:
                    pool_request.assign_to_connection(connection)
                    taken.add(id(connection))
        return closing

    def _tidy(self, taken: set[int]) -> list[AsyncConnectionInterface]:
        """Drop closed connections; close expired and surplus idle ones not taken."""
        closing: list[AsyncConnectionInterface] = []
        idle_kept = 0
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
                if idle_kept < self._max_keepalive_connections:
                    idle_kept += 1
                else:
                    self._connections.remove(connection)
                    closing.append(connection)
        return closing

    def _connection_for(
        self,
        origin: httpcore.Origin,
        taken: set[int],
        closing: list[AsyncConnectionInterface],
    ) -> AsyncConnectionInterface | None:
        """A free connection for ``origin``, a new one, or None: wait."""
        free = [c for c in self._connections if id(c) not in taken]
        for connection in free:
            if connection.can_handle_request(origin) and connection.is_available():
                return connection
        if len(self._connections) >= self._max_connections:
            idle = next((c for c in free if c.is_idle()), None)
            if idle is None:
                return None
            self._connections.remove(idle)  # make room for one to ``origin``
            closing.append(idle)
        connection = self.create_connection(origin)
        self._connections.append(connection)
        return connection


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
            inner._keepalive_expiry = _expiry(  # noqa: SLF001 -- see _WRITTEN_FOR
                self._keepalive_expiry, _header(response.headers, b"keep-alive")
            )
        return response


class _CheckedHTTP11Connection(httpcore.AsyncHTTP11Connection):
    """An HTTP/1.1 connection that checks for a close before reusing itself."""

    async def _send_request_headers(self, request: httpcore.Request) -> None:
        # The last moment before the request's first byte is written (no
        # checkpoint from here to the socket). On a reused connection, input
        # pending can only be the server's close (or a protocol error): give
        # the request back to the pool, which closes this one (httpcore does
        # so on any failure here) and finds or makes another.
        if self._request_count > 1 and self._network_stream.get_extra_info(
            "is_readable"
        ):
            raise httpcore.ConnectionNotAvailable
        await super()._send_request_headers(request)


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


def _compatible() -> bool:
    """Whether this httpcore's pool has the internals `ReservingPool` overrides.

    httpcore 1.0.0 to 1.0.2 assigned connections another way.
    """
    return httpcore.__version__.startswith(_WRITTEN_FOR) and all(
        hasattr(owner, name)
        for owner, name in (
            (httpcore.AsyncConnectionPool, "_assign_requests_to_connections"),
            (connection_pool, "AsyncPoolRequest"),
            (httpcore.AsyncHTTP11Connection, "_send_request_headers"),
        )
    )


def reserve_connections(client: httpx.AsyncClient) -> bool:
    """Put `ReservingPool` under ``client``'s direct HTTP/1.1 transport.

    Returns whether it did: not when httpcore is not a version it was written
    for, nor under a transport that is not httpx's own. Proxies (mounted from
    the environment) keep httpcore's pool.
    """
    transport = client._transport  # noqa: SLF001
    pool = getattr(transport, "_pool", None)
    if (
        _compatible()
        and isinstance(transport, httpx.AsyncHTTPTransport)
        and type(pool) is httpcore.AsyncConnectionPool
        and not pool._http2  # noqa: SLF001
    ):
        # Its settings (limits, TLS, sockets) stay as httpx made them.
        pool.__class__ = ReservingPool
        return True
    return False
