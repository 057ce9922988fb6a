"""The PostgreSQL journal: a broadcast's sends in a database any machine can reach.

For broadcasts that outlive one machine (a job rescheduled elsewhere resumes
from the database, not from a file left behind). The same guarantees as the
SQLite file, proved by one test suite run against both: the write-ahead
record is committed before a request goes out, outcomes are batched, resume
reads the same. Broadcasts are namespaced by name in shared tables; a running
broadcast holds a session advisory lock on its name, so a second run of the
same name fails at once, as a second run on one SQLite file does.

The driver is psycopg 3, synchronous, on one connection driven from a worker
thread (as sqlite3 is): the same code runs under asyncio and trio, and group
commit makes the thread's cost per row small (``benchmarks/RESULTS.md``).
It is an extra: ``pip install 'iprogsms-async[postgres]'``.

The tables also carry what many workers on one broadcast share (the input
position, the claim and its lease, the texts, when planning finished): a
worker's side is ``_claims.SharedJournal``. `plan` loads a broadcast's
recipients, idempotently, for any worker to claim.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from .._errors import ConfigurationError
from .._redact import without_password
from ._errors import JournalError
from ._journal_store import (
    BatchingJournal,
    JournalCounts,
    JournalEntry,
    Key,
    Row,
    check_name,
    one_at_a_time,
    text_digest,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import ModuleType

    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]

T = TypeVar("T")

__all__ = [
    "SCHEMA_VERSION",
    "STATE_CLAIMED",
    "STATE_PLANNED",
    "PostgresJournal",
    "PostgresStore",
    "connect",
    "in_thread",
    "is_postgres_url",
    "read_counts",
]

SCHEMA_VERSION = 2
"""The layout of the tables this code writes; a newer database is refused.

1: the tables; 2: ``iprogsms_broadcasts.planned_at`` and the indexes of
shared workers' claims (an older database is migrated in place)."""

STATE_PLANNED = "planned"
"""Loaded into the journal, not yet claimed by a worker: sendable."""
STATE_CLAIMED = "claimed"
"""Claimed by a worker under a lease, not yet sending: claimable again once
the lease runs out (the worker died before its ``intend``)."""

_SCHEMES = ("postgresql", "postgres")
_LOCK_NAMESPACE = b"iprogsms-async journal lock\0"
_SCHEMA_LOCK = -0x1A5C_0DE5_0000_0001  # serialises creating the tables

# Kept in one transaction with the version row. Tables are unqualified, so the
# connection's search_path (e.g. ?options=-csearch_path%3Dmyschema) places them.
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS iprogsms_schema_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   integer NOT NULL
)""",
    """
CREATE TABLE IF NOT EXISTS iprogsms_broadcasts (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
)""",
    # Version 2: when the last chunk of a plan was committed. Workers without
    # input wait for it, and none concludes "nothing left" before it is set.
    """
ALTER TABLE iprogsms_broadcasts ADD COLUMN IF NOT EXISTS planned_at timestamptz""",
    # One row a recipient. position, claimed_by and lease_until serve many
    # workers claiming batches of one broadcast (FOR UPDATE SKIP LOCKED).
    """
CREATE TABLE IF NOT EXISTS iprogsms_recipients (
    broadcast    text NOT NULL
                 REFERENCES iprogsms_broadcasts (name) ON DELETE CASCADE,
    phone_number text NOT NULL,
    text_digest  text NOT NULL,
    state        text NOT NULL,
    message_id   text,
    status       text,
    error        text,
    updated_at   timestamptz NOT NULL,
    position     bigint,
    claimed_by   text,
    lease_until  timestamptz,
    PRIMARY KEY (broadcast, phone_number, text_digest)
)""",
    """
CREATE INDEX IF NOT EXISTS iprogsms_recipients_claimable
    ON iprogsms_recipients (broadcast, position)
    WHERE state IN ('planned', 'claimed')""",
    # Version 2. The rows some worker holds, by lease: claims and polls whose
    # lease ran out, and sends whose worker stopped. A small set at any time.
    """
CREATE INDEX IF NOT EXISTS iprogsms_recipients_held
    ON iprogsms_recipients (broadcast, lease_until)
    WHERE state IN ('claimed', 'sending') OR claimed_by IS NOT NULL""",
    # Version 2. Rows a worker that starts later takes up: not sent (out of
    # credits, say), and accepted texts nobody polls any more.
    """
CREATE INDEX IF NOT EXISTS iprogsms_recipients_left
    ON iprogsms_recipients (broadcast, updated_at)
    WHERE state = 'not_sent' OR (state = 'accepted' AND claimed_by IS NULL)""",
    # The text of each digest, for a worker that claims recipients it did not read.
    """
CREATE TABLE IF NOT EXISTS iprogsms_texts (
    broadcast   text NOT NULL
                REFERENCES iprogsms_broadcasts (name) ON DELETE CASCADE,
    text_digest text NOT NULL,
    message     text NOT NULL,
    PRIMARY KEY (broadcast, text_digest)
)""",
)
# A whole commit's rows in one statement, as arrays (`upsert_parameters`): one
# round trip, and a third of executemany's CPU in the client, where it holds
# the GIL against the event loop (benchmarks/RESULTS.md, issue 14's section).
_UPSERT = """
INSERT INTO iprogsms_recipients AS r
    (broadcast, phone_number, text_digest, state, message_id, status, error,
     updated_at)
SELECT %s, n, d, s, m, st, e, to_timestamp(t)
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::float8[]) AS u(n, d, s, m, st, e, t)
ON CONFLICT (broadcast, phone_number, text_digest) DO UPDATE SET
    state = excluded.state,
    message_id = COALESCE(excluded.message_id, r.message_id),
    status = excluded.status,
    error = excluded.error,
    updated_at = excluded.updated_at,
    claimed_by = NULL,
    lease_until = NULL
"""
_LOAD = """
SELECT phone_number, text_digest, state, message_id, status, error
FROM iprogsms_recipients
WHERE broadcast = %s AND state NOT IN ('not_sent', 'planned', 'claimed')
"""


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(value, str) and value.partition("://")[0].lower() in _SCHEMES


class PostgresStore(BatchingJournal):
    """One connection to a named broadcast's rows: what both kinds of run share.

    `PostgresJournal` is a run of its own; ``_claims.SharedJournal`` one of
    many workers. Calls run one at a time in a worker thread.
    """

    def __init__(
        self, psycopg: ModuleType, connection: Connection, url: str, name: str
    ) -> None:
        super().__init__({})
        self._psycopg = psycopg
        self._db = connection
        self._url = without_password(url)
        self.name = name
        self._thread = anyio.CapacityLimiter(1)
        self._in_use = threading.Lock()

    async def plan(self, recipients: Iterable[tuple[int, str, str]]) -> int:
        """Load recipients into the journal once: (position, number, text) each.

        One transaction. Recipients already there are left as they are (a
        row an earlier run of the name wrote without a position gets this
        one), so any number of workers may plan the same input at once: each
        recipient is added once. Returns how many rows were new to the plan.
        """
        rows = list(recipients)
        return await self._run(_plan, self._db, self.name, rows)

    async def finish_plan(self) -> None:
        """Record that the broadcast's plan is complete (kept if already set).

        Workers given no recipients wait for it; none ends before it is set.
        """
        await self._run(_finish_plan, self._db, self.name)

    async def counts(self) -> JournalCounts:
        """The broadcast's committed rows by state, in one query."""
        counts = await self._run(_counts, self._db, self.name)
        assert counts is not None  # noqa: S101 -- open() recorded the name
        return counts

    async def _close(self) -> None:
        try:
            await self._run(_disconnect, self._db)
        finally:
            # Also here, should the wait above be cancelled (a loop that ends
            # cancels every task, this one's too): at once, after any call
            # still in its thread, so that no lock is held until garbage
            # collection. Closing twice is harmless.
            with self._in_use:
                _disconnect(self._db)

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        return await in_thread(
            self._psycopg,
            self._url,
            one_at_a_time,
            self._in_use,
            func,
            *args,
            limiter=self._thread,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self._url!r}>"


class PostgresJournal(PostgresStore):
    """The PostgreSQL journal of one named broadcast run. Create with `open`."""

    @classmethod
    async def open(cls, url: str, *, name: str) -> PostgresJournal:
        """Connect, create the tables if missing, and take ``name`` for this run.

        A run takes the name for itself: a second run of it, or a shared
        worker of it (``_claims.SharedJournal``), fails at once.

        Raises `JournalError` when the database cannot be reached, holds
        tables of a newer version, or another running broadcast holds the
        name; `ConfigurationError` when psycopg is not installed.
        """
        psycopg, connection, name = await connect(url, name, shared=False)
        journal = cls(psycopg, connection, url, name)
        try:
            journal._known = await journal._run(_load, connection, name)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await journal._run(connection.close)
            raise
        return journal

    async def _write(self, rows: list[Row]) -> None:
        await self._run(_write, self._db, self.name, rows)


async def in_thread(
    psycopg: ModuleType,
    shown: str,
    func: Callable[..., T],
    *args: object,
    limiter: anyio.CapacityLimiter | None = None,
) -> T:
    try:
        return await anyio.to_thread.run_sync(func, *args, limiter=limiter)
    except psycopg.Error as exc:
        raise JournalError(f"journal {shown}: {exc}".rstrip()) from exc


async def connect(
    url: str, name: str, *, shared: bool
) -> tuple[ModuleType, Connection, str]:
    """psycopg, a connection holding ``name`` (checked), and the name.

    ``shared`` takes the name alongside other workers of the broadcast; a
    run of its own takes it alone (see `_take`).
    """
    name = check_name(name)
    psycopg = _import_psycopg()
    shown = without_password(url)
    connection = await in_thread(psycopg, shown, _connect, psycopg, url, name, shared)
    return psycopg, connection, name


def _import_psycopg() -> ModuleType:
    try:
        return importlib.import_module("psycopg")
    except ImportError as exc:
        raise ConfigurationError(
            "a postgresql:// journal needs psycopg: "
            "pip install 'iprogsms-async[postgres]'"
        ) from exc


def _lock_key(name: str) -> int:
    """A 64-bit advisory lock key for a broadcast's name (signed, as bigint)."""
    digest = hashlib.blake2b(_LOCK_NAMESPACE + name.encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


_CONNECT_TIMEOUT = 10  # seconds
_STATEMENT_TIMEOUT_MS = 30_000


def _connect(psycopg: ModuleType, url: str, name: str, shared: bool) -> Connection:
    # Bounded, so that a database out of reach or a blocked statement ends a
    # broadcast with a JournalError instead of holding it (and its
    # cancellation, which waits for the thread) without end.
    connection: Connection = psycopg.connect(
        url,
        autocommit=True,
        application_name="iprogsms",
        connect_timeout=_CONNECT_TIMEOUT,
        options=f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}"
        f" -c lock_timeout={_STATEMENT_TIMEOUT_MS}",
    )
    try:
        _ensure_schema(connection)
        _take(connection, url, name, shared=shared)
    except BaseException:
        connection.close()
        raise
    return connection


def _take(connection: Connection, url: str, name: str, *, shared: bool) -> None:
    """Hold ``name`` for this session, or raise if another session holds it.

    A session-level advisory lock: released when the session ends, however it
    ends (a crashed worker's connection closes, and its lock with it).
    """
    take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    if not _scalar(connection, f"SELECT {take}(%s)", _lock_key(name)):
        raise JournalError(
            f"the broadcast {name!r} in journal {without_password(url)} is in use "
            "by another running broadcast"
        )
    connection.execute(
        "INSERT INTO iprogsms_broadcasts (name) VALUES (%s) "
        "ON CONFLICT (name) DO NOTHING",
        (name,),
    )


def _ensure_schema(connection: Connection) -> None:
    """Create the tables on first use; refuse tables of a newer version."""
    with connection.transaction():
        # Concurrent first uses would race on CREATE ... IF NOT EXISTS.
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        version = None
        if _scalar(connection, "SELECT to_regclass('iprogsms_schema_version')"):
            version = _scalar(connection, "SELECT version FROM iprogsms_schema_version")
        if version is not None and version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal's tables were made by a newer iprogsms-async "
                f"(schema version {version}; this one understands up to "
                f"{SCHEMA_VERSION}): upgrade iprogsms-async to use them"
            )
        if version == SCHEMA_VERSION:
            return
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO iprogsms_schema_version (version) VALUES (%s) "
            "ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
            (SCHEMA_VERSION,),
        )


def _scalar(connection: Connection, query: str, *params: object) -> Any:
    """The first column of the first row of ``query``; None when no row."""
    row = connection.execute(query, params).fetchone()
    return None if row is None else row[0]


# From the broadcast's own row: no row at all is a name never used (None),
# one row of NULLs a broadcast with no recipients yet.
_COUNTS = """
SELECT r.state, r.status, count(r.state)
FROM iprogsms_broadcasts AS b
LEFT JOIN iprogsms_recipients AS r ON r.broadcast = b.name
WHERE b.name = %s
GROUP BY r.state, r.status
"""


def _counts(connection: Connection, name: str) -> JournalCounts | None:
    rows = connection.execute(_COUNTS, (name,)).fetchall()
    return JournalCounts.from_rows(rows) if rows else None


async def read_counts(url: str, *, name: str) -> JournalCounts:
    """The counts of the broadcast ``name`` at ``url``, read by a plain session.

    It takes no lock (a running broadcast's workers keep theirs) and creates
    nothing: a database without the journal's tables, or without ``name``,
    raises `JournalError`.
    """
    name = check_name(name)
    psycopg = _import_psycopg()
    shown = without_password(url)
    counts = await in_thread(psycopg, shown, _read_counts, psycopg, url, name)
    if counts is None:
        raise JournalError(f"journal {shown} holds no broadcast named {name!r}")
    return counts


def _read_counts(psycopg: ModuleType, url: str, name: str) -> JournalCounts | None:
    with psycopg.connect(
        url,
        autocommit=True,
        application_name="iprogsms status",
        connect_timeout=_CONNECT_TIMEOUT,
        options=f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}",
    ) as connection:
        if not _scalar(connection, "SELECT to_regclass('iprogsms_recipients')"):
            return None
        return _counts(connection, name)


def _load(connection: Connection, name: str) -> dict[Key, JournalEntry]:
    rows = connection.execute(_LOAD, (name,)).fetchall()
    return {
        (number, digest): JournalEntry(state, message_id, status, error)
        for number, digest, state, message_id, status, error in rows
    }


_ROW_FIELDS = 7  # of a `Row`: an array of each in `_UPSERT`


def _write(connection: Connection, name: str, rows: list[Row]) -> None:
    connection.execute(_UPSERT, upsert_parameters(name, rows))


def upsert_parameters(name: str, rows: list[Row]) -> tuple[object, ...]:
    """`_UPSERT`'s parameters for ``rows``: the name, then one array a column.

    PostgreSQL updates a row at most once a statement, so the rows of one
    key become one first, as writing them in order would leave it: the last
    row's state, status, error and time, and the last message id given.
    """
    folded: dict[Key, Row] = {}
    for row in rows:
        earlier = folded.get((row[0], row[1]))
        if earlier is not None and row[3] is None:
            row = (*row[:3], earlier[3], *row[4:])  # noqa: PLW2901 -- the folded row
        folded[row[0], row[1]] = row
    kept = folded.values()
    return (name, *([row[i] for row in kept] for i in range(_ROW_FIELDS)))


# Each chunk in key order: two planners of one input lock the same rows in the
# same order, so they wait for each other rather than deadlock.
_PLAN_TEXTS = """
INSERT INTO iprogsms_texts (broadcast, text_digest, message)
SELECT %s, d, m FROM unnest(%s::text[], %s::text[]) AS t(d, m) ORDER BY d
ON CONFLICT DO NOTHING
"""
_PLAN = """
INSERT INTO iprogsms_recipients
    (broadcast, phone_number, text_digest, state, updated_at, position)
SELECT %s, n, d, 'planned', now(), p
FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS t(n, d, p)
ORDER BY n, d
ON CONFLICT DO NOTHING
"""
# Rows an earlier run of the name wrote on its own have no position: give
# them this plan's. Rows a worker holds are skipped, never waited for.
_PLACE = """
WITH unplaced AS (
    SELECT r.phone_number, r.text_digest, t.p
    FROM iprogsms_recipients AS r
    JOIN unnest(%s::text[], %s::text[], %s::bigint[]) AS t(n, d, p)
      ON r.phone_number = t.n AND r.text_digest = t.d
    WHERE r.broadcast = %s AND r.position IS NULL
    FOR UPDATE OF r SKIP LOCKED
)
UPDATE iprogsms_recipients AS r SET position = unplaced.p
FROM unplaced
WHERE r.broadcast = %s
  AND r.phone_number = unplaced.phone_number
  AND r.text_digest = unplaced.text_digest
"""


def _plan(connection: Connection, name: str, rows: list[tuple[int, str, str]]) -> int:
    keyed: dict[Key, int] = {}
    texts: dict[str, str] = {}
    for position, number, text in rows:
        digest = text_digest(text)
        texts.setdefault(digest, text)
        keyed.setdefault((number, digest), position)  # the first copy's place
    numbers = [number for number, _ in keyed]
    digests = [digest for _, digest in keyed]
    positions = list(keyed.values())
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(_PLAN_TEXTS, (name, list(texts), list(texts.values())))
        cursor.execute(_PLAN, (name, numbers, digests, positions))
        added = int(cursor.rowcount)
        if added < len(keyed):
            cursor.execute(_PLACE, (numbers, digests, positions, name, name))
            added += int(cursor.rowcount)
        return added


def _finish_plan(connection: Connection, name: str) -> None:
    connection.execute(
        "UPDATE iprogsms_broadcasts SET planned_at = COALESCE(planned_at, now()) "
        "WHERE name = %s",
        (name,),
    )


def _disconnect(connection: Connection) -> None:
    """Release the broadcast's lock, then close the connection.

    Closing alone frees the lock only once the server notices the session
    ended, a moment later: a rerun opened at once could find it still held.
    """
    if not connection.closed:
        with contextlib.suppress(Exception):  # a broken connection: closing frees it
            connection.execute("SELECT pg_advisory_unlock_all()")
    connection.close()
