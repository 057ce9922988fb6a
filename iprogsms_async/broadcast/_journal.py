"""A durable record of a broadcast's sends, so a rerun never texts anyone twice.

stdlib sqlite3 (WAL, synchronous=FULL), driven from one worker thread at a
time. Each send is recorded as *intended* and committed before its request
goes out; outcomes are written in batches. Recipients are keyed by number and
a digest of the text, so a rerun with the same journal recognises them
whatever their position in the input.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
import attrs

from .._errors import JournalError
from .._shielding import complete

if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike

T = TypeVar("T")

__all__ = ["Journal", "JournalEntry", "text_digest"]

# States of a row. Only "not_sent" may be sent again on a rerun.
STATE_SENDING = "sending"
"""Committed before the request went out; still so after a crash = in doubt."""
STATE_ACCEPTED = "accepted"
STATE_FINAL = "final"
STATE_IN_DOUBT = "unknown"
"""The answer was lost (a timeout, a 5xx, a dropped connection): maybe sent."""
STATE_NOT_SENT = "not_sent"

_SCHEMA = """
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
"""
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
_FLUSH_EVERY = 0.5  # seconds: outcomes need not be durable at once


@attrs.frozen
class JournalEntry:
    """What an earlier run recorded for one number and text."""

    state: str
    message_id: str | None
    status: str | None
    error: str | None = None
    """What the earlier run met, for a send left in doubt."""


Key = tuple[str, str]
_Row = tuple[str, str, str, "str | None", "str | None", "str | None", float]


def text_digest(text: str) -> str:
    """A short, stable digest of a message text."""
    return hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), digest_size=12
    ).hexdigest()


class Journal:
    """The sqlite journal of one broadcast run. Create with `Journal.open`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._thread = anyio.CapacityLimiter(1)
        self._in_use = threading.Lock()
        self._lock = anyio.Lock()
        self._queue: list[_Row] = []
        self._queued = 0  # rows ever queued: a ticket for group commits
        self._committed = 0
        self._last_flush = time.monotonic()
        self._known: dict[Key, JournalEntry] = {}
        self._closed = False

    @classmethod
    async def open(cls, path: str | PathLike[str]) -> Journal:
        """Open (or create) the journal at ``path`` and take it for this run.

        Raises `JournalError` when the file is not a journal, or another
        running broadcast holds it.
        """
        where = Path(path)
        connection = await anyio.to_thread.run_sync(_connect, where)
        journal = cls(connection, where)
        journal._known = await journal._run(_load, connection)
        return journal

    def lookup(self, phone_number: str, digest: str) -> JournalEntry | None:
        """What an earlier run recorded for this number and text, if anything.

        Rows an earlier run could send again (``not_sent``) are not returned.
        """
        return self._known.get((phone_number, digest))

    async def intend(self, keys: list[Key]) -> None:
        """Record that these sends are about to go out, durably, before they do.

        Concurrent callers share one commit (group commit).
        """
        now = time.time()
        self._queue.extend(
            (number, digest, STATE_SENDING, None, None, None, now)
            for number, digest in keys
        )
        self._queued += len(keys)
        await self._commit_through(self._queued)

    def record(
        self,
        key: Key,
        state: str,
        *,
        message_id: str | None = None,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        """Queue an outcome; it is written with the next commit (no waiting)."""
        self._queue.append(
            (key[0], key[1], state, message_id, status, error, time.time())
        )
        self._queued += 1

    async def flush_if_due(self) -> None:
        """Commit queued outcomes if some have waited longer than half a second."""
        if self._queue and time.monotonic() - self._last_flush >= _FLUSH_EVERY:
            await self._commit_through(self._queued)

    async def flush(self) -> None:
        """Commit everything queued."""
        if self._queue:
            await self._commit_through(self._queued)

    async def aclose(self) -> None:
        """Commit what is queued and close the file. Safe to call twice.

        Seen through whatever cancels the caller meanwhile, asyncio's own
        ``task.cancel()`` included (a shutdown that cancels every task may
        do so again while a broadcast ends). Should the commit fail all the
        same, each row stays as last committed: ``sending`` for a send that
        was on the wire, which a rerun reads as in doubt.
        """
        if self._closed:
            return
        self._closed = True
        await complete(self._flush_and_close())

    async def _flush_and_close(self) -> None:
        try:
            await self.flush()
        finally:
            await self._run(self._db.close)

    async def _commit_through(self, ticket: int) -> None:
        async with self._lock:
            if self._committed >= ticket:
                return  # another caller's commit included these rows
            rows, self._queue = self._queue, []
            upto = self._queued
            try:
                await self._run(_write, self._db, rows)
            except BaseException:
                # Cancelled while waiting for the thread, or the write failed:
                # keep the rows, ahead of any queued since, for the next commit.
                # Writing a row twice is harmless (an upsert of the same state).
                self._queue[:0] = rows
                raise
            self._committed = upto
            self._last_flush = time.monotonic()

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        try:
            return await anyio.to_thread.run_sync(
                self._alone, func, *args, limiter=self._thread
            )
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    def _alone(self, func: Callable[..., T], *args: object) -> T:
        """Run ``func`` in this thread, the only one using the connection now.

        The limiter lets one call at a time into a thread, but asyncio's own
        cancellation lets the awaiting task go while its thread runs on; the
        next call, in another thread, waits here rather than use the
        connection at the same time (sqlite3 crashes the process then).
        """
        with self._in_use:
            return func(*args)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=0
        )
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be opened: {exc}") from exc
    try:
        # Held for the whole run: a second broadcast on the same journal fails
        # at once instead of sending the same texts alongside this one.
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute(_SCHEMA)
        connection.execute("COMMIT")
    except sqlite3.Error as exc:
        connection.close()
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise JournalError(
                f"journal {path} is in use by another running broadcast"
            ) from exc
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            raise JournalError(f"{path} is not a broadcast journal: {exc}") from exc
        raise JournalError(f"journal {path} cannot be opened: {exc}") from exc
    return connection


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


def _write(connection: sqlite3.Connection, rows: list[_Row]) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(_UPSERT, rows)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
