"""What a broadcast needs of its journal, and the group commit every store shares.

A journal records each send as *intended*, durably, before its request goes
out, and the outcome after; a rerun looks each recipient up and never sends
again one that may have gone out. `JournalStore` is that contract; the SQLite
file (``_journal.Journal``, the embedded default) and PostgreSQL
(``_postgres.PostgresJournal``) both implement it on `BatchingJournal`, which
queues rows and writes them in one transaction for every caller waiting
(group commit). A store only ever holds phone numbers, text digests, message
ids, statuses and error messages (the library's, already redacted).
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, TypeVar

import anyio
import attrs

from .._shielding import complete
from .._validation import BROADCAST_NAME

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterable, Mapping

T = TypeVar("T")

__all__ = [
    "MAX_NAME",
    "STATE_ACCEPTED",
    "STATE_FINAL",
    "STATE_IN_DOUBT",
    "STATE_NOT_SENT",
    "STATE_SENDING",
    "BatchingJournal",
    "JournalCounts",
    "JournalEntry",
    "JournalStore",
    "Key",
    "Row",
    "check_name",
    "one_at_a_time",
    "text_digest",
]

# States of a row. Only "not_sent" may be sent again on a rerun.
STATE_SENDING = "sending"
"""Committed before the request went out; still so after a crash = in doubt."""
STATE_ACCEPTED = "accepted"
STATE_FINAL = "final"
STATE_IN_DOUBT = "unknown"
"""The answer was lost (a timeout, a 5xx, a dropped connection): maybe sent."""
STATE_NOT_SENT = "not_sent"

MAX_NAME = 200
"""The longest name a broadcast may have."""

Key = tuple[str, str]
"""A recipient in a journal: (phone number, `text_digest` of its text)."""
Row = tuple[str, str, str, "str | None", "str | None", "str | None", float]
"""A row to write: number, digest, state, message id, status, error, unix time."""


@attrs.frozen
class JournalEntry:
    """What an earlier run recorded for one number and text."""

    state: str
    message_id: str | None
    status: str | None
    error: str | None = None
    """What the earlier run met, for a send left in doubt."""


@attrs.frozen
class JournalCounts:
    """A broadcast's rows in its journal, by state: its progress, read at once.

    ``states`` counts rows by journal state (``sending``, ``accepted``,
    ``final``, ``unknown``, ``not_sent``; on PostgreSQL also ``planned`` and
    ``claimed``, waiting for a worker); ``final`` counts the ``final`` rows by
    the delivery status they ended with (``delivered``, ``failed``, or the
    gateway's own word). Only what is committed: outcomes still queued in a
    running broadcast (at most `BatchingJournal.flush_every` old) show as
    their earlier state.
    """

    states: Mapping[str, int]
    final: Mapping[str, int]

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[str | None, str | None, int]]
    ) -> JournalCounts:
        """Counts from ``(state, status, rows)`` groups; a None state is skipped."""
        states: dict[str, int] = {}
        final: dict[str, int] = {}
        for state, status, count in rows:
            if state is None or not count:
                continue
            states[state] = states.get(state, 0) + count
            if state == STATE_FINAL:
                word = status or "unknown"
                final[word] = final.get(word, 0) + count
        return cls(MappingProxyType(states), MappingProxyType(final))

    @property
    def total(self) -> int:
        """Rows in the journal: every recipient it holds."""
        return sum(self.states.values())

    @property
    def accepted(self) -> int:
        """Texts the gateway accepted, settled or still polled.

        As the progress bar counts them.
        """
        return self.states.get(STATE_ACCEPTED, 0) + self.states.get(STATE_FINAL, 0)

    @property
    def in_doubt(self) -> int:
        """Sends that may have gone out with no answer kept.

        ``unknown`` rows, and ``sending`` ones (on the wire now, or left so
        by a run that ended).
        """
        return self.states.get(STATE_IN_DOUBT, 0) + self.states.get(STATE_SENDING, 0)


def check_name(name: object) -> str:
    """Return ``name`` if it can name a broadcast: a short printable string."""
    return BROADCAST_NAME.setting(name, "name")


def text_digest(text: str) -> str:
    """A short, stable digest of a message text."""
    return hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), digest_size=12
    ).hexdigest()


class JournalStore(Protocol):
    """What the broadcast engine needs of a journal, whatever keeps it.

    Each method's guarantee is what the stores' shared test suite checks:
    ``intend`` returns only once its rows are committed; ``record`` queues;
    ``flush_if_due``/``flush`` commit the queue; ``lookup`` answers from what
    earlier runs committed, never offering a row that may have gone out.
    """

    def lookup(self, phone_number: str, digest: str) -> JournalEntry | None:
        """What an earlier run recorded for this number and text, if anything.

        None when it recorded nothing, or only ``not_sent`` (sendable again).
        """
        ...

    async def intend(self, keys: list[Key]) -> list[Key]:
        """Commit that these sends are about to go out, before they do.

        Returns the keys to send: all of them, except on a shared worker's
        journal (``_claims.SharedJournal``), which takes only the recipients
        this worker still holds, and returns those.
        """
        ...

    def record(
        self,
        key: Key,
        state: str,
        *,
        message_id: str | None = None,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        """Queue an outcome, written with the next commit (no waiting)."""
        ...

    async def flush_if_due(self) -> None:
        """Commit queued outcomes if some have waited long enough."""
        ...

    async def flush(self) -> None:
        """Commit everything queued."""
        ...

    async def aclose(self) -> None:
        """Commit what is queued and let the journal go. Safe to call twice."""
        ...

    async def counts(self) -> JournalCounts:
        """The broadcast's committed rows by state, in one query (read-only)."""
        ...


class BatchingJournal(ABC):
    """A journal's queue and group commit, over a store's `_write` of rows.

    Rows are queued in order and written in order, so a later state of a key
    overwrites an earlier one in the same batch. Concurrent ``intend`` callers
    share one commit: each takes a ticket (the count of rows queued so far)
    and returns once a commit has covered it.
    """

    flush_every = 0.5
    """Seconds an outcome may wait in the queue: outcomes need not be durable
    at once (a lost outcome leaves its row ``sending``, in doubt, never resent)."""

    def __init__(self, known: dict[Key, JournalEntry]) -> None:
        self._known = known
        self._writing: anyio.Event | None = None  # set when the commit in flight ends
        self._queue: list[Row] = []
        self._queued = 0  # rows ever queued: a ticket for group commits
        self._committed = 0
        self._last_flush = time.monotonic()
        self._closed = False
        # Transactions written so far: far fewer than calls to `intend`.
        self.commits = 0

    def lookup(self, phone_number: str, digest: str) -> JournalEntry | None:
        """What an earlier run recorded for this number and text, if anything.

        Rows an earlier run could send again (``not_sent``) are not returned.
        """
        return self._known.get((phone_number, digest))

    async def intend(self, keys: list[Key]) -> list[Key]:
        """Record that these sends are about to go out, durably, before they do.

        Concurrent callers share one commit (group commit). Returns ``keys``:
        every one of them may be sent.
        """
        now = time.time()
        self._queue.extend(
            (number, digest, STATE_SENDING, None, None, None, now)
            for number, digest in keys
        )
        self._queued += len(keys)
        await self._commit_through(self._queued)
        return keys

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
        """Commit queued outcomes if some have waited longer than `flush_every`."""
        if self._queue and time.monotonic() - self._last_flush >= self.flush_every:
            await self._commit_through(self._queued)

    async def flush(self) -> None:
        """Commit everything queued."""
        if self._queue:
            await self._commit_through(self._queued)

    async def aclose(self) -> None:
        """Commit what is queued and close the store. Safe to call twice.

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
            await self._close()

    async def _commit_through(self, ticket: int) -> None:
        """Return once a commit has covered the rows queued up to ``ticket``.

        One commit is in flight at a time; whoever waits for one wakes when
        it ends, all at once, and the first of them still uncovered writes
        everything queued meanwhile in the next (a pipeline: rows queued
        while a commit is in flight go into the next one at once). A lock
        would wake its waiters one per pass of the event loop instead, each
        of them, covered or not, in turn.
        """
        while self._committed < ticket:
            if self._writing is not None:
                await self._writing.wait()
                continue
            writing = self._writing = anyio.Event()
            rows, self._queue = self._queue, []
            upto = self._queued
            try:
                await self._write(rows)
            except BaseException:
                # Cancelled while waiting for the write, or the write failed:
                # keep the rows, ahead of any queued since, for the next commit
                # (a waiter's, or the next caller's). Writing a row twice is
                # harmless (an upsert of the same state).
                self._queue[:0] = rows
                raise
            else:
                self._committed = upto
                self.commits += 1
                self._last_flush = time.monotonic()
            finally:
                self._writing = None
                writing.set()

    @abstractmethod
    async def _write(self, rows: list[Row]) -> None:
        """Write ``rows`` in order, in one transaction; raise `JournalError` if not."""

    @abstractmethod
    async def _close(self) -> None:
        """Release the store (its connection, its lock on the broadcast)."""


def one_at_a_time(lock: threading.Lock, func: Callable[..., T], *args: object) -> T:
    """Run ``func`` in this worker thread, the only one using a connection now.

    A store runs its calls in a worker thread, one at a time by its limiter;
    but asyncio's own cancellation lets the awaiting task go while its thread
    runs on, and the store's next call, in another thread, waits here rather
    than use the connection at the same time (sqlite3 crashes the process
    then; a PostgreSQL transaction would take in the other call's statements).
    """
    with lock:
        return func(*args)
