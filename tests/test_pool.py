"""ReservingPool: an idle connection goes to one request at a time, and stays open."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import httpcore
import httpx
import pytest
from httpcore._async.connection_pool import AsyncPoolRequest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from iprogsms_async import IProgSMS, _pool
from iprogsms_async._pool import ReservingPool, ReservingTransport, reserving_transport

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


# --- between sweeps: only what changed -------------------------------------------


def live_pool(connections, *, max_connections=10, max_keepalive=10):
    """A pool as httpcore runs it (its own request list), swept once already."""
    made = ReservingPool(
        max_connections=max_connections, max_keepalive_connections=max_keepalive
    )
    made._connections = list(connections)
    made.create_connection = lambda origin: Connection("new", origin, idle=False)
    assert made._assign_requests_to_connections() == []  # the first pass sweeps
    return made


def arrive(made, request):
    made._requests.append(request)
    return made._assign_requests_to_connections()


def leave(made, request):
    made._requests.remove(request)
    return made._assign_requests_to_connections()


async def test_a_departing_requests_connection_goes_to_the_next_arrival():
    first_conn = Connection("first")
    made = live_pool([first_conn], max_connections=3)
    # Between sweeps no pass looks at connections that did not change: an
    # expired one no request holds stays until the next sweep.
    stale = Connection("stale", expired=True)
    made._connections.append(stale)
    first = queued()
    assert arrive(made, first) == []
    assert first.connection is first_conn
    second = queued()
    assert arrive(made, second) == []
    assert second.connection.name == "new"  # room for one more: made
    assert leave(made, first) == []
    third = queued()
    assert arrive(made, third) == []
    assert third.connection is first_conn
    assert stale in made._connections
    made._next_sweep = 0.0  # the sweep's time has come
    assert leave(made, third) == [stale]
    assert made._connections == [first_conn, second.connection]


async def test_the_last_freed_connection_is_handed_out_first():
    a, b = Connection("a"), Connection("b")
    made = live_pool([a, b])
    ra, rb = queued(), queued()
    arrive(made, ra)
    arrive(made, rb)
    assert {ra.connection, rb.connection} == {a, b}
    leave(made, rb)
    leave(made, ra)
    again = queued()
    arrive(made, again)
    assert again.connection is ra.connection


async def test_a_freed_connection_past_its_expiry_is_closed_not_reused():
    conn = Connection("conn")
    made = live_pool([conn])
    request = queued()
    arrive(made, request)
    conn.expired = True
    assert leave(made, request) == [conn]
    assert conn not in made._connections
    after = queued()
    arrive(made, after)
    assert after.connection.name == "new"


async def test_a_connection_closed_while_free_is_dropped_when_its_turn_comes():
    conn = Connection("conn")
    made = live_pool([conn], max_connections=1)
    request = queued()
    arrive(made, request)
    leave(made, request)
    conn.closed = True  # by the server, while idle
    after = queued()
    assert arrive(made, after) == []
    assert after.connection.name == "new"
    assert made._connections == [after.connection]


async def test_a_full_pool_looks_again_before_making_a_request_wait():
    conn = Connection("conn")
    made = live_pool([conn], max_connections=1)
    request = queued()
    arrive(made, request)
    # The connection turned out closed as the request began on it (httpcore
    # raises ConnectionNotAvailable): the request goes round again.
    conn.closed = True
    request.clear_connection()
    assert made._assign_requests_to_connections() == []
    assert request.connection.name == "new"
    assert made._connections == [request.connection]


async def test_a_request_that_leaves_before_connecting_frees_its_place():
    made = live_pool([], max_connections=1)
    request = queued()
    arrive(made, request)
    made_for_it = request.connection
    made_for_it._connection, made_for_it._connect_failed = None, False
    leave(made, request)
    assert made._connections == []


# --- where it is put -----------------------------------------------------------


def pools_of(client: IProgSMS) -> list[type]:
    http = client._shared.wire.http
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


def test_no_proxy_entries_use_the_clients_own_transport(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "gateway.test")
    http = IProgSMS(TOKEN)._shared.wire.http
    mine = http._transport
    assert type(mine) is ReservingTransport
    assert http._transport_for_url(httpx.URL("https://gateway.test/api")) is mine
    proxied = http._transport_for_url(httpx.URL("https://elsewhere.test/api"))
    assert type(proxied._pool) is httpcore.AsyncHTTPProxy


def test_the_pool_has_the_settings_httpx_would_give_it():
    limits = httpx.Limits(
        max_connections=7, max_keepalive_connections=3, keepalive_expiry=2
    )
    ours = ReservingTransport(limits=limits, local_address="127.0.0.1")._pool
    httpx_s = httpx.AsyncHTTPTransport(limits=limits, local_address="127.0.0.1")._pool
    settings = [
        "_max_connections",
        "_max_keepalive_connections",
        "_keepalive_expiry",
        "_http1",
        "_http2",
        "_retries",
        "_local_address",
        "_uds",
        "_socket_options",
    ]
    assert [getattr(ours, name) for name in settings] == [
        getattr(httpx_s, name) for name in settings
    ]
    assert ours._ssl_context.verify_mode == httpx_s._ssl_context.verify_mode
    assert ours._ssl_context.check_hostname == httpx_s._ssl_context.check_hostname


@pytest.mark.parametrize("version", ["1.0.8", "1.0.10", "1.1.0"])
def test_another_httpcore_version_keeps_httpcore_s_pool_and_says_so_once(
    monkeypatch, caplog, version
):
    monkeypatch.setattr(_pool, "_said", set())
    monkeypatch.setattr(httpcore, "__version__", version)
    with caplog.at_level(logging.INFO, logger="iprogsms_async"):
        assert pools_of(IProgSMS(TOKEN)) == [httpcore.AsyncConnectionPool]
        assert pools_of(IProgSMS(TOKEN)) == [httpcore.AsyncConnectionPool]
    told = [r for r in caplog.records if "ReservingPool" in r.getMessage()]
    assert len(told) == 1
    assert told[0].levelno == logging.INFO
    assert (
        f"httpcore {version} is not a version it was tested on" in told[0].getMessage()
    )


def test_an_httpcore_without_the_overridden_internals_keeps_its_pool(
    monkeypatch, caplog
):
    monkeypatch.setattr(_pool, "_said", set())
    # httpcore 1.0.0 to 1.0.2 assigned connections without this method.
    monkeypatch.delattr(httpcore.AsyncConnectionPool, "_assign_requests_to_connections")
    with caplog.at_level(logging.INFO, logger="iprogsms_async"):
        assert reserving_transport(httpx.Limits()) is None
    assert "lacks AsyncConnectionPool._assign_requests_to_connections" in caplog.text


def test_the_tested_versions_are_within_the_bound_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    (bound,) = [d for d in project["dependencies"] if d.startswith("httpcore")]
    allowed = SpecifierSet(bound.removeprefix("httpcore"))
    assert all(version in allowed for version in _pool.TESTED_HTTPCORE)
    # No release after the newest tested one: its internals may differ.
    newest = max(_pool.TESTED_HTTPCORE, key=Version)
    assert (
        f"<{Version(newest).major}.{Version(newest).minor}.{Version(newest).micro + 1}"
        in bound
    )
    # The suite itself runs on a tested version, or this file proves nothing.
    assert httpcore.__version__ in _pool.TESTED_HTTPCORE


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
            watched.pool = client._shared.wire.http._transport._pool
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
        limits = httpx.Limits(max_connections=1)
        client = httpx.AsyncClient(
            limits=limits,
            timeout=httpx.Timeout(5, pool=1),
            transport=ReservingTransport(limits=limits),
        )
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


async def test_a_reused_connection_writes_a_request_in_one_piece():
    # httpcore writes a request's head, then its body: two system calls a
    # send. A reused connection of ours writes them together.
    sent = {"status": 200, "message": "queued", "message_id": "iSms-1"}
    routes = {"/sms_messages": answer(sent), "/sms_messages/status": answer({})}
    with serve(routes) as server:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(
            limits=limits, transport=ReservingTransport(limits=limits)
        ) as client:
            url = base_url(server) + "/sms_messages"
            first = await client.post(url, json={"n": 1})  # a new connection
            (connection,) = client._transport._pool._connections
            stream = connection._connection._network_stream
            writes = []
            write = stream.write

            async def counted(data, **options):
                writes.append(data)
                await write(data, **options)

            stream.write = counted
            second = await client.post(url, json={"n": 2})
            third = await client.get(url + "/status")
    assert [first.status_code, second.status_code, third.status_code] == [200] * 3
    assert len(writes) == 2  # one a request
    assert writes[0].startswith(b"POST /api/v1/sms_messages HTTP/1.1\r\n")
    assert writes[0].endswith(b'{"n":2}')
    assert writes[1].startswith(b"GET /api/v1/sms_messages/status HTTP/1.1\r\n")
    assert server.hits["/api/v1/sms_messages"] == 2
