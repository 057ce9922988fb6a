"""The SQLite journal: a broadcast's sends in a file on the local disk.

The embedded default: stdlib sqlite3 (WAL, synchronous=FULL), driven from one
worker thread at a time, nothing to install. Each send is recorded as
*intended* and committed before its request goes out; outcomes are written in
batches (`BatchingJournal`). Recipients are keyed by number and a digest of
the text, so a rerun with the same journal recognises them whatever their
position in the input. One file holds one broadcast: a name, when given, is
recorded on first use and a different one refused later.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

from ._errors import JournalError
from ._journal_store import (
    STATE_ACCEPTED,
    STATE_FINAL,
    STATE_IN_DOUBT,
    STATE_NOT_SENT,
    STATE_SENDING,
    BatchingJournal,
    JournalCounts,
    JournalEntry,
    Key,
    Row,
    one_at_a_time,
    text_digest,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike

T = TypeVar("T")

__all__ = [
    "SCHEMA_VERSION",
    "STATE_ACCEPTED",
    "STATE_FINAL",
    "STATE_IN_DOUBT",
    "STATE_NOT_SENT",
    "STATE_SENDING",
    "Journal",
    "JournalEntry",
    "Key",
    "read_counts",
    "text_digest",
]

SCHEMA_VERSION = 1
"""The layout of the file this code writes; a newer file is refused."""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS recipients (
    phone_number TEXT NOT NULL,
    text_digest  TEXT NOT NULL,
    state        TEXT NOT NULL,
    message_id   TEXT,
    status       TEXT,
    error        TEXT,
    updated_at   REAL NOT NULL,
    PRIMARY KEY (phone_number, text_digest)
) WITHOUT ROWID
""",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS broadcast (name TEXT NOT NULL)",
)
_UPSERT = """
INSERT INTO recipients
    (phone_number, text_digest, state, message_id, status, error, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (phone_number, text_digest) DO UPDATE SET
    state = excluded.state,
    message_id = COALESCE(excluded.message_id, recipients.message_id),
    status = excluded.status,
    error = excluded.error,
    updated_at = excluded.updated_at
"""


class Journal(BatchingJournal):
    """The SQLite journal of one broadcast run. Create with `Journal.open`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__({})
        self._db = connection
        self.path = path
        self._thread = anyio.CapacityLimiter(1)
        self._in_use = threading.Lock()

    @classmethod
    async def open(
        cls, path: str | PathLike[str], *, name: str | None = None
    ) -> Journal:
        """Open (or create) the journal at ``path`` and take it for this run.

        ``name``, when given, names the broadcast the file holds: recorded
        the first time, and a different name is refused later.

        Raises `JournalError` when the file is not a journal (or one written
        by a newer version), belongs to another named broadcast, or another
        running broadcast holds it.
        """
        where = Path(path)
        connection = await anyio.to_thread.run_sync(_connect, where, name)
        journal = cls(connection, where)
        journal._known = await journal._run(_load, connection)
        return journal

    async def counts(self) -> JournalCounts:
        """The broadcast's committed rows by state, in one query."""
        return await self._run(_counts, self._db)

    async def _write(self, rows: list[Row]) -> None:
        await self._run(_write, self._db, rows)

    async def _close(self) -> None:
        try:
            await self._run(self._db.close)
        finally:
            # Also here, should the wait above be cancelled (a loop that ends
            # cancels every task, this one's too): at once, after any call
            # still in its thread, so that no lock is held until garbage
            # collection. Closing twice is harmless.
            with self._in_use:
                self._db.close()

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        try:
            return await anyio.to_thread.run_sync(
                one_at_a_time, self._in_use, func, *args, limiter=self._thread
            )
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"<Journal (SQLite) {str(self.path)!r}>"


def _connect(path: Path, name: str | None) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=0
        )
    except sqlite3.Error as exc:
        raise JournalError(
            f"journal {path} cannot be opened ({exc}): give a file path in an "
            "existing, writable directory"
        ) from exc
    try:
        # Held for the whole run: a second broadcast on the same journal fails
        # at once instead of sending the same texts alongside this one.
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("BEGIN EXCLUSIVE")
        for statement in _SCHEMA:
            connection.execute(statement)
        problem = _check_version(connection, path) or _check_name(
            connection, path, name
        )
        connection.execute("ROLLBACK" if problem else "COMMIT")
    except sqlite3.Error as exc:
        connection.close()
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise JournalError(
                f"journal {path} is in use by another running broadcast"
            ) from exc
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            raise JournalError(f"{path} is not a broadcast journal: {exc}") from exc
        raise JournalError(
            f"journal {path} cannot be opened ({exc}): give a file path in an "
            "existing, writable directory"
        ) from exc
    if problem:
        connection.close()
        raise JournalError(problem)
    return connection


def _check_version(connection: sqlite3.Connection, path: Path) -> str | None:
    """Record this schema's version in a new file; a problem with an old one."""
    row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    version = row[0] if row else None
    if version is None:
        connection.execute(
            "INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,)
        )
        return None
    if version > SCHEMA_VERSION:
        return (
            f"journal {path} was written by a newer iprogsms-async (schema "
            f"version {version}; this one understands up to {SCHEMA_VERSION}): "
            "upgrade iprogsms-async to resume it"
        )
    return None


def _check_name(
    connection: sqlite3.Connection, path: Path, name: str | None
) -> str | None:
    """Record the broadcast's name in a new file; a problem if it differs."""
    if name is None:
        return None
    row = connection.execute("SELECT name FROM broadcast").fetchone()
    if row is None:
        connection.execute("INSERT INTO broadcast (name) VALUES (?)", (name,))
        return None
    if row[0] != name:
        return (
            f"journal {path} holds the broadcast {row[0]!r}, not {name!r}: "
            "one SQLite journal holds one broadcast (use another file)"
        )
    return None


_COUNTS = "SELECT state, status, COUNT(*) FROM recipients GROUP BY state, status"


def _counts(connection: sqlite3.Connection) -> JournalCounts:
    return JournalCounts.from_rows(connection.execute(_COUNTS).fetchall())


async def read_counts(
    path: str | PathLike[str], *, name: str | None = None
) -> JournalCounts:
    """The counts of the journal at ``path``, opened read-only, without taking it.

    A running broadcast holds its SQLite file exclusively (``locking_mode=
    EXCLUSIVE``, so that a second run cannot send alongside it), which leaves
    no reader in: reading its progress then raises `JournalError` saying so;
    a PostgreSQL journal has no such limit. ``name``, when given, must be the
    one the file records.
    """
    return await anyio.to_thread.run_sync(_read_counts, Path(path), name)


def _read_counts(path: Path, name: str | None) -> JournalCounts:
    if not path.is_file():
        raise JournalError(f"no journal at {path}: give the path of an existing one")
    try:
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0
        )
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be read ({exc})") from exc
    try:
        with connection:  # one read transaction: the name and counts agree
            connection.execute("BEGIN")
            if name is not None:
                row = connection.execute("SELECT name FROM broadcast").fetchone()
                if row is not None and row[0] != name:
                    msg = f"journal {path} holds the broadcast {row[0]!r}, not {name!r}"
                    raise JournalError(msg)
            return _counts(connection)
    except sqlite3.Error as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise JournalError(
                f"journal {path} is in use by a running broadcast: a SQLite journal "
                "is held exclusively while it runs; read its progress once it ends, "
                "or use a postgresql:// journal"
            ) from exc
        raise JournalError(f"{path} is not a broadcast journal: {exc}") from exc
    finally:
        connection.close()


def _load(connection: sqlite3.Connection) -> dict[Key, JournalEntry]:
    cursor = connection.execute(
        "SELECT phone_number, text_digest, state, message_id, status, error "
        "FROM recipients WHERE state != ?",
        (STATE_NOT_SENT,),
    )
    return {
        (number, digest): JournalEntry(state, message_id, status, error)
        for number, digest, state, message_id, status, error in cursor
    }


def _write(connection: sqlite3.Connection, rows: list[Row]) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(_UPSERT, rows)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:  # a COMMIT that failed leaves it open
            connection.execute("ROLLBACK")
        raise
