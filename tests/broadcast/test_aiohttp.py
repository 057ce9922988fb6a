"""Broadcasts over ``http_backend="aiohttp"``, against the fake over real HTTP.

The same promises as over httpx: every recipient reported once, nothing sent
twice through faults, anything the gateway may have accepted reported, and a
cancellation that leaves no send in doubt. asyncio only.
"""

import anyio
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async._aiohttp import AiohttpWire
from iprogsms_async.broadcast import ACCEPTED, UNKNOWN
from iprogsms_async.testing import FakeGateway, Faults

from .conftest import numbers
from .test_load import check_accounting

pytest.importorskip("aiohttp")

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def wire_in_flight(monkeypatch):
    """The most requests the client's aiohttp wire had in flight at once.

    Counted by the client, not by the gateway: a request the client gives
    up on (its timeout) is over for the client, yet the gateway's handler
    runs on until it reads the closed connection, which on a loaded machine
    can come after the client's next request; the gateway then counts one
    more than the concurrency the client kept to.
    """
    counts = {"now": 0, "max": 0}
    exchange = AiohttpWire.exchange

    async def counted(self, *args, **kwargs):
        counts["now"] += 1
        counts["max"] = max(counts["max"], counts["now"])
        try:
            return await exchange(self, *args, **kwargs)
        finally:
            counts["now"] -= 1

    monkeypatch.setattr(AiohttpWire, "exchange", counted)
    return counts


async def test_a_broadcast_through_faults_sends_nothing_twice(
    no_backoff, wire_in_flight
):
    fake = FakeGateway(
        credits=1_000_000,
        seed=9,
        faults=Faults(
            server_error_before_accept=0.04,
            server_error_after_accept=0.04,
            rate_limit=0.04,
            retry_after=0.01,
            drop_before_accept=0.03,
            drop_after_accept=0.03,
            html=0.02,
            slow=0.01,
            slow_seconds=1.0,
            latency=(0.0, 0.002),
        ),
    )
    recipients = numbers(400)
    with fake.serve_in_thread() as base_url:
        async with IProgSMS(
            fake.token, base_url=base_url, http_backend="aiohttp", timeout=0.5
        ) as client:
            report = await client.broadcast(
                recipients, message="Over aiohttp", concurrency=16, poll_interval=0.01
            )
    check_accounting(report, fake, recipients)
    assert report.counts[UNKNOWN] > 0  # the ambiguous faults did strike
    assert report.counts["delivered"] > 300
    # Sends and polls together: never more than the concurrency asked for.
    assert 1 < wire_in_flight["max"] <= 16


async def test_batched_sends_through_faults(no_backoff):
    fake = FakeGateway(
        credits=1_000_000,
        seed=3,
        faults=Faults(
            server_error_after_accept=0.1, drop_before_accept=0.1, endpoints="sends"
        ),
    )
    recipients = numbers(120)
    with fake.serve_in_thread() as base_url:
        async with IProgSMS(
            fake.token, base_url=base_url, http_backend="aiohttp"
        ) as client:
            report = await client.broadcast(
                recipients, message="Bulk", batch_size=10, concurrency=4, poll=False
            )
    check_accounting(report, fake, recipients)
    assert report.counts[ACCEPTED] + report.counts[UNKNOWN] == 120


async def test_cancelling_drains_sends_on_the_wire_and_reports_them(no_backoff):
    fake = FakeGateway(credits=100_000, seed=4, faults=Faults(latency=0.05))
    reported = []
    with fake.serve_in_thread() as base_url:
        async with IProgSMS(
            fake.token, base_url=base_url, http_backend="aiohttp"
        ) as client:
            with anyio.move_on_after(0.3) as scope:
                await client.broadcast(
                    numbers(500),
                    message="Hi",
                    concurrency=20,
                    on_result=reported.append,
                )
    assert scope.cancelled_caught
    accepted = {m.message_id for m in fake.messages}
    assert accepted  # sends were on the wire when the cancel came
    # Every text the gateway accepted was reported; none is in doubt.
    assert accepted == {r.message_id for r in reported if r.message_id}
    assert all(r.status == ACCEPTED for r in reported)
    assert len(accepted) < 500
