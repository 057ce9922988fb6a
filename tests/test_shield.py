"""``shield_sends``: a send on the wire is finished, not abandoned, when cancelled."""

import anyio
import httpx
import pytest

from iprogsms_async import IProgSMS

from .support import TOKEN

pytestmark = pytest.mark.anyio


def slow_gateway(events):
    async def handler(request):
        events.append("received")
        await anyio.sleep(0.3)
        events.append("answered")
        return httpx.Response(200, json={"status": 200, "message_id": "iSms-1"})

    return httpx.MockTransport(handler)


async def test_a_shielded_send_finishes_and_its_result_reaches_the_caller():
    events, got = [], []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=True
    ) as client:
        with anyio.CancelScope() as scope:

            async def cancel_soon():
                await anyio.sleep(0.05)
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_soon)
                sent = await client.sms.send("09171251234", "hi")
                got.append(sent.message_id)  # recorded before the next checkpoint
                await anyio.sleep(10)  # the cancellation lands here
    assert scope.cancelled_caught
    assert events == ["received", "answered"]
    assert got == ["iSms-1"]


async def test_an_unshielded_send_is_abandoned_when_cancelled():
    events = []
    async with IProgSMS(TOKEN, transport=slow_gateway(events)) as client:
        with anyio.move_on_after(0.05) as scope:
            await client.sms.send("09171251234", "hi")
    assert scope.cancelled_caught
    assert events == ["received"]


async def test_reads_are_never_shielded():
    events = []

    async def handler(request):
        events.append("received")
        await anyio.sleep(0.3)
        events.append("answered")
        return httpx.Response(200, json={"status": 200, "message_status": "sent"})

    transport = httpx.MockTransport(handler)
    async with IProgSMS(TOKEN, transport=transport, shield_sends=True) as client:
        with anyio.move_on_after(0.05):
            await client.sms.status("iSms-1")
    assert events == ["received"]


async def test_waits_between_attempts_stay_cancellable(no_backoff):
    attempts = []

    def handler(request):
        attempts.append(1)
        return httpx.Response(429, headers={"Retry-After": "30"})

    transport = httpx.MockTransport(handler)
    async with IProgSMS(TOKEN, transport=transport, shield_sends=True) as client:
        with anyio.move_on_after(0.2) as scope:
            await client.sms.send("09171251234", "hi")
    assert scope.cancelled_caught  # not stuck for 30 s inside a shield
    assert attempts == [1]
