"""ReservingPool: an idle connection goes to one request at a time, and stays open."""

from __future__ import annotations

import anyio
import httpcore
import httpx
import pytest
from httpcore._async.connection_pool import AsyncPoolRequest

from iprogsms_async import IProgSMS
from iprogsms_async._pool import ReservingPool, reserve_connections

from .loopback import answer, base_url, serve
from .support import TOKEN

# AsyncPoolRequest's event needs a running event loop.
pytestmark = pytest.mark.anyio

ORIGIN = httpcore.URL("https://gateway.test/").origin
OTHER = httpcore.URL("https://other.test/").origin


class Connection:
    """A stand-in for an HTTP/1.1 connection, in the state a test sets."""

    def __init__(self, name, origin=ORIGIN, *, idle=True, expired=False, closed=False):
        self.name = name
        self.origin = origin
        self.idle = idle
        self.expired = expired
        self.closed = closed

    def can_handle_request(self, origin):
        return origin == self.origin

    def is_available(self):
        return self.idle and not self.closed

    def is_idle(self):
        return self.idle

    def is_closed(self):
        return self.closed

    def has_expired(self):
        return self.expired

    def __repr__(self):
        return self.name


def pool(connections, requests, *, max_connections=10, max_keepalive=10):
    made = ReservingPool(
        max_connections=max_connections, max_keepalive_connections=max_keepalive
    )
    made._connections = list(connections)
    made._requests = list(requests)
    made.create_connection = lambda origin: Connection("new", origin, idle=False)
    return made


def queued(origin=ORIGIN):
    url = f"{origin.scheme.decode()}://{origin.host.decode()}/"
    return AsyncPoolRequest(httpcore.Request("POST", url))


def held_by(connection):
    request = queued(connection.origin)
    request.assign_to_connection(connection)
    return request


async def test_an_idle_connection_goes_to_one_queued_request():
    idle = Connection("idle")
    first, second = queued(), queued()
    made = pool([idle], [first, second], max_connections=1)
    assert made._assign_requests_to_connections() == []
    assert first.connection is idle
    assert second.is_queued()  # httpcore's own pool gave it `idle` too


async def test_a_promised_connection_is_not_handed_out_again():
    idle = Connection("idle")
    new = queued()
    made = pool([idle], [held_by(idle), new], max_connections=2)
    made._assign_requests_to_connections()
    assert new.connection is not idle
    assert new.connection.name == "new"


async def test_a_promised_connection_is_never_closed_for_its_request():
    promised_expired = Connection("promised_expired", expired=True)
    promised_surplus = Connection("promised_surplus")
    spare = Connection("spare")
    made = pool(
        [promised_expired, promised_surplus, spare],
        [held_by(promised_expired), held_by(promised_surplus), queued(OTHER)],
        max_connections=3,
        max_keepalive=0,
    )
    closing = made._assign_requests_to_connections()
    # Only the free idle one goes, as surplus keep-alive.
    assert closing == [spare]
    assert promised_expired in made._connections
    assert promised_surplus in made._connections


async def test_keep_alive_counts_idle_connections_only():
    busy = [Connection(f"busy{i}", idle=False) for i in range(3)]
    idle = [Connection(f"idle{i}") for i in range(3)]
    made = pool([*busy, *idle], [], max_keepalive=2)
    assert made._assign_requests_to_connections() == [idle[2]]


async def test_a_full_pool_closes_a_free_idle_connection_for_another_origin():
    elsewhere = Connection("elsewhere", OTHER)
    request = queued()
    made = pool([elsewhere], [request], max_connections=1)
    assert made._assign_requests_to_connections() == [elsewhere]
    assert request.connection.name == "new"


async def test_a_full_pool_of_taken_connections_makes_the_request_wait():
    taken = Connection("taken")
    request = queued()
    made = pool([taken], [held_by(taken), request], max_connections=1)
    assert made._assign_requests_to_connections() == []
    assert request.is_queued()


async def test_a_connection_whose_request_left_before_it_connected_is_dropped():
    orphan = Connection("orphan", idle=False)
    orphan._connection, orphan._connect_failed = None, False
    connecting = Connection("connecting", idle=False)
    connecting._connection, connecting._connect_failed = None, False
    request = queued()
    made = pool([orphan, connecting], [held_by(connecting), request], max_connections=2)
    made._assign_requests_to_connections()
    assert made._connections == [connecting, request.connection]
    assert request.connection.name == "new"


async def test_closed_connections_are_dropped():
    closed = Connection("closed", closed=True)
    made = pool([closed], [])
    made._assign_requests_to_connections()
    assert made._connections == []


# --- where it is put -----------------------------------------------------------


def pools_of(client: IProgSMS) -> list[type]:
    http = client._shared.http
    return [
        type(transport._pool)
        for transport in [http._transport, *http._mounts.values()]
        if isinstance(transport, httpx.AsyncHTTPTransport)
    ]


def test_the_clients_own_httpx_transport_gets_it():
    assert pools_of(IProgSMS(TOKEN)) == [ReservingPool]


def test_a_users_client_or_transport_is_left_alone():
    mine = httpx.AsyncClient()
    assert pools_of(IProgSMS(TOKEN, http_client=mine)) == [httpcore.AsyncConnectionPool]
    transport = httpx.AsyncHTTPTransport()
    IProgSMS(TOKEN, transport=transport)
    assert type(transport._pool) is httpcore.AsyncConnectionPool


def test_a_proxy_from_the_environment_keeps_httpcore_s_pool(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert pools_of(IProgSMS(TOKEN)) == [ReservingPool, httpcore.AsyncHTTPProxy]


def test_another_httpcore_version_or_http2_is_left_alone(monkeypatch):
    assert reserve_connections(httpx.AsyncClient()) is True
    http2 = httpx.AsyncClient()
    http2._transport._pool._http2 = True  # h2 is not installed here
    assert reserve_connections(http2) is False
    monkeypatch.setattr(httpcore, "__version__", "1.1.0")
    assert reserve_connections(httpx.AsyncClient()) is False
    # httpcore 1.0.0 to 1.0.2 assigned connections without this method.
    monkeypatch.setattr(httpcore, "__version__", "1.0.2")
    monkeypatch.delattr(httpcore.AsyncConnectionPool, "_assign_requests_to_connections")
    assert reserve_connections(httpx.AsyncClient()) is False


# --- under load, over real sockets ---------------------------------------------


async def test_under_load_no_connection_is_promised_twice(monkeypatch, no_backoff):
    doubles = []
    assign = AsyncPoolRequest.assign_to_connection

    def watched(request, connection):
        # The request's pool is the client's: every other request it holds.
        holders = [
            r
            for r in watched.pool._requests
            if r is not request and r.connection is connection
        ]
        if holders:
            doubles.append(connection)
        assign(request, connection)

    monkeypatch.setattr(AsyncPoolRequest, "assign_to_connection", watched)
    sent = {"status": 200, "message": "queued", "message_id": "iSms-1"}
    with serve({"/sms_messages": answer(sent, delay=0.002)}) as server:
        async with IProgSMS(
            TOKEN, base_url=base_url(server), limits=httpx.Limits(max_connections=5)
        ) as client:
            watched.pool = client._shared.http._transport._pool
            count = iter(range(200))

            async def worker():
                for i in count:
                    await client.sms.send(f"0917{i:07d}", "hi")

            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(worker)
    assert server.hits["/api/v1/sms_messages"] == 200
    assert len(server.peers) <= 5
    assert doubles == []


async def test_a_request_cancelled_by_asyncio_before_connecting_frees_its_place(
    anyio_backend,
):
    # httpcore's own pool keeps the never-used connection: the next request
    # then waits for a place that never comes (a PoolTimeout).
    if anyio_backend != "asyncio":
        pytest.skip("asyncio's own cancellation")
    import asyncio  # noqa: PLC0415

    sent = {"status": 200, "message_status": "sent"}
    with serve({"/x": answer(sent)}) as server:
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1),
            timeout=httpx.Timeout(5, pool=1),
        )
        assert reserve_connections(client)
        url = base_url(server) + "/x"
        async with client:
            first = await client.send(
                client.build_request("GET", url, headers={"Connection": "close"}),
                stream=True,
            )
            waiting = asyncio.ensure_future(client.get(url))
            await asyncio.sleep(0.05)  # queued behind the only connection
            await first.aread()
            await first.aclose()  # the waiting request is given a new connection
            waiting.cancel()  # and leaves before it ran
            with pytest.raises(asyncio.CancelledError):
                await waiting
            answer_ = await client.get(url)
    assert answer_.status_code == 200
