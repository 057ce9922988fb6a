"""A shared worker's journal: claims under a lease, and writes only to what it holds.

Many workers, on any number of machines, work on one named broadcast in
PostgreSQL. Each opens the name with `SharedJournal.join` and claims small
batches of recipients (``FOR UPDATE SKIP LOCKED``, so claims never overlap),
each under a lease that its heartbeat renews (`SharedJournal.renew`). Every
row a worker holds carries its token in ``claimed_by``; every write it makes
is conditional on that token (``... WHERE claimed_by = me``), so a worker
that stalled past its lease and lost a row can never overwrite the state
another worker gave it. The states a row goes through:

``planned``
    loaded by a plan (`PostgresStore.plan`): any worker may claim it.
``claimed``
    held under a lease, not started. Claimable again once the lease runs
    out (its worker died); a leaving worker gives it back (``planned``).
``sending``
    taken for sending by a compare-and-set from ``claimed`` by its holder
    (`SharedJournal.intend`), committed before the request goes out. Never
    sent again: when its lease runs out (its worker stopped while the text
    was on the wire), any live worker marks it ``unknown`` (reaped, with its
    claims) and reports it so.
``accepted``
    the gateway took it. Its holder polls it under the lease; a poll whose
    worker died or left (the lease ran out) is claimed and polled by a live
    worker. One polled to its ``poll_timeout``, or not polled, is let go
    (no holder): a worker that starts later polls it again, as a rerun of a
    single broadcast does.
``final``, ``unknown``
    settled for good.
``not_sent``
    never left (out of credits, refused, failed before the wire): claimable
    by workers that start after it was recorded, so a rerun after a top-up
    sends it while running workers do not loop on it. A send that never left
    because its worker was cancelled or stopped goes back to ``planned``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._redact import without_password
from ._errors import JournalError
from ._journal_store import (
    STATE_ACCEPTED,
    STATE_NOT_SENT,
    STATE_SENDING,
    JournalEntry,
    Key,
    Row,
)
from ._postgres import STATE_PLANNED, PostgresStore, connect, in_thread

if TYPE_CHECKING:
    import datetime as dt
    from types import ModuleType

    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]

__all__ = ["Claimed", "Outlook", "SharedJournal"]

logger = logging.getLogger("iprogsms_async")


@attrs.frozen
class Claimed:
    """A recipient a claim handed to this worker: to send, to poll, or to report.

    ``state`` says which: ``claimed`` (send it), ``accepted`` (poll it:
    another worker's poll, handed over or left by a worker that died), or
    ``unknown`` (reaped: its worker stopped while sending it).
    """

    position: int
    """Its place in the planned input: the result's ``index``."""
    phone_number: str
    text_digest: str
    message: str
    state: str
    message_id: str | None = None
    status: str | None = None
    error: str | None = None

    @property
    def key(self) -> Key:
        """Its key in the journal."""
        return (self.phone_number, self.text_digest)


@attrs.frozen
class Outlook:
    """What is left of a broadcast for this worker, read in one snapshot."""

    planned: bool
    """Whether a plan of the broadcast was completed."""
    claimable: bool
    """Whether rows this worker may claim exist now (maybe locked by another
    worker's claim a moment)."""
    others_due: float | None
    """Seconds until the first live lease of another worker runs out, among
    rows that may come back (claims, sends, and polls if this worker polls);
    None when other workers hold none. (A lease run out makes its row
    claimable, or not this worker's to take.)"""


class SharedJournal(PostgresStore):
    """One worker's journal of a shared broadcast. Create with `join`.

    A `JournalStore` for the engine (see ``_work``), whose ``lookup``
    answers for the recipients this worker claimed, whose ``intend`` takes
    only the recipients it still holds, and whose outcomes are written only
    to rows it holds.
    """

    def __init__(
        self,
        psycopg: ModuleType,
        connection: Connection,
        url: str,
        name: str,
        *,
        worker: str,
        lease: float,
        poll: bool,
        started: dt.datetime,
    ) -> None:
        super().__init__(psycopg, connection, url, name)
        self.worker = worker
        """This worker's token in ``claimed_by``: unique to this process."""
        self.lease = lease
        self.started = started
        """When this worker joined, by the server's clock: it takes up the
        ``not_sent`` rows (and let-go polls) recorded before."""
        self._poll = poll
        self._intending: set[Key] = set()
        self._taken: set[Key] = set()
        self.refused = 0
        """Outcomes not written because this worker no longer held the row
        (it stalled past its lease and another worker took it)."""

    @classmethod
    async def join(
        cls, url: str, *, name: str, worker: str, lease: float, poll: bool = True
    ) -> SharedJournal:
        """Connect as ``worker`` (a token unique to this process) to ``name``.

        Takes the name alongside the broadcast's other workers (a shared
        advisory lock), never alongside a run of its own. ``lease``: seconds
        a claim holds without renewal. ``poll``: whether this worker polls
        accepted texts (it then also claims the polls of others).
        """
        psycopg, connection, name = await connect(url, name, shared=True)
        try:
            started = await in_thread(
                psycopg, without_password(url), _server_now, connection
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(connection.close)
            raise
        return cls(
            psycopg,
            connection,
            url,
            name,
            worker=worker,
            lease=lease,
            poll=poll,
            started=started,
        )

    def lookup(self, phone_number: str, digest: str) -> JournalEntry | None:
        """What a claim said of this recipient: a poll to go on, or a reaped send.

        Once: the engine asks once for each recipient it is given.
        """
        return self._known.pop((phone_number, digest), None)

    async def intend(self, keys: list[Key]) -> list[Key]:
        """Take these claimed recipients for sending, committed before they go out.

        A compare-and-set from ``claimed`` to ``sending``, by this worker, of
        rows it still holds (renewing their lease). Returns the keys taken:
        only those may be sent; the others were taken by another worker when
        this one's lease ran out.
        """
        self._intending.update(keys)
        try:
            await super().intend(keys)
            return [key for key in keys if key in self._taken]
        finally:
            self._intending.difference_update(keys)
            self._taken.difference_update(keys)

    def remember(self, claimed: Claimed) -> None:
        """Answer the engine's lookup for a claimed poll or a reaped send."""
        if claimed.state == STATE_ACCEPTED:
            entry = JournalEntry(STATE_ACCEPTED, claimed.message_id, claimed.status)
        else:  # reaped: the engine reports a send stopped on the wire
            entry = JournalEntry(STATE_SENDING, claimed.message_id, None, claimed.error)
        self._known[claimed.key] = entry

    async def claim(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` recipients; and reap the sends of stopped workers.

        In one transaction, skipping rows other workers' claims hold:
        ``sending`` rows whose lease ran out become ``unknown`` and are
        returned (to report; never sent), as are those an earlier single run
        left; then, up to ``limit``, claims and
        (when polling) polls whose lease ran out, ``planned`` rows in input
        order, and rows left for a later worker (``not_sent``, let-go polls)
        recorded before this one started.
        """
        return await self._run(
            _claim,
            self._db,
            {
                "name": self.name,
                "worker": self.worker,
                "lease": self.lease,
                "poll": self._poll,
                "started": self.started,
                "limit": limit,
            },
        )

    async def outlook(self) -> Outlook:
        """What is left for this worker, in one snapshot (see `Outlook`)."""
        return await self._run(
            _outlook,
            self._db,
            {
                "name": self.name,
                "worker": self.worker,
                "poll": self._poll,
                "started": self.started,
            },
        )

    async def renew(self) -> int:
        """Renew the lease of every row this worker holds; how many it holds.

        Claimed, sending, and accepted rows it polls: the heartbeat calls it
        every ``lease / 3`` seconds. After `aclose` it does nothing.
        """
        return await self._run(_renew, self._db, self.name, self.worker, self.lease)

    async def let_go(self) -> None:
        """Let go of the accepted texts this worker holds but polls no more.

        Called when the engine's round ended of itself, every poll settled:
        a text still ``accepted`` then was polled to its ``poll_timeout``, or
        not polled at all. Nobody polls it again but a worker that starts
        later, as a rerun of a single broadcast would.
        """
        await self.flush()
        await self._run(_let_go, self._db, self.name, self.worker)

    async def _write(self, rows: list[Row]) -> None:
        intents, outcomes = _merge(rows)
        taken, refused = await self._run(
            _write_shared,
            self._db,
            self.name,
            (self.worker, self.lease, self._poll),
            intents,
            outcomes,
        )
        self._taken.update(key for key in taken if key in self._intending)
        if refused:
            self.refused += refused
            logger.warning(
                "broadcast %r: worker %s no longer held %d recipient(s) and did "
                "not record their outcome: it stalled past its lease and another "
                "worker took them",
                self.name,
                self.worker,
                refused,
            )

    async def _close(self) -> None:
        """Hand back what this worker holds, then release the connection.

        Claims not started go back to ``planned``; accepted texts it was
        polling, and sends whose outcome it could not record, get a lease
        that has run out: a live worker claims the polls, and reaps the
        sends (``unknown``) at once.
        """
        try:
            await self._run(_leave, self._db, self.name, self.worker)
        except JournalError as error:  # the database is gone: leases run out
            logger.warning(
                "broadcast %r: worker %s could not hand back its claims (%s); "
                "they return when their lease runs out",
                self.name,
                self.worker,
                error,
            )
        finally:
            await super()._close()


def _server_now(connection: Connection) -> dt.datetime:
    row = connection.execute("SELECT now()").fetchone()
    assert row is not None  # noqa: S101 -- SELECT now() has a row
    value: dt.datetime = row[0]
    return value


# --- writes: only to rows this worker holds ---------------------------------------

_RETURNED = STATE_PLANNED
"""What a send that never left because its worker stopped becomes: claimable."""


def _merge(
    rows: list[Row],
) -> tuple[list[Key], list[tuple[str, str, str, str | None, str | None, str | None]]]:
    """The last change of each key, in order: intents, and outcomes.

    A later row of a key wins, keeping an earlier message id. A ``not_sent``
    without an error is a send that never left because this worker was
    cancelled or stopped (the engine gives a reason for every other): it
    goes back to ``planned`` for any worker to send.
    """
    last: dict[Key, tuple[str, str | None, str | None, str | None]] = {}
    for number, digest, state, message_id, status, error, _ in rows:
        key = (number, digest)
        earlier = last.pop(key, None)  # re-inserted: the order of last change
        kept_id = message_id
        if kept_id is None and earlier is not None and state != STATE_SENDING:
            kept_id = earlier[1]
        returned = state == STATE_NOT_SENT and error is None
        last[key] = (_RETURNED if returned else state, kept_id, status, error)
    intents = [key for key, change in last.items() if change[0] == STATE_SENDING]
    outcomes = [
        (*key, *change) for key, change in last.items() if change[0] != STATE_SENDING
    ]
    return intents, outcomes


# One statement a row, found by its primary key, the rows pipelined by
# executemany in one transaction (as a run of its own writes): a batch
# joined with the table by key would be planned from the statistics of the
# broadcast column, wrong for a broadcast newer than them (a hash join over
# all its rows); a row's own key leaves the planner one path. The ownership
# test is a CASE so that the planner sees in it no predicate of a partial
# index (it would take the index of held rows and scan every row held). An
# intent (a compare-and-set from claimed, renewing the lease) and an outcome
# share the statement, so that a batch of both is one round trip; an
# accepted text stays held when its poll follows (keep), any other outcome
# lets the row go. RETURNING says which rows were written.
_WRITE_ROW = """
UPDATE iprogsms_recipients
SET state = %(state)s,
    message_id = COALESCE(%(message_id)s, message_id),
    status = %(status)s,
    error = %(error)s,
    updated_at = now(),
    claimed_by = CASE WHEN %(intent)s OR %(keep)s THEN claimed_by END,
    lease_until = CASE WHEN %(intent)s THEN now() + make_interval(secs => %(lease)s)
                       WHEN %(keep)s THEN lease_until END
WHERE broadcast = %(name)s AND phone_number = %(number)s
  AND text_digest = %(digest)s
  AND CASE WHEN claimed_by = %(worker)s AND (state = 'claimed' OR NOT %(intent)s)
           THEN true ELSE false END
RETURNING 1
"""


def _write_shared(
    connection: Connection,
    name: str,
    holder: tuple[str, float, bool],
    intents: list[Key],
    outcomes: list[tuple[str, str, str, str | None, str | None, str | None]],
) -> tuple[list[Key], int]:
    """Take ``intents`` and write ``outcomes``, in one transaction, where held.

    ``holder`` is this worker's token, lease, and whether it polls (then an
    accepted text stays held for its poll). Returns the keys taken, and how
    many outcomes were not written. The two never share a key (`_merge`).
    """
    worker, lease, polls = holder
    common = {"name": name, "worker": worker, "lease": lease}
    rows: list[dict[str, Any]] = [
        {
            **common,
            "number": number,
            "digest": digest,
            "state": STATE_SENDING,
            "message_id": None,
            "status": None,
            "error": None,
            "intent": True,
            "keep": False,
        }
        for number, digest in intents
    ]
    rows += [
        {
            **common,
            "number": number,
            "digest": digest,
            "state": state,
            "message_id": message_id,
            "status": status,
            "error": error,
            "intent": False,
            "keep": polls and state == STATE_ACCEPTED,
        }
        for number, digest, state, message_id, status, error in outcomes
    ]
    written: list[bool] = []
    with connection.transaction(), connection.cursor() as cursor:
        cursor.executemany(_WRITE_ROW, rows, returning=True)
        written.extend(cursor.fetchone() is not None for _ in cursor.results())
    taken = [key for key, done in zip(intents, written, strict=False) if done]
    refused = written[len(intents) :].count(False)
    return taken, refused


def _renew(connection: Connection, name: str, worker: str, lease: float) -> int:
    if connection.closed:  # the heartbeat's last beat may come after aclose()
        return 0
    cursor = connection.execute(
        "UPDATE iprogsms_recipients "
        "SET lease_until = now() + make_interval(secs => %s) "
        "WHERE broadcast = %s AND claimed_by = %s "
        "AND state IN ('claimed', 'sending', 'accepted')",
        (lease, name, worker),
    )
    return cursor.rowcount


def _let_go(connection: Connection, name: str, worker: str) -> None:
    connection.execute(
        "UPDATE iprogsms_recipients "
        "SET claimed_by = NULL, lease_until = NULL, updated_at = now() "
        "WHERE broadcast = %s AND claimed_by = %s AND state = 'accepted'",
        (name, worker),
    )


def _leave(connection: Connection, name: str, worker: str) -> None:
    if connection.closed:
        return
    with connection.transaction():
        connection.execute(
            "UPDATE iprogsms_recipients "
            "SET state = 'planned', claimed_by = NULL, lease_until = NULL, "
            "updated_at = now() "
            "WHERE broadcast = %s AND claimed_by = %s AND state = 'claimed'",
            (name, worker),
        )
        connection.execute(
            "UPDATE iprogsms_recipients SET lease_until = now() "
            "WHERE broadcast = %s AND claimed_by = %s "
            "AND state IN ('accepted', 'sending')",
            (name, worker),
        )


# --- claims -------------------------------------------------------------------------

# Which rows a worker takes up, each a condition on a row of
# iprogsms_recipients; the claims and the outlook use the same ones, so that
# what the outlook calls claimable a claim takes. Only rows whose text is
# known: a plan writes it (a row an earlier single run wrote, never planned,
# is not this kind of broadcast's to send).
_TEXT_KNOWN = """
    EXISTS (SELECT 1 FROM iprogsms_texts AS t
            WHERE t.broadcast = %(name)s
              AND t.text_digest = iprogsms_recipients.text_digest)"""
# Sends whose worker stopped: in doubt for good. Another worker's, never this
# worker's own; and those an earlier single run left (it had no lease: a
# single run and the workers of a name exclude each other, so they are left
# over). Two conditions, each a range of the index of held rows.
_REAPABLE = f"""
    state = 'sending' AND lease_until < now()
    AND claimed_by IS DISTINCT FROM %(worker)s
    AND {_TEXT_KNOWN}"""
_UNLEASED = f"""
    state = 'sending' AND lease_until IS NULL AND {_TEXT_KNOWN}"""
# Claims and polls whose worker died (or left).
_EXPIRED = """
    lease_until < now() AND claimed_by IS DISTINCT FROM %(worker)s
    AND (state = 'claimed'
         OR (%(poll)s AND state = 'accepted' AND claimed_by IS NOT NULL))"""
_PLANNED = "state = 'planned'"
# What was left for a worker that starts later: not sent, and let-go polls.
_LEFT = f"""
    updated_at < %(started)s
    AND (state = 'not_sent'
         OR (%(poll)s AND state = 'accepted' AND claimed_by IS NULL
             AND message_id IS NOT NULL))
    AND {_TEXT_KNOWN}"""

_REAPED_ERROR = (
    "the worker sending it ({who}) stopped before its answer was recorded: "
    "it may have gone out, so it is not sent again"
)
# One statement, one round trip (a worker's calls run in a thread, which
# waits for the busy event loop's thread at each): data-modifying parts that
# each pick and lock rows (FOR UPDATE SKIP LOCKED) and update them by their
# ctid (a TID scan; a locked row keeps its ctid; joining them back by key
# would be planned as a scan of the broadcast). First the sends to reap, then
# up to %(limit)s rows: expired claims and polls, the plan in input order,
# then rows left for a later worker in no particular order (sorting all of
# them for each claim would cost a scan of them each time).
_REAP = """
{name} AS (
    UPDATE iprogsms_recipients AS r
    SET state = 'unknown',
        error = replace(%(error)s, '{{who}}',
                        COALESCE(r.claimed_by, 'an earlier run')),
        claimed_by = NULL,
        lease_until = NULL,
        updated_at = now()
    WHERE r.ctid = ANY (ARRAY(
        SELECT ctid FROM iprogsms_recipients
        WHERE broadcast = %(name)s AND {which}
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING r.position, r.phone_number, r.text_digest, r.state,
              r.message_id, r.status, r.error
)"""
_TAKE_UP = """
{name} AS (
    UPDATE iprogsms_recipients AS r
    SET state = CASE WHEN r.state = 'accepted' THEN 'accepted' ELSE 'claimed' END,
        claimed_by = %(worker)s,
        lease_until = now() + make_interval(secs => %(lease)s),
        updated_at = now()
    WHERE r.ctid = ANY (ARRAY(
        SELECT ctid FROM iprogsms_recipients
        WHERE broadcast = %(name)s AND {which}
        {order}
        LIMIT greatest(%(limit)s - {before}, 0)
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING r.position, r.phone_number, r.text_digest, r.state,
              r.message_id, r.status, r.error
)"""
_CLAIM_PARTS = (
    _REAP.format(name="reaped", which=_REAPABLE),
    _REAP.format(name="unleased", which=_UNLEASED),
    _TAKE_UP.format(
        name="expired", which=_EXPIRED, order="ORDER BY position", before="0"
    ),
    _TAKE_UP.format(
        name="planned",
        which=_PLANNED,
        order="ORDER BY position",
        before="(SELECT count(*) FROM expired)",
    ),
    _TAKE_UP.format(
        name="left_over",
        which=_LEFT,
        order="",
        before="(SELECT count(*) FROM expired) - (SELECT count(*) FROM planned)",
    ),
)
_CLAIMED = """
SELECT c.*, t.message
FROM (SELECT * FROM reaped UNION ALL SELECT * FROM unleased
      UNION ALL SELECT * FROM expired UNION ALL SELECT * FROM planned
      UNION ALL SELECT * FROM left_over) AS c
LEFT JOIN iprogsms_texts AS t
  ON t.broadcast = %(name)s AND t.text_digest = c.text_digest
ORDER BY c.position
"""
_CLAIM = "WITH" + ",".join(_CLAIM_PARTS) + _CLAIMED


def _claim(connection: Connection, params: dict[str, Any]) -> list[Claimed]:
    found = connection.execute(_CLAIM, {**params, "error": _REAPED_ERROR}).fetchall()
    claimed = [
        Claimed(
            -1 if position is None else position,
            number,
            digest,
            message or "",
            state,
            message_id,
            status,
            error,
        )
        for position, number, digest, state, message_id, status, error, message in found
    ]
    missing = [c for c in claimed if not c.message]
    if missing:  # pragma: no cover - claims take only rows whose text is known
        raise JournalError(
            f"the broadcast {params['name']!r} has recipients without their text "
            f"(first: position {missing[0].position}): plan it again"
        )
    return claimed


# One EXISTS for each kind, so that each can use its index.
_OUTLOOK = f"""
SELECT
    b.planned_at IS NOT NULL,
    EXISTS (SELECT 1 FROM iprogsms_recipients
            WHERE broadcast = %(name)s AND {_PLANNED})
    OR EXISTS (SELECT 1 FROM iprogsms_recipients
               WHERE broadcast = %(name)s AND {_REAPABLE})
    OR EXISTS (SELECT 1 FROM iprogsms_recipients
               WHERE broadcast = %(name)s AND {_UNLEASED})
    OR EXISTS (SELECT 1 FROM iprogsms_recipients
               WHERE broadcast = %(name)s AND {_EXPIRED})
    OR EXISTS (SELECT 1 FROM iprogsms_recipients
               WHERE broadcast = %(name)s AND {_LEFT}),
    (SELECT extract(epoch FROM min(lease_until) - now())
     FROM iprogsms_recipients
     WHERE broadcast = %(name)s
       AND lease_until >= now()
       AND (state IN ('claimed', 'sending')
            OR (%(poll)s AND state = 'accepted' AND claimed_by IS NOT NULL))
       AND claimed_by IS DISTINCT FROM %(worker)s)
FROM iprogsms_broadcasts AS b
WHERE b.name = %(name)s
"""  # noqa: S608 -- constant fragments, no input in them


def _outlook(connection: Connection, params: dict[str, Any]) -> Outlook:
    row = connection.execute(_OUTLOOK, params).fetchone()
    if row is None:  # pragma: no cover - join() recorded the name
        raise JournalError(f"the broadcast {params['name']!r} is gone")
    planned, claimable, due = row
    return Outlook(
        planned=bool(planned),
        claimable=bool(claimable),
        others_due=None if due is None else float(due),
    )
