"""Cancellation drains; a bad token or a closed client stops the broadcast cleanly."""

import anyio
import pytest

from iprogsms_async import AuthenticationError, ClientStateError
from iprogsms_async.broadcast import ACCEPTED
from iprogsms_async.testing import FakeGateway, Faults

from .conftest import numbers

pytestmark = pytest.mark.anyio


@pytest.fixture
def slow_fake():
    return FakeGateway(credits=100_000, seed=4, faults=Faults(latency=0.05))


async def test_cancelling_drains_sends_on_the_wire_and_reports_them(
    slow_fake, no_backoff
):
    reported = []
    async with slow_fake.client() as client:
        with anyio.move_on_after(0.12) as scope:
            await client.broadcast(
                numbers(500), message="Hi", concurrency=20, on_result=reported.append
            )
    assert scope.cancelled_caught
    accepted = {m.message_id for m in slow_fake.messages}
    assert accepted  # sends were on the wire when the cancel came
    # Every text the gateway accepted was reported; none is in doubt.
    assert accepted == {r.message_id for r in reported if r.message_id}
    assert all(r.status == ACCEPTED for r in reported)
    assert len(accepted) < 500


async def test_leaving_the_stream_early_stops_reading_and_drains(slow_fake, no_backoff):
    reported = []
    async with (
        slow_fake.client() as client,
        client.broadcast_stream(
            numbers(500),
            message="Hi",
            concurrency=10,
            poll=False,
            on_result=reported.append,
        ) as results,
    ):
        async for result in results:
            if result.index >= 5:
                break
    assert len(slow_fake.messages) < 40
    assert {m.message_id for m in slow_fake.messages} == {
        r.message_id for r in reported
    }


async def test_a_bad_token_stops_the_broadcast_with_the_real_error(fake, no_backoff):
    async with fake.client(api_token="wrong") as client:
        with pytest.raises(AuthenticationError):
            await client.broadcast(numbers(100), message="Hi")
    assert fake.messages == []


async def test_closing_the_client_mid_broadcast_stops_it(slow_fake, no_backoff):
    client = slow_fake.client()

    async def close_soon():
        await anyio.sleep(0.08)
        await client.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(close_soon)
        with pytest.raises(ClientStateError, match="closed"):
            await client.broadcast(numbers(300), message="Hi", concurrency=10)
    assert len(slow_fake.messages) < 300


async def test_an_exception_in_on_result_stops_the_broadcast(fake, client):
    def explode(result):
        raise RuntimeError("my callback broke")

    with pytest.raises(RuntimeError, match="my callback broke"):
        await client.broadcast(numbers(10), message="Hi", on_result=explode, poll=False)


async def test_a_user_error_inside_the_stream_block_propagates(fake, client):
    async def consume():
        async with client.broadcast_stream(
            numbers(10), message="Hi", poll=False
        ) as results:
            async for _ in results:
                raise KeyError("mine")

    with pytest.raises(KeyError):
        await consume()
