"""Clean cancellation over real sockets: no hang, no leaked task, no unclosed resource.

Each test talks to the fake gateway over loopback HTTP (uvicorn in a thread),
cancels something in the middle, and then checks, under asyncio and trio: it
ended within an explicit `fail_after`; no task is left behind (asyncio; trio's
structured concurrency guarantees it); no exception went unretrieved; and no
warning (ResourceWarning above all) came out once the scenario's objects were
garbage collected; and every socket it opened was closed again. Each scenario
runs in its own coroutine, so that nothing of it is still referenced when the
garbage is collected. The in-process
counterparts are in tests/broadcast/test_cancel.py and tests/test_shield.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import anyio
import anyio.lowlevel
import pytest
import sniffio

from iprogsms_async import ClientStateError, IProgSMS
from iprogsms_async.broadcast import ACCEPTED, UNKNOWN
from iprogsms_async.testing import FakeGateway

from ..loopback import sockets_to

pytestmark = pytest.mark.anyio

NUMBER = "09171251234"
LIMIT = 20.0  # seconds: an explicit bound, far above what any test needs


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def run_cleanly(audited_tokens, base_url):
    """``await run_cleanly(scenario)``: run it within `LIMIT`, then check that
    it left nothing behind; returns what the scenario returns."""

    async def run(scenario):
        """(See the fixture.)"""
        asyncio_backend = sniffio.current_async_library() == "asyncio"
        loop_errors: list[dict[str, object]] = []
        asyncio_log = _Records()
        logging.getLogger("asyncio").addHandler(asyncio_log)
        if asyncio_backend:
            loop = asyncio.get_running_loop()
            tasks_before = asyncio.all_tasks()
            handler_before = loop.get_exception_handler()
            loop.set_exception_handler(lambda _, context: loop_errors.append(context))
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with anyio.fail_after(LIMIT):
                    outcome = await scenario()
                # Every connection the client opened is closed by now.
                assert sockets_to(port) == set()
                # Let cancelled tasks finish, then collect the scenario's
                # garbage: an unclosed socket or an exception never retrieved
                # is reported then. (The token audit lets go of the errors it
                # holds first: their tracebacks reach the scenario's objects.)
                for _ in range(5):
                    await anyio.lowlevel.checkpoint()
                audited_tokens.check_errors()
                gc.collect()
                await anyio.sleep(0.01)
                gc.collect()
                if asyncio_backend:
                    leftover = asyncio.all_tasks() - tasks_before
                    assert not leftover, leftover
        finally:
            logging.getLogger("asyncio").removeHandler(asyncio_log)
            if asyncio_backend:
                loop.set_exception_handler(handler_before)
        assert loop_errors == []  # "Task exception was never retrieved" and kin
        assert [r.getMessage() for r in asyncio_log.records] == []
        assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
        return outcome

    return run


@pytest.fixture
def fake():
    return FakeGateway(credits=100_000, seed=12)


@pytest.fixture
def base_url(fake):
    with fake.serve_in_thread() as url:
        yield url


def numbers(count):
    return [f"0918{i:07d}" for i in range(count)]


async def wait_until(condition):
    while not condition():  # the fake lives in another thread
        await anyio.sleep(0.001)


def summary(results):
    """What the assertions need of the results, without their errors."""
    return [(r.phone_number, r.status, r.message_id, bool(r.error)) for r in results]


async def test_cancelling_a_send_on_the_wire(fake, base_url, run_cleanly):
    fake.update_faults(latency=0.5, endpoints="sends")

    async def scenario():
        async with IProgSMS(fake.token, base_url=base_url) as client:
            with anyio.move_on_after(0.1) as scope:
                await client.sms.send(NUMBER, "first")
            assert scope.cancelled_caught
            assert fake.requests["POST /sms_messages"] == 1  # it was on the wire
            # The gateway sees the connection go and drops the request.
            await wait_until(lambda: fake.in_flight == 0)
            # The pool is not left with a broken connection.
            fake.clear_faults()
            return (await client.sms.send(NUMBER, "second")).message_id

    second = await run_cleanly(scenario)
    assert [(m.message_id, m.message) for m in fake.messages] == [(second, "second")]


async def test_cancelling_a_shielded_send_lets_it_finish(fake, base_url, run_cleanly):
    fake.update_faults(latency=0.3, endpoints="sends")

    async def scenario():
        got = []
        async with IProgSMS(fake.token, base_url=base_url, shield_sends=True) as c:
            with anyio.move_on_after(0.05) as scope:
                got.append((await c.sms.send(NUMBER, "shielded")).message_id)
                await anyio.sleep(LIMIT)  # the cancellation lands here
        assert scope.cancelled_caught
        return got

    got = await run_cleanly(scenario)
    assert [m.message_id for m in fake.messages] == got


async def test_cancelling_a_broadcast_drains_it(fake, base_url, run_cleanly):
    # Status polls are slow too, so that some are in flight at the cancel:
    # the texts they poll for are reported all the same.
    fake.update_faults(latency=(0.02, 0.06))

    async def scenario():
        reported = []
        async with IProgSMS(fake.token, base_url=base_url) as client:
            with anyio.CancelScope() as scope:

                def on_result(result):
                    reported.append(result)
                    if len(reported) == 30:
                        scope.cancel()

                await client.broadcast(
                    numbers(500),
                    message="Hi",
                    concurrency=20,
                    poll_interval=0.01,
                    on_result=on_result,
                )
        assert scope.cancelled_caught
        return summary(reported)

    reported = await run_cleanly(scenario)
    held = {m.message_id: m.phone_number for m in fake.messages}
    assert 30 <= len(held) < 500
    # Drained: every text the gateway holds was reported, none is in doubt.
    assert {i: n for n, _, i, _ in reported if i} == held
    assert all(status != UNKNOWN for _, status, _, _ in reported)


async def test_asyncio_wait_for_on_a_broadcast_drains_it(
    anyio_backend, fake, base_url, run_cleanly
):
    # asyncio's own cancellation ignores anyio's shields; the broadcast's
    # workers live in anyio task groups, which turn it into anyio's.
    if anyio_backend != "asyncio":
        pytest.skip("asyncio's own cancellation")
    fake.update_faults(latency=(0.02, 0.06))

    async def scenario():
        reported = []
        async with IProgSMS(fake.token, base_url=base_url) as client:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(
                    client.broadcast(
                        numbers(2000),
                        message="Hi",
                        concurrency=20,
                        poll_interval=0.01,
                        on_result=reported.append,
                    ),
                    0.5,
                )
        return summary(reported)

    reported = await run_cleanly(scenario)
    held = {m.message_id: m.phone_number for m in fake.messages}
    assert 0 < len(held) < 2000
    assert {i: n for n, _, i, _ in reported if i} == held
    assert all(status != UNKNOWN for _, status, _, _ in reported)


async def test_leaving_a_stream_early(fake, base_url, run_cleanly):
    fake.update_faults(latency=(0.02, 0.06), endpoints="sends")

    async def scenario():
        reported = []
        async with (
            IProgSMS(fake.token, base_url=base_url) as client,
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
        return summary(reported)

    reported = await run_cleanly(scenario)
    held = {m.message_id for m in fake.messages}
    assert len(held) < 100
    assert {i for _, _, i, _ in reported} == held
    assert {status for _, status, _, _ in reported} == {ACCEPTED}


async def test_closing_the_client_in_the_middle_of_a_broadcast(
    fake, base_url, run_cleanly
):
    fake.update_faults(latency=(0.02, 0.06), endpoints="sends")

    async def scenario():
        reported = []
        client = IProgSMS(fake.token, base_url=base_url)

        async def close_early():
            # As the first send arrives, the other workers' connections are
            # still being opened: closing the pool under them must not leave
            # any of them open.
            await wait_until(lambda: fake.requests["POST /sms_messages"] >= 1)
            await client.aclose()

        async with anyio.create_task_group() as group:
            group.start_soon(close_early)
            with pytest.raises(ClientStateError, match="closed"):
                await client.broadcast(
                    numbers(500),
                    message="Hi",
                    concurrency=10,
                    poll=False,
                    on_result=reported.append,
                )
        assert all(r.error.maybe_sent for r in reported if r.status == UNKNOWN)
        return summary(reported)

    reported = await run_cleanly(scenario)
    held = {m.message_id: m.phone_number for m in fake.messages}
    assert len(held) < 500
    accepted = {i: n for n, _, i, _ in reported if i}
    in_doubt = {n for n, status, _, _ in reported if status == UNKNOWN}
    # Everything the gateway holds was reported, as accepted or in doubt.
    assert set(accepted.items()) <= set(held.items())
    assert set(held.values()) <= set(accepted.values()) | in_doubt


async def test_cancelling_a_broadcast_paused_by_a_429(fake, base_url, run_cleanly):
    fake.update_faults(retry_after=30)  # far longer than anyone waits here
    fake.fail_next("rate_limit", endpoints="sends")

    async def scenario():
        async with IProgSMS(fake.token, base_url=base_url) as client:
            with anyio.move_on_after(0.3) as scope:
                await client.broadcast(numbers(20), message="Hi", concurrency=4)
        return scope.cancelled_caught

    assert await run_cleanly(scenario)  # ended by the cancellation, not the pause
    assert fake.requests["POST /sms_messages"] < 20


async def test_closing_the_client_while_a_call_waits_to_retry(
    fake, base_url, run_cleanly
):
    fake.update_faults(retry_after=0.5)
    fake.fail_next("rate_limit")

    async def scenario():
        client = IProgSMS(fake.token, base_url=base_url)

        async def close_during_the_wait():
            await wait_until(lambda: fake.requests["GET /account/sms_credits"] >= 1)
            await client.aclose()

        async with anyio.create_task_group() as group:
            group.start_soon(close_during_the_wait)
            # Our own error, not httpx's RuntimeError for a closed client.
            with pytest.raises(ClientStateError, match="closed"):
                await client.account.credits()

    await run_cleanly(scenario)
    assert fake.requests["GET /account/sms_credits"] == 1  # the retry never went
