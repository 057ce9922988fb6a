"""Workers pull their own work: polls come due between reads, results come in order.

No scheduler hands jobs out: a free worker takes a due poll, a ready chunk,
or the next recipient itself. These tests hold the guarantees that design
must keep: every recipient settles once, results arrive in the order they
settle, due polls are not held up behind the input, an error comes out
alone, and asyncio's own cancellation of a pulling broadcast loses no send.
"""

import asyncio
import gc
import itertools
import sqlite3
from contextlib import closing

import anyio
import httpx
import pytest
import sniffio
import trio

from iprogsms_async import IProgSMS
from iprogsms_async._redact import known_tokens
from iprogsms_async.broadcast import ACCEPTED, DUPLICATE, INVALID, UNKNOWN
from iprogsms_async.testing import FakeGateway, Faults

from ..loopback import answer, base_url, serve
from ..support import TOKEN
from .conftest import numbers

pytestmark = pytest.mark.anyio

FAST_POLL = {"poll_interval": 0.01, "poll_max_interval": 0.02}


async def test_every_recipient_settles_once_and_the_stream_follows_on_result(
    fake, client
):
    items = [
        *numbers(40),
        "12345",  # invalid
        numbers(1)[0],  # a duplicate of the first
        *[(number, "Other text") for number in numbers(30, start=100)],
    ]
    settled = []
    async with client.broadcast_stream(
        items,
        message="Hi",
        concurrency=7,
        batch_size=4,
        on_result=settled.append,
        **FAST_POLL,
    ) as results:
        streamed = [result async for result in results]
    # One result each; the stream gives them in the order they settled,
    # which is the order on_result saw them in.
    assert sorted(r.index for r in streamed) == list(range(len(items)))
    assert streamed == settled
    by_index = {r.index: r for r in streamed}
    assert by_index[40].status == INVALID
    assert by_index[41].status == DUPLICATE
    delivered = [r for r in streamed if r.status == "delivered"]
    assert len(delivered) == 70
    assert len(fake.messages) == 70


async def test_a_due_poll_is_not_held_up_behind_a_waiting_input(fake, client):
    # The input gives its second recipient only once the first is delivered,
    # which takes its poll: a worker waiting on the input must not stop the
    # others from taking that poll when it comes due.
    first_settled = anyio.Event()

    async def source():
        yield numbers(1)[0]
        await first_settled.wait()
        yield numbers(1, start=1)[0]

    def on_result(result):
        if result.index == 0:
            first_settled.set()

    with anyio.fail_after(30):  # a hang is the failure
        report = await client.broadcast(
            source(), message="Hi", concurrency=3, on_result=on_result, **FAST_POLL
        )
    assert report.counts == {"delivered": 2}


async def test_polls_run_between_sends_while_the_input_lasts(no_backoff):
    slow = FakeGateway(credits=1000, seed=2, faults=Faults(latency=0.005))
    started = []

    class Recording(httpx.AsyncBaseTransport):
        def __init__(self, inner):
            self.inner = inner

        async def handle_async_request(self, request):
            started.append(request.method)
            return await self.inner.handle_async_request(request)

    async with IProgSMS(
        slow.token, base_url=slow.base_url, transport=Recording(slow.transport())
    ) as client:
        report = await client.broadcast(
            numbers(60), message="Hi", concurrency=3, **FAST_POLL
        )
    assert report.counts == {"delivered": 60}
    # Polls came due and were taken while recipients were still being read
    # and sent, not all after the last send.
    last_send = len(started) - 1 - started[::-1].index("POST")
    assert "GET" in started[:last_send]


async def test_an_input_that_fails_ends_the_broadcast_with_its_own_error(fake, client):
    def source():
        yield from numbers(30)
        raise KeyError("the input broke")

    async def async_source():
        for number in numbers(30, start=100):
            yield number
        raise KeyError("the async input broke")

    for items in (source(), async_source()):
        # Not an exception group, though several workers were running.
        with pytest.raises(KeyError, match="input broke"):
            await client.broadcast(items, message="Hi", concurrency=5, **FAST_POLL)


async def test_a_transport_that_never_yields_still_serves_every_worker(no_backoff):
    # MockTransport answers without a checkpoint: no request yields, yet
    # every recipient is sent once and the stream's reader keeps up.
    texted = []

    def gateway(request):
        texted.append(request.content)
        return httpx.Response(
            200, json={"status": 200, "message_id": f"iSms-{len(texted)}"}
        )

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        report = await client.broadcast(
            numbers(300), message="Hi", concurrency=10, poll=False
        )
        async with client.broadcast_stream(
            numbers(300, start=1000), message="Hi", concurrency=10, poll=False
        ) as results:
            streamed = [result async for result in results]
    assert report.counts == {ACCEPTED: 300}
    assert sorted(r.index for r in streamed) == list(range(300))
    assert len(texted) == 600


async def test_asyncio_cancelling_a_pulling_broadcast_loses_no_send(
    anyio_backend, tmp_path, no_backoff
):
    # asyncio's own task.cancel() reaches the workers through anyio's shields
    # while some wait on a slow input, some on a send, some for a poll.
    if anyio_backend != "asyncio":
        pytest.skip("asyncio's own cancellation")
    slow = FakeGateway(credits=100_000, seed=9, faults=Faults(latency=(0.02, 0.06)))
    journal = tmp_path / "j.sqlite"
    reported = []

    async def source():
        for number in numbers(200):
            await asyncio.sleep(0.002)
            yield number

    async with slow.client() as client:
        task = asyncio.ensure_future(
            client.broadcast(
                source(),
                message="Hi",
                concurrency=8,
                journal=journal,
                on_result=reported.append,
                poll_interval=0.05,
            )
        )
        with anyio.fail_after(30):
            while slow.requests["POST /sms_messages"] < 20:
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        accepted = {m.message_id: m.phone_number for m in slow.messages}
        # Every text the gateway took is in the results: accepted (reported
        # with its id, its poll cut short) or in doubt, never lost or unsent.
        for result in reported:
            assert result.status in {ACCEPTED, UNKNOWN, "delivered"}, result
        reported_ids = {r.message_id for r in reported if r.message_id}
        in_doubt = {r.phone_number for r in reported if r.status == UNKNOWN}
        for message_id, number in accepted.items():
            assert message_id in reported_ids or number in in_doubt
        # A rerun with the journal sends only to those never texted.
        again = await client.broadcast(
            numbers(200), message="Hi", concurrency=8, journal=journal, poll=False
        )
    assert sorted(r.index for r in again.results) == list(range(200))
    per_number = {}
    for message in slow.messages:
        per_number[message.phone_number] = per_number.get(message.phone_number, 0) + 1
    assert max(per_number.values()) == 1
    with closing(sqlite3.connect(journal)) as db:
        (rows,) = db.execute("SELECT count(*) FROM recipients").fetchone()
    assert rows == 200


@pytest.mark.parametrize("http_backend", ["httpx", "aiohttp"])
async def test_no_more_workers_than_the_client_has_connections(
    http_backend, anyio_backend, no_backoff
):
    # Workers beyond the pool's connections would only wait for one: the
    # input is read no further ahead of the sends than the pool allows.
    if http_backend == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("aiohttp runs on asyncio only")
    sent = {"status": 200, "message": "queued", "message_id": "iSms-1"}
    pulled = 0
    ahead = []

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            ahead.append(pulled - server.hits["/api/v1/sms_messages"])
            yield f"0917{i:07d}"

    with serve({"/sms_messages": answer(sent, delay=0.002)}) as server:
        async with (
            IProgSMS(
                TOKEN,
                base_url=base_url(server),
                limits=httpx.Limits(max_connections=4),
                http_backend=http_backend,
            ) as client,
            client.broadcast_stream(
                endless(), message="Hi", concurrency=200, poll=False
            ) as results,
        ):
            async for result in results:
                if result.index >= 100:
                    break
    assert max(ahead) <= 4 + 2
    assert len(server.peers) <= 4


async def test_the_clients_token_goes_with_the_report_without_the_gc(audited_tokens):
    # A result's error holds the frames it was raised through, and they the
    # run: a run that kept its results would make a cycle, and keep the
    # client's token known (redacted from every text) until a collection.
    token = "lean-token-goes-with-its-report"

    def gateway(request):
        return httpx.Response(422, json={"message": "Invalid number."})

    gc.disable()
    try:
        async with IProgSMS(token, transport=httpx.MockTransport(gateway)) as client:
            report = await client.broadcast(numbers(3), message="Hi", poll=False)
            async with client.broadcast_stream(
                numbers(3), message="Hi", poll=False
            ) as results:
                streamed = [result async for result in results]
        assert all(r.error is not None for r in [*report.results, *streamed])
        assert token in known_tokens()
        audited_tokens.check_errors()  # the audit holds every error till then
        del client, report, results, streamed
        assert token not in known_tokens()
    finally:
        gc.enable()


async def broadcast_noting(count, look, seen):
    """Broadcast to ``count`` numbers on a fake, noting ``look()`` per result."""
    async with FakeGateway(seed=7).client() as client:
        await client.broadcast(
            numbers(count),
            message="Hi",
            poll=False,
            on_result=lambda _: seen.append(look()),
        )


def test_a_broadcast_tells_sniffio_that_asyncio_runs_for_its_run_only():
    # Without it, anyio (a send's shielded scope) and httpcore ask sniffio,
    # which under asyncio.run finds asyncio anew each time.
    seen = []
    named = sniffio.current_async_library_cvar.get

    async def main():
        await broadcast_noting(3, sniffio.current_async_library, seen)
        await broadcast_noting(1, named, seen)
        return named()  # not after the run

    assert asyncio.run(main()) is None
    assert seen == ["asyncio"] * 4
    seen.clear()
    trio.run(broadcast_noting, 2, named, seen)
    assert seen == [None, None]  # trio says so itself
