"""``shield_sends``: a send on the wire is finished, not abandoned, when cancelled."""

import asyncio
import logging
import sys
from functools import partial

import anyio
import httpx
import pytest

from iprogsms_async import APIConnectionError, BadRequestError, IProgSMS
from iprogsms_async._shielding import SendTrace
from iprogsms_async.resources.sms import send_call

from .support import BASE, TOKEN

pytestmark = pytest.mark.anyio


SENT = (200, {"status": 200, "message_id": "iSms-1"})


def slow_gateway(events, answer=SENT):
    """A gateway that takes 0.3 s to answer (status, body), noting its progress."""

    async def handler(request):
        events.append("received")
        await anyio.sleep(0.3)
        events.append("answered")
        return httpx.Response(answer[0], json=answer[1])

    return httpx.MockTransport(handler)


async def cancel_soon(scope):
    """Cancel ``scope`` once the request has reached the slow gateway."""
    await anyio.sleep(0.05)
    scope.cancel()


async def test_a_shielded_send_finishes_and_its_result_reaches_the_caller():
    events, got = [], []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=True
    ) as client:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_soon, scope)
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
    status = (200, {"status": 200, "message_status": "sent"})
    transport = slow_gateway(events, status)
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


# asyncio's own cancellation (task.cancel, wait_for, asyncio.timeout) ignores
# anyio's shields: a shielded send is run in a task of its own to hold.


@pytest.fixture
def asyncio_only(anyio_backend):
    if anyio_backend != "asyncio":
        pytest.skip("asyncio's own cancellation")


async def test_wait_for_lets_a_shielded_send_finish_and_logs_its_id(
    asyncio_only, caplog
):
    events = []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=True
    ) as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.sms.send("09171251234", "hi"), 0.05)
    assert events == ["received", "answered"]
    [record] = [r for r in caplog.records if r.name == "iprogsms_async"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "POST https://www.iprogsms.com/api/v1/sms_messages finished after its "
        "caller was cancelled, which drops its result: message_id iSms-1"
    )


async def test_wait_for_abandons_an_unshielded_send(asyncio_only):
    events = []
    async with IProgSMS(TOKEN, transport=slow_gateway(events)) as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.sms.send("09171251234", "hi"), 0.05)
    assert events == ["received"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
async def test_asyncio_timeout_leaves_no_stray_cancellation(asyncio_only):
    events = []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=True
    ) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await client.sms.send("09171251234", "hi")
        assert events == ["received", "answered"]
        # The task goes on: nothing of the cancellation is left pending.
        await asyncio.sleep(0.01)
        assert asyncio.current_task().cancelling() == 0


async def test_task_cancel_waits_for_the_send_then_cancels(asyncio_only, caplog):
    events = []
    busy = (503, {"status": 503, "message": "busy"})
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events, busy), shield_sends=True
    ) as client:
        task = asyncio.ensure_future(client.sms.send("09171251234", "hi"))
        await asyncio.sleep(0.05)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError, match="stop"):
            await task
    assert events == ["received", "answered"]
    [record] = [r for r in caplog.records if r.name == "iprogsms_async"]
    assert "which drops its error: HTTP 503" in record.getMessage()


async def test_anyio_cancellation_still_returns_the_result_on_asyncio(asyncio_only):
    # The own-task path keeps anyio's meaning: the result first, then the cancel.
    events, got = [], []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=True
    ) as client:
        with anyio.move_on_after(0.05) as scope:
            got.append((await client.sms.send("09171251234", "hi")).message_id)
            await anyio.sleep(10)
    assert scope.cancelled_caught
    assert got == ["iSms-1"]


async def test_with_options_turns_shielding_on_and_off():
    events = []
    async with IProgSMS(TOKEN, transport=slow_gateway(events)) as client:
        shielded = client.with_options(shield_sends=True)
        with anyio.move_on_after(0.05):
            await shielded.sms.send("09171251234", "hi")
        assert events == ["received", "answered"]
        events.clear()
        with anyio.move_on_after(0.05):
            await shielded.with_options(shield_sends=False).sms.send(
                "09171251234", "hi"
            )
        assert events == ["received"]


@pytest.mark.parametrize("shield_sends", [False, True])
async def test_a_caller_cancelled_before_the_send_sends_nothing(shield_sends):
    events = []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=shield_sends
    ) as client:
        with anyio.move_on_after(0) as scope:
            await client.sms.send("09171251234", "hi")
        assert scope.cancelled_caught
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.sms.send("09171251234", "hi")
    assert events == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
async def test_an_asyncio_timeout_already_expired_sends_nothing(asyncio_only, caplog):
    events = []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=True
    ) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await client.sms.send("09171251234", "hi")
        asyncio.current_task().cancel()
        with pytest.raises(asyncio.CancelledError):
            await client.sms.send("09171251234", "hi")
        asyncio.current_task().uncancel()
    assert events == []
    assert [r for r in caplog.records if r.name == "iprogsms_async"] == []


async def test_a_send_whose_own_task_is_cancelled_is_in_doubt(asyncio_only, caplog):
    events = []
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events), shield_sends=True
    ) as client:
        caller = asyncio.ensure_future(client.sms.send("09171251234", "hi"))
        await asyncio.sleep(0.05)
        # As code that cancels every task would: the send's own, not its caller.
        [own] = [
            task
            for task in asyncio.all_tasks()
            if task.get_coro().__qualname__ == "Requester._attempt"
        ]
        own.cancel()
        with pytest.raises(APIConnectionError) as caught:
            await caller
    assert caught.value.maybe_sent is True
    assert events == ["received"]
    [record] = [r for r in caplog.records if r.name == "iprogsms_async"]
    assert "was cancelled on the wire" in record.getMessage()


async def test_a_dropped_error_is_logged_without_the_token(asyncio_only, caplog):
    async def handler(request):
        await anyio.sleep(0.2)
        raise RuntimeError(f"a bug that prints {request.content.decode()}")

    async with IProgSMS(
        TOKEN, transport=httpx.MockTransport(handler), shield_sends=True
    ) as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.sms.send("09171251234", "hi"), 0.05)
    [record] = [r for r in caplog.records if r.name == "iprogsms_async"]
    assert "a bug that prints" in record.getMessage()
    assert TOKEN not in record.getMessage()


async def test_a_dropped_reminder_is_logged_with_its_id(asyncio_only, caplog):
    reminder = {
        "id": 42,
        "phone_number": "09171251234",
        "message": "Bill",
        "scheduled_at": "2025-03-08T05:00:00.000+08:00",
        "status": "scheduled",
    }
    events = []
    answer = (200, {"status": "success", "data": reminder})
    async with IProgSMS(
        TOKEN, transport=slow_gateway(events, answer), shield_sends=True
    ) as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                client.reminders.create(
                    phone_number="09171251234",
                    message="Bill",
                    scheduled_at="2025-03-08 05:00AM",
                ),
                0.05,
            )
    [record] = [r for r in caplog.records if r.name == "iprogsms_async"]
    assert record.getMessage().endswith("which drops its result: id 42")


class _SlowPause:
    """A rate limit whose pause (a 429 shared with other processes) never ends."""

    def __init__(self) -> None:
        self.pausing = anyio.Event()

    async def acquire(self) -> None:
        return None

    async def pause(self, seconds: float) -> None:
        assert seconds > 0
        self.pausing.set()
        await anyio.sleep_forever()


@pytest.mark.anyio
async def test_a_send_refused_with_429_is_not_in_doubt_while_its_pause_is_shared(
    gateway,
):
    gateway.post("/sms_messages").respond(429, headers={"Retry-After": "1"})
    limit = _SlowPause()
    trace = SendTrace()
    async with IProgSMS(TOKEN, base_url=BASE, rate_limit=limit) as client:
        call, parse = send_call("09171251234", "Hello", None)
        with anyio.move_on_after(30) as scope:  # a bound, not a measurement
            async with anyio.create_task_group() as group:
                group.start_soon(
                    partial(client._requester.request, call, parse, trace=trace)
                )
                await limit.pausing.wait()
                group.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert gateway.calls.call_count == 1
    assert not trace.maybe_sent  # refused: a cancelled caller knows it never left


async def test_a_standing_scope_holds_the_shield_while_its_send_is_on_the_wire():
    # A broadcast worker's own scope, given with its trace, is shielded while
    # a send is on the wire (no scope of its own a send), and lowered after:
    # the cancellation then lands at the worker's next checkpoint.
    events, got, shielded = [], [], []
    gateway = slow_gateway(events)

    async def handler(request):
        shielded.append(standing.shield)
        return await gateway.handle_async_request(request)

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(handler)) as client:
        sender = client._broadcast_sender(None)
        with anyio.CancelScope() as outer:
            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_soon, outer)
                with anyio.CancelScope() as standing:
                    sent = await sender.send(
                        "09171251234", "hi", None, SendTrace(standing)
                    )
                    got.append((sent.message_id, standing.shield))
                    await anyio.sleep(10)  # the cancellation lands here
    assert outer.cancelled_caught
    assert events == ["received", "answered"]
    assert shielded == [True]
    assert got == [("iSms-1", False)]


async def test_a_standing_scope_is_lowered_after_a_failed_send():
    def refuse(request):
        return httpx.Response(400, json={"status": "error", "message": "bad"})

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(refuse)) as client:
        sender = client._broadcast_sender(None)
        with anyio.CancelScope() as standing:
            with pytest.raises(BadRequestError):
                await sender.send("09171251234", "hi", None, SendTrace(standing))
            assert not standing.shield


async def test_a_standing_scope_shielded_already_is_left_shielded():
    def accept(request):
        return httpx.Response(*SENT[:1], json=SENT[1])

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(accept)) as client:
        sender = client._broadcast_sender(None)
        with anyio.CancelScope(shield=True) as standing:
            await sender.send("09171251234", "hi", None, SendTrace(standing))
            assert standing.shield
