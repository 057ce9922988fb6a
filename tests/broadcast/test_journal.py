"""Journal and resume: a rerun never texts anyone twice."""

import sqlite3
from contextlib import closing

import anyio
import pytest

from iprogsms_async import InsufficientCreditsError, JournalError
from iprogsms_async.broadcast import ACCEPTED, NOT_SENT, UNKNOWN, _journal
from iprogsms_async.broadcast._journal import text_digest
from iprogsms_async.testing import FakeGateway, Faults, ManualClock

from .conftest import numbers

pytestmark = pytest.mark.anyio


async def broadcast_until(client, recipients, journal, stop_after, **options):
    """Run a journaled broadcast and cancel it after ``stop_after`` results."""
    seen = []
    with anyio.CancelScope() as scope:

        def on_result(result):
            seen.append(result)
            if len(seen) >= stop_after:
                scope.cancel()

        await client.broadcast(
            recipients, message="Hi", journal=journal, on_result=on_result, **options
        )
    return seen


async def test_a_cancelled_broadcast_resumes_without_a_second_text(
    tmp_path, no_backoff
):
    fake = FakeGateway(credits=100_000, seed=2, faults=Faults(latency=(0.0, 0.004)))
    recipients = numbers(300)
    journal = tmp_path / "broadcast.sqlite"
    async with fake.client() as client:
        first = await broadcast_until(
            client, recipients, journal, stop_after=120, concurrency=10, poll=False
        )
        sent_first = len(fake.messages)
        assert 120 <= sent_first < 300
        # Every text the gateway holds was reported by the first run: after a
        # cancellation no send is in doubt.
        assert {r.message_id for r in first if r.message_id} == {
            m.message_id for m in fake.messages
        }
        second = await client.broadcast(
            recipients, message="Hi", journal=journal, concurrency=10, poll=False
        )
    assert second.counts == {ACCEPTED: 300}
    for number in recipients:
        assert fake.texts_to(number) == ["Hi"]
    assert fake.requests["POST /sms_messages"] == 300


async def test_a_resumed_broadcast_goes_on_polling_what_was_accepted(
    tmp_path, no_backoff
):
    clock = ManualClock()
    fake = FakeGateway(credits=1000, seed=2, delivery_delay=3600, clock=clock)
    journal = tmp_path / "j.sqlite"
    recipients = numbers(20)
    async with fake.client() as client:
        first = await client.broadcast(
            recipients,
            message="Hi",
            journal=journal,
            poll_interval=0.01,
            poll_timeout=0.05,
        )
        assert first.counts == {"pending": 20}
        clock.advance(3600)  # deliveries catch up
        second = await client.broadcast(
            recipients, message="Hi", journal=journal, poll_interval=0.01
        )
    assert second.counts == {"delivered": 20}
    assert [r.message_id for r in second.results] == [
        r.message_id for r in first.results
    ]
    assert fake.requests["POST /sms_messages"] == 20


async def test_final_results_are_read_back_without_requests(tmp_path, no_backoff):
    fake = FakeGateway(credits=1000, seed=2)
    journal = tmp_path / "j.sqlite"
    async with fake.client() as client:
        await client.broadcast(
            numbers(5), message="Hi", journal=journal, poll_interval=0.01
        )
        fake.reset_counters()
        again = await client.broadcast(numbers(5), message="Hi", journal=journal)
    assert again.counts == {"delivered": 5}
    assert sum(fake.requests.values()) == 0


async def test_a_send_in_doubt_after_a_crash_is_unknown_and_not_resent(
    tmp_path, client, fake
):
    journal = tmp_path / "j.sqlite"
    recipients = numbers(3)
    # What a run killed mid-send leaves: the intent committed, no outcome.
    async with fake.client() as c:
        await c.broadcast(recipients[:1], message="Hi", journal=journal, poll=False)
    with closing(sqlite3.connect(journal)) as db, db:
        db.execute(
            "INSERT INTO recipients VALUES (?, ?, 'sending', NULL, NULL, NULL, 0)",
            ("09181234567", text_digest("Hi")),
        )
    report = await client.broadcast(
        [*recipients, "09181234567"], message="Hi", journal=journal, poll=False
    )
    statuses = [r.status for r in report.results]
    assert statuses == [ACCEPTED, ACCEPTED, ACCEPTED, UNKNOWN]
    assert report.results[3].error.maybe_sent
    assert "earlier run" in str(report.results[3].error)
    assert fake.texts_to("09181234567") == []


async def test_not_sent_recipients_are_sent_on_the_rerun(tmp_path, no_backoff):
    fake = FakeGateway(credits=2, seed=2)
    journal = tmp_path / "j.sqlite"
    async with fake.client() as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.broadcast(
                numbers(4), message="Hi", journal=journal, poll=False
            )
        assert caught.value.report.counts == {ACCEPTED: 2, NOT_SENT: 2}
        fake.credits = 10
        second = await client.broadcast(
            numbers(4), message="Hi", journal=journal, poll=False
        )
    assert second.counts == {ACCEPTED: 4}
    assert len(fake.messages) == 4


async def test_the_dry_run_counts_what_a_journal_already_sent(tmp_path, client):
    journal = tmp_path / "j.sqlite"
    await client.broadcast(numbers(3), message="Hi", journal=journal, poll=False)
    report = await client.broadcast(
        numbers(5), message="Hi", journal=journal, dry_run=True
    )
    assert report.estimate.already_sent == 3
    assert report.estimate.valid == 2
    assert report.estimate.segments == 2


async def test_two_runs_cannot_share_a_journal(tmp_path, no_backoff):
    fake = FakeGateway(credits=1000, seed=2, faults=Faults(latency=0.05))
    journal = tmp_path / "j.sqlite"
    async with (
        fake.client() as client,
        client.broadcast_stream(
            numbers(50), message="Hi", journal=journal, concurrency=2, poll=False
        ) as results,
    ):
        await results.__anext__()
        with pytest.raises(JournalError, match="in use"):
            await client.broadcast(numbers(2), message="Other", journal=journal)


async def test_a_file_that_is_not_a_journal_is_refused(tmp_path, client, fake):
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(JournalError, match="not a broadcast journal"):
        await client.broadcast(numbers(2), message="Hi", journal=path)
    assert sum(fake.requests.values()) == 0


async def test_an_on_result_that_raises_still_closes_and_flushes_the_journal(
    tmp_path, fake, client
):
    journal = tmp_path / "j.sqlite"

    def explode(result):
        raise RuntimeError("my callback broke")

    with pytest.raises(RuntimeError, match="my callback broke"):
        await client.broadcast(
            numbers(6),
            message="Hi",
            journal=journal,
            batch_size=6,
            poll=False,
            on_result=explode,
        )
    # The file is free again, and every id the gateway gave was recorded.
    with closing(sqlite3.connect(journal)) as db:
        rows = db.execute("SELECT state, message_id FROM recipients").fetchall()
    assert len(rows) == 6
    assert {state for state, _ in rows} == {"accepted"}
    assert {m for _, m in rows} == {m.message_id for m in fake.messages}


async def test_a_journal_that_cannot_be_written_stops_the_broadcast(
    tmp_path, fake, client, monkeypatch
):
    def broken(connection, rows):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(_journal, "_write", broken)
    with pytest.raises(JournalError, match="disk I/O error"):
        await client.broadcast(numbers(20), message="Hi", journal=tmp_path / "j.sqlite")
    assert fake.messages == []  # nothing went out that could not be recorded


async def test_a_dry_run_does_not_create_a_journal(tmp_path, client):
    journal = tmp_path / "never.sqlite"
    await client.broadcast(numbers(3), message="Hi", journal=journal, dry_run=True)
    assert not journal.exists()


async def test_a_send_in_doubt_after_a_5xx_says_so_on_resume(tmp_path, fake, client):
    journal = tmp_path / "j.sqlite"
    fake.fail_next("server_error_after_accept", endpoints="sends")
    first = await client.broadcast(
        numbers(1), message="Hi", journal=journal, poll=False
    )
    assert first.counts == {UNKNOWN: 1}
    again = await client.broadcast(
        numbers(1), message="Hi", journal=journal, poll=False
    )
    assert again.counts == {UNKNOWN: 1}
    error = str(again.results[0].error)
    assert "no clear answer" in error
    assert "HTTP 500" in error
    assert len(fake.messages) == 1  # never sent again


async def test_a_resumed_run_counts_earlier_accepted_texts_as_its_results_do(
    tmp_path, no_backoff
):
    """Against a new gateway (a fresh sandbox) the earlier ids are unknown."""
    journal = tmp_path / "j.sqlite"
    recipients = numbers(30)
    first_fake = FakeGateway(credits=1000, seed=2)
    async with first_fake.client() as client:
        await client.broadcast(
            recipients[:10], message="Hi", journal=journal, poll_interval=0.01
        )  # delivered: final in the journal
        await client.broadcast(
            recipients[10:20], message="Hi", journal=journal, poll=False
        )  # accepted: still to poll
    fresh = FakeGateway(credits=1000, seed=3)
    snapshots = []
    async with fresh.client() as client:
        report = await client.broadcast(
            recipients,
            message="Hi",
            journal=journal,
            poll_interval=0.01,
            on_progress=snapshots.append,
        )
    # The fresh gateway does not know the first ten ids of either kind: they
    # keep what the journal recorded and are not sent again.
    assert report.counts == {"delivered": 20, ACCEPTED: 10}
    assert len(fresh.messages) == 10
    sent = sum(1 for result in report.results if result.sent)
    assert snapshots[-1].accepted == sent == 30


async def test_a_send_whose_intent_was_not_committed_is_sent_by_the_rerun(
    tmp_path, no_backoff, monkeypatch
):
    """A commit that fails keeps its rows for the next one: the intent must not
    then stand as "sending" (read as in doubt by a rerun, never sent again)."""
    real_write = _journal.Journal._write
    failures = iter([True])

    async def write_failing_once(self, rows):
        if any(row[2] == "sending" for row in rows) and next(failures, False):
            raise JournalError("the disk is full")
        await real_write(self, rows)

    monkeypatch.setattr(_journal.Journal, "_write", write_failing_once)
    fake = FakeGateway(credits=1000, seed=3)
    recipients = numbers(12)
    journal = tmp_path / "j.sqlite"
    async with fake.client() as client:
        with pytest.raises(JournalError, match="disk is full"):
            await client.broadcast(
                recipients, message="Hi", journal=journal, concurrency=1, poll=False
            )
        assert fake.messages == []  # nothing goes out that the journal cannot record
        monkeypatch.setattr(_journal.Journal, "_write", real_write)
        rerun = await client.broadcast(
            recipients, message="Hi", journal=journal, concurrency=1, poll=False
        )
    assert rerun.counts == {ACCEPTED: 12}
    for number in recipients:
        assert fake.texts_to(number) == ["Hi"]
