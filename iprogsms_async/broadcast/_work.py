"""One worker of a shared broadcast: plan the input once, claim, send, poll, leave.

``client.broadcast(recipients, shared=True, journal="postgresql://...",
name=...)`` and ``client.broadcast_work(...)`` (no input) run a `SharedWork`
instead of a single `BroadcastRun`. It joins the broadcast's journal
(`SharedJournal`), and:

- plans its input, if it was given one: streamed in chunks of
  `PLAN_CHUNK`, each recipient loaded once whichever worker comes first
  (invalid and duplicate rows are reported to this worker's caller, being
  no one's to send); then records the plan as complete;
- renews the leases of every row it holds every ``lease / 3`` seconds;
- runs the engine in rounds, each fed the recipients it claims (a few per
  concurrency slot: ``claim_size``), as a `BroadcastRun` fed any input is.
  The engine sends only what ``intend`` still lets it take, and re-polls an
  accepted text that a claim handed over (its lookup says ``accepted``). A
  round's input ends when the plan is complete and nothing is claimable;
  the round then finishes its sends and polls, and lets go of the texts it
  polled to their timeout;
- between rounds, waits while other workers hold live leases on rows that
  may come back (claims, sends, polls), looking again when the first runs
  out and at least every ``lease / 2`` seconds, so that a worker's death is
  taken up by one still running; it leaves when none is held.

Rounds rather than one long engine run: the engine reads its input when it
has nothing else due, so input that waits for other workers would hold back
this worker's own polls. Between rounds nothing of the engine is waiting.
"""

from __future__ import annotations

import os
import secrets
import socket
from contextlib import aclosing
from typing import TYPE_CHECKING, cast

import anyio
import attrs

from ._claims import SharedJournal
from ._engine import BroadcastRun, Flow
from ._errors import JournalError
from ._postgres import STATE_CLAIMED
from ._progress import Tally
from ._recipients import DuplicateTracker, Recipient, read_recipients
from ._report import DUPLICATE, INVALID

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from anyio.abc import ObjectSendStream
    from anyio.streams.memory import MemoryObjectSendStream

    from .._errors import InsufficientCreditsError
    from ._options import BroadcastOptions
    from ._recipients import Recipients
    from ._report import BroadcastEstimate, BroadcastResult
    from ._sender import Sender

__all__ = ["PLAN_CHUNK", "SharedWork", "default_worker_id", "worker_token"]

PLAN_CHUNK = 1000
"""Recipients a planner loads in one transaction: memory stays flat."""
_RETRY = 0.1
"""Seconds before claiming again rows another worker's claim held a moment."""
_PLAN_POLL = 1.0
"""The longest wait between two looks for a plan that is not complete yet."""


def default_worker_id() -> str:
    """``hostname:pid``: a worker's id when none is given."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_token(worker_id: str | None) -> str:
    """The token a worker holds rows by: its id and a suffix of this process's own.

    The suffix makes a restarted process (a container's pid 1 again, the
    same pod name) a new worker: it never takes the rows its predecessor
    held for its own.
    """
    return f"{worker_id or default_worker_id()}/{secrets.token_hex(3)}"


class _WorkTally(Tally):
    """The worker's counts, across the engine's rounds: finished once, at the end."""

    __slots__ = ()

    def finish(self) -> None:
        """A round's end is not the worker's: `finish_work` calls ``on_progress``."""

    def finish_work(self) -> None:
        """Call ``on_progress`` one last time, with ``done=True``."""
        super().finish()


class SharedWork:
    """One worker of a shared broadcast: what `open_stream` runs for ``shared=True``.

    Offers what `BroadcastStream` reads of a run: ``tally``, ``estimate``
    (always None: a shared broadcast has no dry run), ``stopped`` and
    ``flow``.
    """

    def __init__(
        self,
        sender: Sender,
        recipients: Recipients | None,
        config: BroadcastOptions,
        *,
        plan_only: bool = False,
    ) -> None:
        """A worker of ``config``'s broadcast; it plans ``recipients`` if given.

        ``plan_only``: plan them, and leave the sending to the workers.
        """
        self._plan_only = plan_only
        self._sender = sender
        self._recipients = recipients
        self._config = config
        # The engine's own options: claims are distinct rows (no duplicates
        # to track), and it does not open the journal itself.
        self._engine_config = attrs.evolve(config, shared=False, deduplicate=False)
        self.estimate: BroadcastEstimate | None = None
        self.tally = _WorkTally(config.on_progress, config.progress_interval)
        self.stopped: InsufficientCreditsError | None = None
        self.flow = Flow()
        """The reader's progress, shared by every round's engine (see `Flow`)."""
        self._planning = recipients is not None
        self._planned_chunk = anyio.Event()
        self._claim_size = config.claim_size or max(
            2 * config.concurrency, config.batch_size or 1
        )
        self.worker = worker_token(config.worker_id)
        """This worker's token in the journal's ``claimed_by``."""

    async def run(self, out: MemoryObjectSendStream[BroadcastResult]) -> None:
        """Plan (with input), work until nothing is left, sending results to ``out``."""
        config = self._config
        assert isinstance(config.journal, str)  # noqa: S101 -- checked: a URL
        assert config.name is not None  # noqa: S101 -- checked: required
        try:
            async with out:
                journal = await SharedJournal.join(
                    config.journal,
                    name=config.name,
                    worker=self.worker,
                    lease=config.lease,
                    poll=config.poll,
                )
                try:
                    if self._plan_only:
                        await self._plan(journal, out.clone())
                        return
                    async with anyio.create_task_group() as group:
                        group.start_soon(self._heartbeat, journal)
                        if self._recipients is not None:
                            group.start_soon(self._plan, journal, out.clone())
                        await self._work(journal, out)
                        group.cancel_scope.cancel()
                finally:
                    with anyio.CancelScope(shield=True):
                        await journal.aclose()
        finally:
            self.tally.finish_work()

    # --- planning --------------------------------------------------------------

    async def _plan(
        self, journal: SharedJournal, out: ObjectSendStream[BroadcastResult]
    ) -> None:
        """Load the input into the journal in chunks; report rows no one will send."""
        config = self._config
        assert self._recipients is not None  # noqa: S101 -- only started with input
        seen = DuplicateTracker(config.message)
        chunk: list[tuple[int, str, str]] = []
        try:
            async with out:
                async for recipient in read_recipients(
                    self._recipients, config.message
                ):
                    message = recipient.message
                    if recipient.problem is not None or message is None:
                        result = recipient.result(INVALID, error=recipient.problem)
                        await self._settle(out, result)
                    elif seen.seen_before(recipient.phone_number, message):
                        await self._settle(out, recipient.result(DUPLICATE))
                    else:
                        chunk.append((recipient.index, recipient.phone_number, message))
                        if len(chunk) >= PLAN_CHUNK:
                            await journal.plan(chunk)
                            chunk = []
                            self._chunk_planned()
                if chunk:
                    await journal.plan(chunk)
                await journal.finish_plan()
        finally:
            self._planning = False
            self._chunk_planned()

    def _chunk_planned(self) -> None:
        self._planned_chunk.set()
        self._planned_chunk = anyio.Event()

    async def _settle(
        self, out: ObjectSendStream[BroadcastResult], result: BroadcastResult
    ) -> None:
        """Report a row of the input that no one will send, as the engine would."""
        tally = self.tally
        tally.read += 1
        tally.counts[result.status] += 1
        if self._config.on_result is not None:
            self._config.on_result(result)
        tally.tick()
        try:
            await out.send(result)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # the reader left: on_result had it
        self.flow.handed += 1

    # --- working ---------------------------------------------------------------

    async def _heartbeat(self, journal: SharedJournal) -> None:
        while True:
            await anyio.sleep(journal.lease / 3)
            await journal.renew()

    async def _work(
        self, journal: SharedJournal, out: MemoryObjectSendStream[BroadcastResult]
    ) -> None:
        """Rounds of the engine over claims, until nothing is left for anyone."""
        while True:
            async with aclosing(self._claims(journal)) as claims:
                engine = BroadcastRun(
                    self._sender,
                    cast("Recipients", claims),  # read and checked already
                    self._engine_config,
                    journal=journal,
                )
                engine.tally = self.tally
                engine.flow = self.flow
                await engine.run(out.clone())
            await journal.let_go()
            if engine.stopped is not None:
                # Out of credits: the rest of the plan was recorded not_sent,
                # for a worker started after a top-up.
                self.stopped = engine.stopped
                return
            if not await self._more_to_come(journal):
                return

    async def _claims(self, journal: SharedJournal) -> AsyncGenerator[Recipient, None]:
        """A round's input: claims, until the plan is complete and none is left."""
        waiting_since: float | None = None
        while True:
            batch = await journal.claim(self._claim_size)
            if batch:
                waiting_since = None
                for claimed in batch:
                    if claimed.state != STATE_CLAIMED:
                        journal.remember(claimed)  # a poll, or a reaped send
                    # Checked when it was planned: the journal holds no other.
                    yield Recipient(
                        claimed.position, claimed.phone_number, claimed.message
                    )
                continue
            outlook = await journal.outlook()
            if outlook.claimable:
                await anyio.sleep(_RETRY)  # another worker's claim held them
                continue
            if outlook.planned and not self._planning:
                return
            now = anyio.current_time()
            waiting_since = now if waiting_since is None else waiting_since
            if not self._planning and now - waiting_since > self._config.plan_timeout:
                raise JournalError(
                    f"the broadcast {journal.name!r} has no complete plan after "
                    f"{self._config.plan_timeout:g} s of waiting: start a worker "
                    "with its recipients (the first to come plans them, once), or "
                    "wait longer (plan_timeout=...)"
                )
            with anyio.move_on_after(min(_PLAN_POLL, journal.lease / 2)):
                await self._planned_chunk.wait()

    async def _more_to_come(self, journal: SharedJournal) -> bool:
        """Wait while other workers hold rows that may come back; True if some did."""
        while True:
            outlook = await journal.outlook()
            if outlook.claimable or not outlook.planned:
                return True
            if outlook.others_due is None:
                return False
            # Look again just after the first lease runs out, and at least
            # twice a lease; a lease renewed meanwhile is simply seen again.
            await anyio.sleep(min(outlook.others_due + _RETRY, journal.lease / 2))

    def __repr__(self) -> str:
        return f"<SharedWork {self._config.name!r} as {self.worker!r}>"
