"""asyncio cancelling every task while a broadcast runs: nobody is texted twice.

Everyday asyncio code reaches a broadcast's worker tasks with asyncio's own
``task.cancel()``, which goes through anyio's shields:

- a shutdown handler running ``for t in asyncio.all_tasks(): t.cancel()``
  (and, as a second Ctrl-C would, once more soon after);
- ``asyncio.run(main())`` returning while a broadcast still runs in a task
  of its own: asyncio.run then cancels every task left.

A send cut off that way may have reached the gateway: it must be journaled
in doubt and reported ``unknown``, never recorded as not sent, so that a rerun
with the journal texts nobody a second time.

Over real HTTP: the fake gateway (sends take 50 to 150 ms) served by uvicorn
on 127.0.0.1 behind a wrapper that logs every send it receives, per number.
Each scenario runs in its own ``asyncio.run``, as an application would (the
cancellation would reach the test runner's own tasks otherwise), and is
cancelled once the gateway has received a set number of sends, not after a
set time.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from contextlib import closing

import pytest

from iprogsms_async import IProgSMS
from iprogsms_async.broadcast import ACCEPTED, UNKNOWN, _journal
from iprogsms_async.broadcast._journal import Journal
from iprogsms_async.testing import FakeGateway, Faults
from iprogsms_async.testing._serve import serve_in_thread

from ._wire_log import WireLog

RECIPIENTS = [f"0918{i:07d}" for i in range(300)]
TEXT = "Your bill is due on the 8th"
CANCEL_AT = 60  # sends received by the gateway before every task is cancelled
LIMIT = 30.0  # seconds: an explicit bound, far above what a scenario needs
SHUTDOWN = "shutdown_handler"
TWICE = "shutdown_handler_twice"
RUN_RETURNS = "run_returns"
SHAPES = [SHUTDOWN, TWICE, RUN_RETURNS]


@pytest.fixture
def gateway():
    """The fake gateway, the log of the sends it received, and its base URL."""
    fake = FakeGateway(
        credits=1_000_000,
        seed=11,
        faults=Faults(latency=(0.05, 0.15), endpoints="sends"),
    )
    wire = WireLog(fake.app)
    with serve_in_thread(wire, host="127.0.0.1", port=0, path="/api/v1") as url:
        yield fake, wire, url


def settled(fake):
    """Wait until the gateway has finished with every request it received."""
    deadline = time.monotonic() + LIMIT
    while fake.in_flight:
        assert time.monotonic() < deadline, "the gateway kept requests in flight"
        time.sleep(0.005)


def cancel_every_task():
    for task in asyncio.all_tasks():
        task.cancel()


async def busy(fake):
    """Return once the gateway has received `CANCEL_AT` sends."""
    while fake.requests["POST /sms_messages"] < CANCEL_AT:
        await asyncio.sleep(0.002)


def run_cancelled(shape, fake, url, backend, **options):
    """Run a broadcast, and cancel every task in the middle of it."""
    options = {"message": TEXT, "concurrency": 30, "poll": False, **options}

    def client():
        return IProgSMS(fake.token, base_url=url, http_backend=backend)

    async def shutdown_handler():
        loop = asyncio.get_running_loop()

        async def watch():
            await busy(fake)
            # As a signal handler would, outside any task: every task.
            loop.call_soon(cancel_every_task)
            if shape == TWICE:  # and again, while the first one unwinds
                loop.call_later(0.01, cancel_every_task)

        watcher = asyncio.create_task(watch())
        try:
            async with client() as sender:
                await sender.broadcast(RECIPIENTS, **options)
        finally:
            watcher.cancel()

    async def run_returns():
        async def in_background():
            async with client() as sender:
                await sender.broadcast(RECIPIENTS, **options)

        asyncio.create_task(in_background())  # noqa: RUF006 -- left running
        await busy(fake)  # main returns; asyncio.run cancels what is left

    async def bounded(scenario):
        stop = asyncio.get_running_loop().call_later(LIMIT, cancel_every_task)
        try:
            await scenario()
        finally:
            stop.cancel()

    if shape == RUN_RETURNS:
        asyncio.run(bounded(run_returns))
    else:
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(bounded(shutdown_handler))
    settled(fake)


def run_to_the_end(fake, url, backend, **options):
    async def main():
        async with IProgSMS(fake.token, base_url=url, http_backend=backend) as c:
            return await c.broadcast(
                RECIPIENTS, message=TEXT, concurrency=30, poll=False, **options
            )

    report = asyncio.run(asyncio.wait_for(main(), LIMIT))
    settled(fake)
    return report


def journal_states(path):
    with closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT phone_number, state FROM recipients"))


@pytest.mark.parametrize("shape", SHAPES)
def test_a_rerun_after_every_task_was_cancelled_texts_no_one_twice(
    shape, backend, gateway, tmp_path
):
    fake, wire, url = gateway
    journal = tmp_path / "journal.sqlite"
    reported = {}

    def on_result(result):
        reported[result.phone_number] = result

    run_cancelled(shape, fake, url, backend, journal=journal, on_result=on_result)
    received = {number for number, answers in wire.answers.items() if answers}
    assert CANCEL_AT <= len(received) < len(RECIPIENTS)
    states = journal_states(journal)
    # Every send the gateway received is journaled accepted or in doubt,
    # never not sent. After a second cancellation the last commit may be
    # cut short: the row then stays "sending", which reads as in doubt too.
    journaled = {"accepted", "unknown"} | ({"sending"} if shape == TWICE else set())
    assert {n: states.get(n) for n in received if states.get(n) not in journaled} == {}
    # And each was reported, as accepted with its id or as in doubt.
    for number in received:
        result = reported[number]
        assert result.status in (ACCEPTED, UNKNOWN), result
        assert result.status == ACCEPTED or result.error.maybe_sent, result

    report = run_to_the_end(fake, url, backend, journal=journal)
    assert [r.phone_number for r in report.results] == RECIPIENTS
    # Nobody got a second request, let alone a second text.
    requests = Counter(
        {number: len(answers) for number, answers in wire.answers.items()}
    )
    assert max(requests.values()) == 1
    texts = Counter(message.phone_number for message in fake.messages)
    assert max(texts.values()) == 1
    # The rerun sent everyone the first run recorded as never sent, and
    # left alone (as unknown) those it recorded as maybe sent.
    in_doubt = {n for n, state in states.items() if state in ("unknown", "sending")}
    unknown = {r.phone_number for r in report.results if r.status == UNKNOWN}
    assert unknown == in_doubt
    assert set(texts) >= set(RECIPIENTS) - in_doubt
    # (A send cut off after it was handed to the transport, but before any
    # byte left, is in doubt though the gateway never saw it: the client
    # cannot tell. Those are few: the sends in flight at the cancellation.)
    assert len(in_doubt - received) < 30


@pytest.mark.parametrize("shape", SHAPES)
def test_without_a_journal_every_text_the_gateway_holds_is_reported(
    shape, backend, gateway
):
    fake, wire, url = gateway
    reported = []
    run_cancelled(shape, fake, url, backend, on_result=reported.append)
    held = {m.message_id: m.phone_number for m in fake.messages}
    assert 0 < len(held) < len(RECIPIENTS)
    with_id = {r.message_id: r.phone_number for r in reported if r.message_id}
    in_doubt = {r.phone_number for r in reported if r.status == UNKNOWN}
    # Every text the gateway holds was reported, with its id or in doubt.
    assert set(with_id.items()) <= set(held.items())
    assert set(held.values()) - set(with_id.values()) <= in_doubt
    # So was every send it received, whatever came of it.
    received = {number for number, answers in wire.answers.items() if answers}
    assert received <= set(with_id.values()) | in_doubt
    assert all(r.error.maybe_sent for r in reported if r.status == UNKNOWN)


def test_a_journal_write_abandoned_by_a_cancellation_is_never_overlapped(
    tmp_path, monkeypatch
):
    # asyncio's own cancellation lets a task go while its thread still writes
    # the journal: the next write and the close must wait for that thread
    # (two threads on one sqlite3 connection can crash the process).
    writing = threading.Lock()
    started = threading.Event()
    overlaps = []
    write = _journal._write

    def slow_write(connection, rows):
        if not writing.acquire(blocking=False):
            overlaps.append(rows)
            return
        try:
            started.set()
            time.sleep(0.2)
            write(connection, rows)
        finally:
            writing.release()

    monkeypatch.setattr(_journal, "_write", slow_write)
    key = ("09180000001", "digest")

    async def main():
        journal = await Journal.open(tmp_path / "journal.sqlite")
        intending = asyncio.create_task(journal.intend([key]))
        while not started.is_set():
            await asyncio.sleep(0.005)
        intending.cancel()  # the thread writes on, abandoned
        with pytest.raises(asyncio.CancelledError):
            await intending
        journal.record(key, "accepted", message_id="iSms-1")
        await journal.aclose()

    asyncio.run(main())
    assert overlaps == []
    assert journal_states(tmp_path / "journal.sqlite") == {key[0]: "accepted"}


def test_a_journal_closed_as_every_task_is_cancelled_is_released(tmp_path):
    # A second "cancel every task" may land as aclose() has just handed its
    # last commit and close to a task of their own, before that task's first
    # step: the close must still run, or the file stays locked and a rerun
    # right after is refused as "in use by another running broadcast".
    path = tmp_path / "journal.sqlite"
    key = ("09180000001", "digest")

    async def main():
        journal = await Journal.open(path)
        journal.record(key, "accepted", message_id="iSms-1")
        me = asyncio.current_task()

        def cancel_every_other_task():
            for task in asyncio.all_tasks():
                if task is not me:
                    task.cancel()

        closing = asyncio.create_task(journal.aclose())
        # Runs right after closing's first step, in the same loop iteration.
        asyncio.get_running_loop().call_soon(cancel_every_other_task)
        with pytest.raises(asyncio.CancelledError):
            await closing
        rerun = await Journal.open(path)
        await rerun.aclose()
        return rerun.lookup(*key)

    entry = asyncio.run(main())
    assert (entry.state, entry.message_id) == ("accepted", "iSms-1")
