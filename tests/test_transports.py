"""The gate in front of httpx's pool: sized by the limits, bounded by the pool timeout.

httpcore re-examines every request queued in its pool on every pass, so the
client lets only as many requests into the pool as it has connections; the
rest wait in a semaphore. What a caller sees must not change: a request that
waits longer than the pool timeout fails as never sent, and one cancelled
while waiting sends nothing.
"""

import inspect

import anyio
import httpx
import pytest

from iprogsms_async import APITimeoutError, IProgSMS
from iprogsms_async._transports import DEFAULT_LIMITS, ConnectionGate, gate_for

from .loopback import answer, base_url, serve
from .support import TOKEN

pytestmark = pytest.mark.anyio

SEND_OK = {"status": 200, "message": "queued", "message_id": "iSms-1"}


def test_the_default_client_has_a_gate_the_size_of_its_pool():
    client = IProgSMS(TOKEN)
    assert isinstance(client._shared.wire.http._transport, httpx.AsyncHTTPTransport)
    assert client._shared.gate is not None
    assert client._shared.gate.size == DEFAULT_LIMITS.max_connections
    assert DEFAULT_LIMITS.max_connections == DEFAULT_LIMITS.max_keepalive_connections


def test_the_gate_applies_to_httpx_s_own_pool_only():
    limits = httpx.Limits(max_connections=5)
    assert gate_for("httpx", limits, None).size == 5
    assert gate_for("httpx", httpx.Limits(max_connections=None), None) is None
    assert gate_for("httpx", None, httpx.MockTransport(lambda _: None)) is None
    assert gate_for("aiohttp", limits, None) is None
    assert IProgSMS(TOKEN, limits=limits)._shared.gate.size == 5
    assert (
        IProgSMS(TOKEN, transport=httpx.MockTransport(lambda _: None))._shared.gate
        is None
    )


async def test_the_gate_waits_at_most_its_patience():
    gate = ConnectionGate(1)
    assert await gate.acquire(None)
    assert not await gate.acquire(0.01)
    gate.release()
    assert await gate.acquire(0.01)
    gate.release()


async def test_copies_share_one_gate():
    client = IProgSMS(TOKEN)
    assert client.with_options(max_retries=0)._shared.gate is client._shared.gate


async def test_no_more_connections_than_the_pool_holds(no_backoff):
    with serve({"/sms_messages": answer(SEND_OK, delay=0.02)}) as server:
        async with (
            IProgSMS(
                TOKEN, base_url=base_url(server), limits=httpx.Limits(max_connections=3)
            ) as client,
            anyio.create_task_group() as tg,
        ):
            for i in range(12):
                tg.start_soon(client.sms.send, f"0917{i:07d}", "hi")
    assert server.hits["/api/v1/sms_messages"] == 12
    assert len(server.peers) <= 3


async def test_waiting_past_the_pool_timeout_is_a_timeout_that_sent_nothing(no_backoff):
    with serve({"/sms_messages": answer(SEND_OK, delay=0.5)}) as server:
        async with IProgSMS(
            TOKEN,
            base_url=base_url(server),
            limits=httpx.Limits(max_connections=1),
            timeout=httpx.Timeout(5.0, pool=0.05),
            max_retries=0,
        ) as client:
            outcomes = []

            async def send(number):
                try:
                    outcomes.append(await client.sms.send(number, "hi"))
                except APITimeoutError as error:
                    outcomes.append(error)

            async with anyio.create_task_group() as tg:
                tg.start_soon(send, "09170000001")
                await anyio.sleep(0.05)
                tg.start_soon(send, "09170000002")
    [error] = [o for o in outcomes if isinstance(o, APITimeoutError)]
    assert isinstance(error.__cause__, httpx.PoolTimeout)
    assert error.maybe_sent is False
    assert "was not sent" in str(error)
    assert server.hits["/api/v1/sms_messages"] == 1


async def test_a_send_cancelled_while_waiting_for_a_connection_sends_nothing(
    no_backoff,
):
    with serve({"/sms_messages": answer(SEND_OK, delay=0.3)}) as server:
        async with (
            IProgSMS(
                TOKEN,
                base_url=base_url(server),
                limits=httpx.Limits(max_connections=1),
                shield_sends=True,
            ) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(client.sms.send, "09170000001", "hi")
            await anyio.sleep(0.05)
            with anyio.move_on_after(0.05):
                await client.sms.send("09170000002", "hi")
    assert server.hits["/api/v1/sms_messages"] == 1


class _BodyLooker(httpx.AsyncBaseTransport):
    """Iterates each request's body as httpcore does, noting what it iterated."""

    def __init__(self):
        self.bodies = []

    async def handle_async_request(self, request):
        iterator = aiter(request.stream)
        # An async generator that a cancelled write leaves unfinished is
        # reported by trio when collected (a ResourceWarning).
        assert not inspect.isasyncgen(iterator)
        self.bodies.append(b"".join([chunk async for chunk in iterator]))
        if request.method == "GET":
            return httpx.Response(200, json={"message_status": "pending"})
        return httpx.Response(200, json=SEND_OK)


async def test_no_request_body_is_an_async_generator_a_cancel_could_leave():
    looker = _BodyLooker()
    async with IProgSMS(TOKEN, transport=looker) as client:
        await client.sms.send("09171251234", "hi")
        await client.sms.status("iSms-1")
    sent, polled = looker.bodies
    assert b'"message":"hi"' in sent
    assert polled == b""
