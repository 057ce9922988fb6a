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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpcore
import httpx
from httpcore._async import connection_pool

if TYPE_CHECKING:
    from httpcore._async.interfaces import AsyncConnectionInterface

__all__ = ["ReservingPool", "reserve_connections"]

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
    dropped instead of holding a place in the pool for good.
    """

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
