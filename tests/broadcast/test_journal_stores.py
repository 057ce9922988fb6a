"""One suite, both journal stores: SQLite and PostgreSQL keep the same promises.

Every test here runs against the SQLite file and against a real PostgreSQL
server (a database of the test's own; see tests/servers.py), under asyncio
and trio. The promises: ``intend`` is committed before it returns; outcomes
are batched until a flush; a rerun looks up exactly what a crash left (only
``not_sent`` is sendable again; ``sending`` and ``unknown`` are in doubt); a
broadcast in use cannot be opened twice; broadcasts never share records; a
newer schema is refused; and a broadcast run through the engine on either
store resumes without texting anyone twice, leaving no token in the store.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import anyio
import anyio.lowlevel
import pytest

from iprogsms_async import ConfigurationError, JournalError
from iprogsms_async.broadcast import ACCEPTED, UNKNOWN
from iprogsms_async.broadcast._claims import SharedJournal
from iprogsms_async.broadcast._journal import Journal
from iprogsms_async.broadcast._journal_store import (
    STATE_ACCEPTED,
    STATE_FINAL,
    STATE_IN_DOUBT,
    STATE_NOT_SENT,
    STATE_SENDING,
    JournalCounts,
    JournalEntry,
    text_digest,
)
from iprogsms_async.broadcast._postgres import (
    STATE_CLAIMED,
    STATE_PLANNED,
    PostgresJournal,
)
from iprogsms_async.broadcast._stores import journal_status, open_journal
from iprogsms_async.testing import FakeGateway, Faults

from .conftest import numbers
from .test_journal import broadcast_until

pytestmark = pytest.mark.anyio

DIGEST = text_digest("Hi")


def key(i):
    return (f"0917{i:07d}", DIGEST)


class SQLiteStore:
    """Opens, crashes and reads the SQLite journal of a test."""

    kind = "sqlite"

    def __init__(self, tmp_path):
        self.folder = tmp_path

    def target(self, name):
        # One file a broadcast: the file is the namespace.
        return self.folder / f"{name}.sqlite"

    async def open(self, name="broadcast"):
        return await open_journal(self.target(name), name=name)

    def journal(self, name):
        """What ``broadcast(journal=...)`` is given for the broadcast ``name``."""
        return self.target(name)

    def crash(self, journal):
        """What a killed process leaves: the connection gone, the queue lost."""
        journal._db.close()
        journal._closed = True

    def rows(self, name="broadcast"):
        with closing(sqlite3.connect(self.target(name))) as db:
            found = db.execute(
                "SELECT phone_number, text_digest, state, message_id, status, error "
                "FROM recipients"
            ).fetchall()
        return {(n, d): (s, m, st, e) for n, d, s, m, st, e in found}

    def set_version(self, version):
        with closing(sqlite3.connect(self.target("broadcast"))) as db, db:
            db.execute("UPDATE schema_version SET version = ?", (version,))

    def dump(self):
        """Every byte the store wrote, as text."""
        return "".join(
            path.read_bytes().decode("latin-1") for path in self.folder.iterdir()
        )


class PostgresStore:
    """Opens, crashes and reads the PostgreSQL journal of a test."""

    kind = "postgres"

    def __init__(self, url):
        self.url = url

    async def open(self, name="broadcast"):
        return await open_journal(self.url, name=name)

    def journal(self, _name):
        """What ``broadcast(journal=...)`` is given: one URL for every broadcast."""
        return self.url

    def crash(self, journal):
        backend = journal._db.info.backend_pid
        journal._db.close()
        journal._closed = True
        # The server ends the session (and frees its lock) once it notices
        # the connection closed: wait for that, as a rerun after a kill would.
        with self._connect() as db:
            for _ in range(1000):
                gone = db.execute(
                    "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s",
                    (backend,),
                ).fetchone()[0]
                if gone:
                    break
                time.sleep(0.01)

    def _connect(self):
        import psycopg  # noqa: PLC0415 -- only with a server

        return psycopg.connect(self.url, autocommit=True)

    def rows(self, name="broadcast"):
        """Read from a second connection: only what is committed shows."""
        with self._connect() as db:
            found = db.execute(
                "SELECT phone_number, text_digest, state, message_id, status, error "
                "FROM iprogsms_recipients WHERE broadcast = %s",
                (name,),
            ).fetchall()
        return {(n, d): (s, m, st, e) for n, d, s, m, st, e in found}

    def set_version(self, version):
        with self._connect() as db:
            db.execute("UPDATE iprogsms_schema_version SET version = %s", (version,))

    def dump(self):
        with self._connect() as db:
            tables = [
                row[0]
                for row in db.execute(
                    "SELECT tablename FROM pg_tables WHERE tablename LIKE 'iprogsms%'"
                )
            ]
            return "\n".join(
                str(db.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608 -- our tables
                for table in tables
            )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return SQLiteStore(tmp_path)
    return PostgresStore(request.getfixturevalue("postgres_url"))


# --- write-ahead and batching ------------------------------------------------


async def test_intend_is_committed_before_it_returns(store):
    journal = await store.open()
    # A run of its own may send every key it intends (a shared worker's
    # journal returns only those it still holds: test_shared.py).
    assert await journal.intend([key(1), key(2)]) == [key(1), key(2)]
    if store.kind == "postgres":  # visible to another session while running
        assert store.rows()[key(1)][0] == STATE_SENDING
    store.crash(journal)
    assert {k: row[0] for k, row in store.rows().items()} == {
        key(1): STATE_SENDING,
        key(2): STATE_SENDING,
    }
    again = await store.open()
    try:
        assert again.lookup(*key(1)) == JournalEntry(STATE_SENDING, None, None)
    finally:
        await again.aclose()


async def test_outcomes_wait_in_the_queue_until_a_flush(store):
    journal = await store.open()
    journal.flush_every = 3600.0
    await journal.intend([key(1), key(2)])
    journal.record(key(1), STATE_ACCEPTED, message_id="m-1")
    await journal.flush_if_due()  # not due
    if store.kind == "postgres":
        assert store.rows()[key(1)][0] == STATE_SENDING
    await journal.flush()
    journal.record(key(2), STATE_ACCEPTED, message_id="m-2")
    store.crash(journal)  # key(2)'s outcome was only queued: lost, in doubt
    rows = store.rows()
    assert rows[key(1)] == (STATE_ACCEPTED, "m-1", None, None)
    assert rows[key(2)] == (STATE_SENDING, None, None, None)


async def test_a_due_flush_commits_the_queue(store):
    journal = await store.open()
    await journal.intend([key(1)])
    journal.record(key(1), STATE_ACCEPTED, message_id="m-1")
    journal.flush_every = 0.0
    await journal.flush_if_due()
    store.crash(journal)
    assert store.rows()[key(1)] == (STATE_ACCEPTED, "m-1", None, None)


async def test_concurrent_intents_share_commits(store):
    journal = await store.open()
    try:
        async with anyio.create_task_group() as tasks:
            for i in range(50):
                tasks.start_soon(journal.intend, [key(i)])
        # One commit for the first caller, one for everyone who queued behind
        # it; a loaded machine may split them once or twice more.
        assert journal.commits <= 5
    finally:
        await journal.aclose()
    assert len(store.rows()) == 50


async def test_aclose_commits_the_queue_and_can_be_called_twice(store):
    journal = await store.open()
    journal.flush_every = 3600.0
    await journal.intend([key(1)])
    journal.record(key(1), STATE_FINAL, message_id="m-1", status="delivered")
    await journal.aclose()
    await journal.aclose()
    assert store.rows()[key(1)] == (STATE_FINAL, "m-1", "delivered", None)


async def test_later_rows_of_a_batch_win_and_keep_the_message_id(store):
    journal = await store.open()
    journal.flush_every = 3600.0
    await journal.intend([key(1)])
    journal.record(key(1), STATE_ACCEPTED, message_id="m-1")
    journal.record(key(1), STATE_FINAL, status="delivered")  # no id given
    await journal.aclose()
    assert store.rows()[key(1)] == (STATE_FINAL, "m-1", "delivered", None)


async def test_many_rows_of_a_key_in_one_batch_end_as_written_in_order(store):
    journal = await store.open()
    journal.flush_every = 3600.0
    await journal.intend([key(5)])
    journal.record(key(5), STATE_ACCEPTED, message_id="m-5")
    await journal.flush()
    # One batch, several rows a key, as a broadcast's queue can hold them.
    await journal.intend([key(1), key(2), key(3)])
    journal.record(key(1), STATE_ACCEPTED, message_id="m-1")
    journal.record(key(1), STATE_IN_DOUBT, error="timed out")  # keeps m-1
    journal.record(key(2), STATE_NOT_SENT, error="refused")
    journal.record(key(2), STATE_ACCEPTED, message_id="m-2")  # the error goes
    journal.record(key(3), STATE_ACCEPTED, message_id="m-3")
    journal.record(key(3), STATE_ACCEPTED, message_id="m-4")  # the later id
    journal.record(key(4), STATE_NOT_SENT, error="out of credits")
    journal.record(key(5), STATE_FINAL, status="delivered")  # m-5, committed before
    await journal.aclose()
    assert store.rows() == {
        key(1): (STATE_IN_DOUBT, "m-1", None, "timed out"),
        key(2): (STATE_ACCEPTED, "m-2", None, None),
        key(3): (STATE_ACCEPTED, "m-4", None, None),
        key(4): (STATE_NOT_SENT, None, None, "out of credits"),
        key(5): (STATE_FINAL, "m-5", "delivered", None),
    }


async def until(condition):
    for _ in range(10_000):
        if condition():
            return
        await anyio.sleep(0.001)
    raise AssertionError("never happened")


class GatedWrites:
    """Holds the journal's first write until ``release``; notes each write's rows."""

    def __init__(self, journal, *, fail_first=False):
        self.rows = []
        self.written = 0
        self.returned = []
        self._write = journal._write
        self._fail_first = fail_first
        self.first_started = anyio.Event()
        self.release = anyio.Event()
        journal._write = self.write

    async def write(self, rows):
        self.rows.append([row[:3] for row in rows])
        if len(self.rows) == 1:
            self.first_started.set()
            await self.release.wait()
            if self._fail_first:
                raise JournalError("the first commit failed")
        await self._write(rows)
        self.written += 1

    async def intend(self, journal, i):
        await journal.intend([key(i)])
        self.returned.append(i)

    async def queue_behind_the_first(self, tasks, journal, count):
        """Start intents 1 to ``count`` while the first commit is held; queue them."""
        await self.first_started.wait()
        for i in range(1, count + 1):
            tasks.start_soon(self.intend, journal, i)
        await until(lambda: len(journal._queue) == count)


async def test_intents_queued_during_a_commit_all_go_into_the_next_one(store):
    journal = await store.open()
    gated = GatedWrites(journal)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gated.intend, journal, 0)
            await gated.queue_behind_the_first(tasks, journal, 10)
            assert gated.returned == []  # nobody returns before its commit
            gated.release.set()
        # The first commit, then one for every intent queued while it was in
        # flight, started as soon as the first ended.
        assert [len(rows) for rows in gated.rows] == [1, 10]
        assert journal.commits == 2
        assert sorted(gated.returned) == list(range(11))
    finally:
        await journal.aclose()
    assert {k: row[0] for k, row in store.rows().items()} == {
        key(i): STATE_SENDING for i in range(11)
    }


async def test_the_callers_a_commit_covers_return_together(store):
    # Not one a pass of the event loop, in turn (as a lock's waiters would):
    # each pass runs every other worker's ready callbacks first.
    journal = await store.open()
    gated = GatedWrites(journal)
    passes = None

    async def count_passes():
        nonlocal passes
        while gated.written < 2:  # a pass at a time, so as to start at once
            await anyio.lowlevel.checkpoint()
        passes = 0
        while len(gated.returned) < 11:
            await anyio.lowlevel.checkpoint()
            passes += 1

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gated.intend, journal, 0)
            tasks.start_soon(count_passes)
            await gated.queue_behind_the_first(tasks, journal, 10)
            gated.release.set()
    finally:
        await journal.aclose()
    assert passes is not None
    assert passes <= 3


async def test_a_failed_commit_leaves_its_rows_to_the_next(store):
    journal = await store.open()
    gated = GatedWrites(journal, fail_first=True)
    failed = []

    async def intend_first():
        try:
            await journal.intend([key(0)])
        except JournalError:
            failed.append(0)

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(intend_first)
            await gated.queue_behind_the_first(tasks, journal, 3)
            gated.release.set()
        # Its caller hears of the failure (its send never goes out); a waiting
        # caller commits the failed rows with its own, in the next commit.
        assert failed == [0]
        assert sorted(gated.returned) == [1, 2, 3]
        assert [len(rows) for rows in gated.rows] == [1, 4]
        assert journal.commits == 1
    finally:
        await journal.aclose()
    assert set(store.rows()) == {key(i) for i in range(4)}


async def test_a_commit_cancelled_in_flight_leaves_its_rows_to_the_next(store):
    journal = await store.open()
    gated = GatedWrites(journal)
    cancelled = []

    async def intend_first(*, task_status=anyio.TASK_STATUS_IGNORED):
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            await journal.intend([key(0)])
        if scope.cancelled_caught:
            cancelled.append(0)

    try:
        async with anyio.create_task_group() as tasks:
            first = await tasks.start(intend_first)
            await gated.queue_behind_the_first(tasks, journal, 3)
            first.cancel()  # while its commit is in flight
        assert cancelled == [0]
        assert sorted(gated.returned) == [1, 2, 3]
        assert [len(rows) for rows in gated.rows] == [1, 4]
    finally:
        await journal.aclose()
    assert set(store.rows()) == {key(i) for i in range(4)}


# --- resume --------------------------------------------------------------------


async def test_a_rerun_sees_what_may_have_gone_out_and_nothing_else(store):
    journal = await store.open()
    await journal.intend([key(i) for i in range(5)])
    journal.record(key(1), STATE_ACCEPTED, message_id="m-1", status="pending")
    journal.record(key(2), STATE_FINAL, message_id="m-2", status="delivered")
    journal.record(key(3), STATE_IN_DOUBT, error="read timeout (maybe sent)")
    journal.record(key(4), STATE_NOT_SENT, error="HTTP 402: no credits")
    await journal.aclose()

    again = await store.open()
    try:
        assert again.lookup(*key(0)) == JournalEntry(STATE_SENDING, None, None)
        assert again.lookup(*key(1)) == JournalEntry(STATE_ACCEPTED, "m-1", "pending")
        assert again.lookup(*key(2)) == JournalEntry(STATE_FINAL, "m-2", "delivered")
        assert again.lookup(*key(3)) == JournalEntry(
            STATE_IN_DOUBT, None, None, "read timeout (maybe sent)"
        )
        assert again.lookup(*key(4)) is None  # not sent: sendable again
        assert again.lookup(*key(9)) is None  # never seen
        assert again.lookup(key(1)[0], text_digest("Another text")) is None
    finally:
        await again.aclose()


async def test_a_broadcast_in_use_cannot_be_opened_again(store):
    journal = await store.open()
    try:
        with pytest.raises(JournalError, match="in use by another running broadcast"):
            await store.open()
    finally:
        await journal.aclose()
    again = await store.open()  # free once closed
    await again.aclose()


async def test_a_crashed_run_frees_its_broadcast(store):
    journal = await store.open()
    await journal.intend([key(1)])
    store.crash(journal)  # the process died: its connection, and lock, with it
    again = await store.open()
    try:
        assert again.lookup(*key(1)).state == STATE_SENDING
    finally:
        await again.aclose()


async def test_two_broadcasts_never_share_records(store):
    first = await store.open("first")
    second = await store.open("second")  # both at once: different broadcasts
    try:
        await first.intend([key(1)])
        first.record(key(1), STATE_ACCEPTED, message_id="m-1")
        await second.intend([key(2)])
    finally:
        await first.aclose()
        await second.aclose()
    assert set(store.rows("first")) == {key(1)}
    assert set(store.rows("second")) == {key(2)}
    again = await store.open("second")
    try:
        assert again.lookup(*key(1)) is None
        assert again.lookup(*key(2)).state == STATE_SENDING
    finally:
        await again.aclose()


async def test_a_newer_schema_is_refused(store):
    journal = await store.open()
    await journal.aclose()
    store.set_version(99)
    with pytest.raises(JournalError, match=r"newer iprogsms-async \(schema version 99"):
        await store.open()


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "tab\there", 7])
async def test_a_bad_name_is_refused(store, name):
    target = store.url if store.kind == "postgres" else store.target("any")
    with pytest.raises(ConfigurationError, match="name"):
        await open_journal(target, name=name)


# --- the engine, unchanged, on either store ----------------------------------------


async def test_a_broadcast_resumes_on_either_store_without_a_second_text(
    store, no_backoff
):
    # Through the public API: the journal option names the store (a file, or a
    # postgresql:// URL with the broadcast's name), as a user gives it.
    fake = FakeGateway(credits=100_000, seed=3, faults=Faults(latency=(0.0, 0.003)))
    recipients = numbers(120)
    journal = store.journal("j")
    async with fake.client() as client:
        first = await broadcast_until(
            client,
            recipients,
            journal,
            stop_after=50,
            concurrency=8,
            poll=False,
            name="j",
        )
        assert 50 <= len(fake.messages) < 120
        assert {r.message_id for r in first if r.message_id} == {
            m.message_id for m in fake.messages
        }
        fake.fail_next("server_error_after_accept", endpoints="sends")
        second = await client.broadcast(
            recipients,
            message="Hi",
            journal=journal,
            name="j",
            concurrency=8,
            poll=False,
        )
        third = await client.broadcast(
            recipients,
            message="Hi",
            journal=journal,
            name="j",
            concurrency=8,
            poll=False,
        )
    assert second.counts == {ACCEPTED: 119, UNKNOWN: 1}
    assert third.counts == second.counts  # the one in doubt is never resent
    for number in recipients:
        assert fake.texts_to(number) == ["Hi"]
    assert fake.requests["POST /sms_messages"] == 120
    # Only numbers, digests, ids, statuses and redacted errors were written.
    dump = store.dump()
    assert fake.token not in dump
    assert "no clear answer" in dump or "HTTP 500" in dump


# --- progress: the counts of one query ---------------------------------------------


def tally(rows):
    """The counts a store's rows make, by state and, for final rows, by status."""
    states, final = {}, {}
    for state, _message_id, status, _error in rows.values():
        states[state] = states.get(state, 0) + 1
        if state == STATE_FINAL:
            final[status] = final.get(status, 0) + 1
    return states, final


async def test_the_counts_of_a_cancelled_broadcast_are_what_its_journal_holds(
    store, no_backoff
):
    fake = FakeGateway(credits=100_000, seed=5, faults=Faults(latency=(0.0, 0.003)))
    recipients = numbers(90)
    async with fake.client() as client:
        seen = await broadcast_until(
            client,
            recipients,
            store.journal("p"),
            stop_after=30,
            concurrency=8,
            poll=False,
            name="p",
        )
    counts = await journal_status(store.journal("p"), name="p")
    states, final = tally(store.rows("p"))
    assert dict(counts.states) == states
    assert dict(counts.final) == final
    assert counts.total == len(store.rows("p"))
    # After a cancellation nothing is in doubt: every text the gateway holds
    # is an accepted row, as the run reported it.
    assert counts.accepted == len(fake.messages) == counts.states[STATE_ACCEPTED]
    assert counts.accepted >= sum(1 for result in seen if result.status == ACCEPTED)
    assert counts.in_doubt == 0
    assert 30 <= counts.total < 90


async def test_an_open_journal_counts_committed_rows_by_state_and_status(store):
    journal = await store.open("c")
    try:
        await journal.intend([key(i) for i in range(6)])
        journal.record(key(0), STATE_FINAL, message_id="m0", status="delivered")
        journal.record(key(1), STATE_FINAL, message_id="m1", status="delivered")
        journal.record(key(2), STATE_FINAL, message_id="m2", status="failed")
        journal.record(key(3), STATE_ACCEPTED, message_id="m3", status="pending")
        journal.record(key(4), STATE_IN_DOUBT, error="no clear answer")
        queued = await journal.counts()
        assert queued == JournalCounts.from_rows([(STATE_SENDING, None, 6)])
        await journal.flush()
        counts = await journal.counts()
    finally:
        await journal.aclose()
    assert dict(counts.states) == {
        STATE_FINAL: 3,
        STATE_ACCEPTED: 1,
        STATE_IN_DOUBT: 1,
        STATE_SENDING: 1,
    }
    assert dict(counts.final) == {"delivered": 2, "failed": 1}
    assert (counts.total, counts.accepted, counts.in_doubt) == (6, 4, 2)
    assert await journal_status(store.journal("c"), name="c") == counts


async def test_reading_the_counts_leaves_a_running_broadcast_its_lock(store):
    journal = await store.open("r")
    try:
        await journal.intend([key(1), key(2)])
        if store.kind == "sqlite":
            # The running broadcast holds the file: the reader is told why.
            with pytest.raises(JournalError, match="in use by a running broadcast"):
                await journal_status(store.journal("r"), name="r")
        else:
            counts = await journal_status(store.journal("r"), name="r")
            assert dict(counts.states) == {STATE_SENDING: 2}
        # The broadcast still holds its journal: a second run is refused.
        with pytest.raises(JournalError, match="in use"):
            await store.open("r")
        journal.record(key(1), STATE_NOT_SENT)
        await journal.flush()
    finally:
        await journal.aclose()
    counts = await journal_status(store.journal("r"), name="r")
    assert dict(counts.states) == {STATE_SENDING: 1, STATE_NOT_SENT: 1}


async def test_the_counts_of_a_broadcast_never_used_are_refused(store):
    journal = await store.open("known")
    await journal.aclose()
    if store.kind == "sqlite":
        missing, match = store.journal("never"), "no journal at"
    else:
        missing, match = store.journal("never"), "no broadcast named 'never'"
    with pytest.raises(JournalError, match=match):
        await journal_status(missing, name="never")
    known = await journal_status(store.journal("known"), name="known")
    assert (known.total, dict(known.states)) == (0, {})


async def test_status_checks_the_name_and_the_kind_of_journal(tmp_path):
    journal = await open_journal(tmp_path / "a.sqlite", name="a")
    await journal.aclose()
    with pytest.raises(JournalError, match="holds the broadcast 'a', not 'b'"):
        await journal_status(tmp_path / "a.sqlite", name="b")
    (tmp_path / "text.sqlite").write_text("not a database at all " * 100)
    with pytest.raises(JournalError, match="not a broadcast journal"):
        await journal_status(tmp_path / "text.sqlite")
    with pytest.raises(ConfigurationError, match="needs a broadcast name"):
        await journal_status("postgresql://someone@127.0.0.1:1/db")
    with pytest.raises(ConfigurationError, match="not a redis:// URL"):
        await journal_status("redis://localhost/0")


async def test_a_database_without_journal_tables_holds_no_broadcast(postgres_url):
    # Reading creates nothing: no tables yet is no such broadcast.
    with pytest.raises(JournalError, match="no broadcast named 'x'"):
        await journal_status(postgres_url, name="x")


# --- only where the stores differ --------------------------------------------------


async def test_a_sqlite_journal_holds_one_named_broadcast(tmp_path):
    path = tmp_path / "j.sqlite"
    journal = await open_journal(path, name="june-bills")
    await journal.aclose()
    with pytest.raises(JournalError, match="holds the broadcast 'june-bills'"):
        await open_journal(path, name="july-bills")
    journal = await open_journal(path)  # no name: the file is the broadcast
    assert isinstance(journal, Journal)
    await journal.aclose()


async def test_a_postgres_journal_needs_a_name(postgres_url):
    with pytest.raises(ConfigurationError, match="needs a broadcast name"):
        await open_journal(postgres_url)


async def test_another_url_scheme_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="mysql://"):
        await open_journal("mysql://localhost/db", name="x")


async def test_an_unreachable_database_is_a_journal_error_without_the_password():
    with pytest.raises(JournalError) as caught:
        await open_journal(
            "postgresql://me:hunter2-secret@127.0.0.1:1/nowhere?connect_timeout=5",
            name="x",
        )
    assert "hunter2" not in str(caught.value)
    assert "postgresql://me:[REDACTED]@127.0.0.1:1/nowhere" in str(caught.value)


async def test_without_psycopg_the_error_says_what_to_install(monkeypatch):
    import sys  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigurationError, match=r"iprogsms-async\[postgres\]"):
        await open_journal("postgresql://127.0.0.1:1/x", name="x")


async def test_a_lost_database_connection_is_a_journal_error(postgres_url):
    journal = await open_journal(postgres_url, name="b")
    journal._db.close()  # the server went away
    with pytest.raises(JournalError):
        await journal.intend([key(1)])


# --- claims: many workers on one PostgreSQL broadcast (tests/broadcast/test_shared.py
# runs whole workers) ------------------------------------------------------------------


def plan_rows(count):
    """(position, number, text): two texts, so claims must fetch the right one."""
    return [(i, f"0917{i:07d}", "Hi" if i % 2 else "Hello") for i in range(count)]


def claimed_rows(batch):
    return [(c.position, c.phone_number, c.message) for c in batch]


async def join(postgres_url, worker, lease=60.0):
    return await SharedJournal.join(postgres_url, name="b", worker=worker, lease=lease)


async def planned(postgres_url, count, worker="planner"):
    journal = await join(postgres_url, worker)
    assert await journal.plan(plan_rows(count)) == count
    return journal


async def test_planning_twice_adds_nothing(postgres_url):
    journal = await planned(postgres_url, 10)
    try:
        assert await journal.plan(plan_rows(12)) == 2
    finally:
        await journal.aclose()


async def test_workers_claim_disjoint_batches_in_input_order(postgres_url):
    first = await planned(postgres_url, 30, worker="w1")
    second = await join(postgres_url, "w2")
    claims = {}
    try:
        async with anyio.create_task_group() as tasks:
            for worker, journal in (("w1", first), ("w2", second)):

                async def claim(worker=worker, journal=journal):
                    batches = []
                    while batch := await journal.claim(4):
                        batches.extend(claimed_rows(batch))
                    claims[worker] = batches

                tasks.start_soon(claim)
    finally:
        await first.aclose()
        await second.aclose()
    everyone = claims["w1"] + claims["w2"]
    assert sorted(everyone) == plan_rows(30)
    for batches in claims.values():
        assert batches == sorted(batches)


async def test_a_lapsed_claim_is_claimed_again_but_a_started_send_never(postgres_url):
    journal = await planned(postgres_url, 4)
    dead = await join(postgres_url, "dead-worker", lease=0.001)
    w2 = await join(postgres_url, "w2", lease=0.001)
    w3 = await join(postgres_url, "w3")
    try:
        lapsed = await dead.claim(4)
        assert [c.position for c in lapsed] == [0, 1, 2, 3]
        await anyio.sleep(0.05)
        # The next worker finds the leases run out: it claims them all again,
        # and starts sending two of them; then it stops renewing its lease.
        again = await w2.claim(4)
        assert claimed_rows(again) == claimed_rows(lapsed)
        started = [c.key for c in again[:2]]
        assert await w2.intend(started) == started
        await anyio.sleep(0.05)
        # w3 claims the two w2 never started, and reaps the two it did:
        # unknown, to report, never to send.
        taken = await w3.claim(4)
        assert [(c.position, c.state) for c in taken] == [
            (0, STATE_IN_DOUBT),
            (1, STATE_IN_DOUBT),
            (2, STATE_CLAIMED),
            (3, STATE_CLAIMED),
        ]
        assert "w2/" not in taken[0].error  # the token given here has no suffix
        assert "the worker sending it (w2) stopped" in taken[0].error
        assert await w3.claim(4) == []
        # The dead worker's late intent takes nothing: w3 holds those rows.
        assert await dead.intend([c.key for c in lapsed]) == []
    finally:
        await journal.aclose()
        for worker in (dead, w2, w3):
            await worker.aclose()
    # w3 left without sending its two: they went back to the plan.
    assert states_by_position(postgres_url) == {
        0: STATE_IN_DOUBT,
        1: STATE_IN_DOUBT,
        2: STATE_PLANNED,
        3: STATE_PLANNED,
    }


def states_by_position(url):
    import psycopg  # noqa: PLC0415 -- only with a server

    with psycopg.connect(url, autocommit=True) as db:
        return dict(
            db.execute(
                "SELECT position, state FROM iprogsms_recipients WHERE broadcast = 'b'"
            ).fetchall()
        )


async def test_workers_and_a_run_of_their_own_exclude_each_other(postgres_url):
    worker = await join(postgres_url, "w1")
    other = await join(postgres_url, "w2")
    try:
        with pytest.raises(JournalError, match="in use"):
            await PostgresJournal.open(postgres_url, name="b")
    finally:
        await worker.aclose()
        await other.aclose()
    alone = await PostgresJournal.open(postgres_url, name="b")
    try:
        with pytest.raises(JournalError, match="in use"):
            await join(postgres_url, "w3")
    finally:
        await alone.aclose()
