"""The broadcast engine: one scheduler feeding a fixed pool of workers.

The scheduler reads the input lazily and hands out jobs (a send, or a status
poll that has come due) over an unbuffered stream, so it reads a recipient
only when a worker is free to take it. Workers reach the gateway through a
`Sender` the client hands over (its own road: ``sms.send``/``send_bulk`` and
``sms.status`` on a copy with the broadcast's rate limit and with sends
shielded from cancellation while on the wire); the engine knows nothing else
of the client. The journal is any `JournalStore`, opened by `open_journal`.
Every outcome is recorded synchronously the moment it is known (in the
counts, ``on_result`` and the journal) so a cancellation after that point
cannot lose it.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from contextlib import aclosing
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import attrs

from .._errors import (
    APIError,
    InsufficientCreditsError,
    IProgSMSError,
    RateLimitError,
    ValidationError,
)
from .._shielding import SendTrace
from ._errors import ran_out_of_credits, short_of_credits
from ._journal_store import (
    STATE_ACCEPTED,
    STATE_FINAL,
    STATE_IN_DOUBT,
    STATE_NOT_SENT,
    text_digest,
)
from ._preflight import estimate, materialize, resumed_result
from ._progress import Tally
from ._recipients import DuplicateTracker, Recipient, read_recipients
from ._report import (
    DUPLICATE,
    ERROR,
    INVALID,
    NOT_SENT,
    REJECTED,
    UNKNOWN,
    BroadcastEstimate,
    BroadcastResult,
    gateway_status,
)
from ._stores import journal_exists, open_journal

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream, ObjectSendStream

    from ._journal_store import JournalStore, Key
    from ._options import BroadcastOptions
    from ._recipients import Recipients
    from ._report import BroadcastStatus, ResultStatus
    from ._sender import Sender

__all__ = ["BroadcastRun"]

_NEVER = float("inf")


@attrs.define(eq=False)
class _Send:
    """Recipients to text: one, or a chunk sharing a text for ``send_bulk``."""

    recipients: list[Recipient]
    bulk: bool


@attrs.define(eq=False)
class _Poll:
    """An accepted message awaiting a final delivery status."""

    recipient: Recipient
    message_id: str
    key: Key | None
    deadline: float
    interval: float
    status: str | None = None
    error: IProgSMSError | None = None


_Job = _Send | _Poll


class BroadcastRun:
    """One run of a broadcast: reads, sends, polls, and reports each recipient."""

    def __init__(
        self,
        sender: Sender,
        recipients: Recipients,
        config: BroadcastOptions,
        *,
        journal: JournalStore | None = None,
    ) -> None:
        """A run of ``config`` over ``recipients``, sent through ``sender``.

        ``journal``, when given, is an open journal to use in place of
        opening ``config.journal`` (a shared worker's, see ``_work``): the
        run flushes it at the end, and its opener closes it.
        """
        self._config = config
        self._recipients = recipients
        # The client's road, its sends seen through once on the wire; each
        # send takes a SendTrace: asyncio's own task.cancel() of a worker goes
        # through anyio's shield, and the trace is what then tells a send on
        # the wire from one that never left.
        self._sender = sender
        self.estimate: BroadcastEstimate | None = None
        self.tally = Tally(config.on_progress, config.progress_interval)
        self._journal = journal
        self._owns_journal = journal is None
        self._duplicates = DuplicateTracker(config.message)
        self._polls: list[tuple[float, int, _Poll]] = []
        # Every accepted text not yet settled, wherever its poll is: due, on
        # its way to a worker, or in flight (cancelled there, it is still here).
        self._polling: dict[_Poll, None] = {}
        self._order = itertools.count()
        self._outbox: deque[BroadcastResult] = deque()
        self._out: ObjectSendStream[BroadcastResult] | None = None
        self._busy = 0
        self._wake = anyio.Event()
        self._random = random.Random()  # noqa: S311 -- jitter, not cryptography
        # The gateway's first refusal for lack of credits: from then on no
        # text is sent, and the rest are reported not_sent.
        self._out_of_credits: InsufficientCreditsError | None = None
        self._unsent = 0
        self.stopped: InsufficientCreditsError | None = None
        """Set when the run ended having left recipients unsent for lack of
        credits: the error to raise once every result has been read."""

    # --- the run ------------------------------------------------------------

    async def run(self, out: ObjectSendStream[BroadcastResult]) -> None:
        """Run the broadcast to the end, sending each result to ``out``."""
        self._out = out
        config = self._config
        try:
            async with out:
                if (
                    self._journal is None
                    and config.journal is not None
                    and not (config.dry_run and not journal_exists(config.journal))
                ):
                    self._journal = await open_journal(config.journal, name=config.name)
                if config.dry_run:
                    await self._dry_run()
                else:
                    recipients = self._recipients
                    if config.check_credits:
                        recipients = await materialize(recipients)
                        await self._check_credits(recipients)
                    await self._broadcast(recipients)
                    self.stopped = self._unsent_error()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    self._settle_leftovers()  # calls on_result, which may raise
                finally:
                    try:
                        if self._journal is not None and self._owns_journal:
                            await self._journal.aclose()
                        elif self._journal is not None:
                            await self._journal.flush()
                    finally:
                        self.tally.finish()

    async def _dry_run(self) -> None:
        async def settle(result: BroadcastResult) -> None:
            self._settle_result(result)
            await self._flush_outbox()

        self.estimate = await estimate(
            self._recipients, self._config, self._journal, settle
        )

    async def _check_credits(self, recipients: Recipients) -> None:
        self.estimate = await estimate(recipients, self._config, self._journal)
        needed = self.estimate.credits_needed
        account = await self._sender.credits()
        if account.load_balance < needed:
            raise short_of_credits(
                needed,
                self.estimate.valid,
                self.estimate.segments,
                account,
                self._sender.credits_url,
            )

    async def _broadcast(self, recipients: Recipients) -> None:
        send_jobs, receive_jobs = anyio.create_memory_object_stream[_Job](0)
        async with anyio.create_task_group() as reporting:
            if self._config.on_progress is not None:
                reporting.start_soon(self._report_progress)
            async with anyio.create_task_group() as workers:
                for _ in range(self._config.concurrency):
                    workers.start_soon(self._worker, receive_jobs.clone())
                receive_jobs.close()
                async with send_jobs:
                    await self._schedule(send_jobs, recipients)
            reporting.cancel_scope.cancel()

    async def _report_progress(self) -> None:
        """Keep ``on_progress`` going while nothing settles (long polls)."""
        while True:
            await anyio.sleep(self._config.progress_interval)
            self.tally.tick()

    # --- the scheduler ------------------------------------------------------

    async def _schedule(
        self, jobs: ObjectSendStream[_Job], recipients: Recipients
    ) -> None:
        ready: deque[_Send] = deque()
        buckets: dict[str, list[Recipient]] = {}
        source = read_recipients(recipients, self._config.message)
        input_done = False
        async with aclosing(source):
            while True:
                if self._polls and self._polls[0][0] <= anyio.current_time():
                    await self._dispatch(jobs, heapq.heappop(self._polls)[2])
                elif ready:
                    await self._dispatch(jobs, ready.popleft())
                elif not input_done:
                    recipient = await anext(source, None)
                    if recipient is None:
                        input_done = True
                        ready.extend(
                            _Send(chunk, bulk=True) for chunk in buckets.values()
                        )
                        buckets.clear()
                        continue
                    self.tally.read += 1
                    job = self._admit(recipient, buckets)
                    if job is not None:
                        await self._dispatch(jobs, job)
                    await self._flush_outbox()
                elif self._polls or self._busy:
                    await self._sleep_until_woken()
                else:
                    return

    async def _sleep_until_woken(self) -> None:
        if self._journal is not None:
            await self._journal.flush()  # a quiet spell: commit what is known
        wake = self._wake
        due = self._polls[0][0] if self._polls else _NEVER
        with anyio.move_on_after(due - anyio.current_time()):
            await wake.wait()
        if wake is self._wake:
            self._wake = anyio.Event()

    async def _dispatch(self, jobs: ObjectSendStream[_Job], job: _Job) -> None:
        self._busy += 1
        try:
            await jobs.send(job)
        except anyio.BrokenResourceError:
            self._busy -= 1
            # Every worker has ended, on the error their task group is about
            # to raise: its cancellation lands here, so that the error comes
            # out alone rather than in a group with this one.
            await anyio.lowlevel.checkpoint()
            raise
        except BaseException:
            self._busy -= 1
            raise

    def _admit(  # noqa: PLR0911 -- one exit per way a recipient can settle
        self, recipient: Recipient, buckets: dict[str, list[Recipient]]
    ) -> _Send | None:
        """Settle a recipient that needs no request, or return (or batch) its send."""
        if recipient.problem is not None:
            self._settle(recipient, INVALID, error=recipient.problem)
            return None
        message = recipient.message
        assert message is not None  # noqa: S101 -- valid recipients have a text
        if self._config.deduplicate and self._duplicates.seen_before(
            recipient.phone_number, message
        ):
            self._settle(recipient, DUPLICATE)
            return None
        if self._journal is not None and self._resume(recipient):
            return None
        if self._out_of_credits is not None:
            self._not_sent([recipient], self._out_of_credits)
            return None
        size = self._config.batch_size
        if size is None:
            return _Send([recipient], bulk=False)
        bucket = buckets.setdefault(message, [])
        bucket.append(recipient)
        if len(bucket) >= size:
            del buckets[message]
            return _Send(bucket, bulk=True)
        if sum(map(len, buckets.values())) > 4 * size:
            # Many texts, none filling a chunk: send the fullest rather than
            # hold an unbounded number of recipients back.
            fullest = max(buckets, key=lambda text: len(buckets[text]))
            return _Send(buckets.pop(fullest), bulk=True)
        return None

    def _resume(self, recipient: Recipient) -> bool:
        """Settle or re-poll a recipient an earlier run recorded; True if handled."""
        journal = self._journal
        assert journal is not None  # noqa: S101 -- only called with a journal
        key = self._key(recipient)
        entry = journal.lookup(*key) if key is not None else None
        if entry is None:
            return False
        if entry.state in (STATE_ACCEPTED, STATE_FINAL) and entry.message_id:
            # Accepted by the gateway in an earlier run: counted as accepted
            # here too, so the progress agrees with the results.
            self.tally.accepted += 1
        if entry.state == STATE_ACCEPTED and entry.message_id is not None:
            self._accepted(recipient, key, entry.message_id, status=entry.status)
        else:
            self._settle_result(resumed_result(recipient, entry))
        return True

    # --- the workers --------------------------------------------------------

    async def _worker(self, jobs: ObjectReceiveStream[_Job]) -> None:
        async with jobs:
            async for job in jobs:
                try:
                    if isinstance(job, _Send):
                        await self._send(job)
                    else:
                        await self._poll(job)
                    if self._journal is not None:
                        await self._journal.flush_if_due()
                    await self._flush_outbox()
                finally:
                    self._busy -= 1
                    self._wake.set()

    async def _send(self, job: _Send) -> None:
        recipients = job.recipients
        journal = self._journal
        keys = [self._key(r) for r in recipients] if journal is not None else []
        tally = self.tally
        trace = SendTrace()
        try:
            if journal is not None and self._out_of_credits is None:
                taken = await journal.intend([key for key in keys if key is not None])
                if len(taken) < len(recipients):
                    # A shared worker sends only the recipients it still
                    # holds: another worker took the rest (see _claims).
                    held = set(taken)
                    kept = [i for i, key in enumerate(keys) if key in held]
                    recipients = [recipients[i] for i in kept]
                    keys = [keys[i] for i in kept]
                    job = _Send(recipients, bulk=job.bulk)
                    if not recipients:
                        return
            if self._out_of_credits is not None:
                # The account ran out while this send waited: it never left.
                self._not_sent(recipients, self._out_of_credits)
                return
            tally.requests += 1
            tally.in_flight += 1
            try:
                sent = await self._deliver(job, trace)
            finally:
                tally.in_flight -= 1
        except anyio.get_cancelled_exc_class():
            if trace.maybe_sent:
                # anyio's cancellation waits for a send on the wire (it is
                # shielded), asyncio's own task.cancel() of this worker does
                # not: the request was cut off, the text may have gone out.
                self._failed(recipients, keys, trace.cancelled())
            else:
                self._journal_all(keys, STATE_NOT_SENT)  # it never left
            raise
        except IProgSMSError as error:
            if not error.ends_broadcast or isinstance(error, InsufficientCreditsError):
                # Out of credits ends the sending, not the run: see _failed.
                self._failed(recipients, keys, error)
                return
            # Refused (a bad token, a closed client) or never sent (the
            # journal could not record the intent): not sent. Queued behind
            # an intent a failed commit put back, so it is the state a later
            # commit leaves.
            self._journal_all(keys, STATE_NOT_SENT)
            raise
        self._all_accepted(recipients, keys, sent)

    def _failed(
        self, recipients: list[Recipient], keys: list[Key | None], error: IProgSMSError
    ) -> None:
        """Record a send that raised ``error``: in doubt if it may have gone out."""
        status = _failed_status(error)
        self._journal_all(
            keys,
            STATE_IN_DOUBT if status == UNKNOWN else STATE_NOT_SENT,
            error=str(error),
        )
        if isinstance(error, InsufficientCreditsError):
            self._out_of_credits = self._out_of_credits or error
        if status == NOT_SENT:
            self._unsent += len(recipients)
        for recipient in recipients:
            self._settle(recipient, status, error=error)

    def _all_accepted(
        self, recipients: list[Recipient], keys: list[Key | None], sent: list[str]
    ) -> None:
        keyed: list[Key | None] = list(keys) if keys else [None] * len(recipients)
        # Journal every id before settling any recipient: settling calls
        # on_result, which may raise and must not cost the others their ids.
        self._journal_all(keyed, STATE_ACCEPTED, message_ids=sent)
        self.tally.accepted += len(recipients)
        for recipient, key, message_id in zip(recipients, keyed, sent, strict=True):
            self._accepted(recipient, key, message_id)

    async def _deliver(self, job: _Send, trace: SendTrace) -> list[str]:
        """Send ``job`` as ``sms.send``/``send_bulk`` would, traced."""
        provider = self._config.sms_provider
        first = job.recipients[0]
        assert first.message is not None  # noqa: S101 -- valid recipients have a text
        if job.bulk:
            numbers = [recipient.phone_number for recipient in job.recipients]
            return await self._sender.send_bulk(numbers, first.message, provider, trace)
        message_id = await self._sender.send(
            first.phone_number, first.message, provider, trace
        )
        return [message_id]

    def _accepted(
        self,
        recipient: Recipient,
        key: Key | None,
        message_id: str,
        *,
        status: str | None = None,
    ) -> None:
        config = self._config
        if not config.poll:
            self._settle(recipient, gateway_status(status), message_id=message_id)
            return
        now = anyio.current_time()
        entry = _Poll(
            recipient,
            message_id,
            key,
            deadline=now + config.poll_timeout,
            interval=config.poll_interval,
            status=status,
        )
        self._polling[entry] = None
        self._push_poll(entry, now)

    def _push_poll(self, entry: _Poll, now: float) -> None:
        delay = entry.interval * self._random.uniform(0.8, 1.2)
        due = min(now + delay, entry.deadline)
        heapq.heappush(self._polls, (due, next(self._order), entry))
        self._wake.set()

    async def _poll(self, entry: _Poll) -> None:
        tally = self.tally
        give_up = False
        tally.requests += 1
        tally.in_flight += 1
        try:
            answer = await self._sender.status(entry.message_id)
        except IProgSMSError as error:
            if error.ends_broadcast and not isinstance(error, InsufficientCreditsError):
                raise
            entry.error = error
            # A definite refusal (an unknown id, say) will not change on retry;
            # nor will an id we cannot even put in a request.
            give_up = isinstance(error, ValidationError) or (
                isinstance(error, APIError)
                and not isinstance(error, RateLimitError)
                and error.status_code < 500
            )
        else:
            entry.status = answer.status
            entry.error = None
        finally:
            tally.in_flight -= 1
        now = anyio.current_time()
        final = (
            entry.status is not None
            and entry.status.lower() not in self._config.non_final_statuses
        )
        if final or give_up or now >= entry.deadline:
            self._settle_poll(entry, final=final)
            return
        entry.interval = min(entry.interval * 2, self._config.poll_max_interval)
        self._push_poll(entry, now)

    def _settle_poll(self, entry: _Poll, *, final: bool) -> None:
        del self._polling[entry]
        status = gateway_status(entry.status)
        journal = self._journal
        if journal is not None and entry.key is not None:
            state = STATE_FINAL if final else STATE_ACCEPTED
            journal.record(entry.key, state, message_id=entry.message_id, status=status)
        self._settle(
            entry.recipient, status, message_id=entry.message_id, error=entry.error
        )

    # --- outcomes -----------------------------------------------------------

    def _not_sent(
        self, recipients: list[Recipient], error: InsufficientCreditsError
    ) -> None:
        """Settle recipients left unsent for lack of credits: sent on a rerun."""
        if self._journal is not None:
            keys = [self._key(recipient) for recipient in recipients]
            self._journal_all(keys, STATE_NOT_SENT, error=str(error))
        self._unsent += len(recipients)
        for recipient in recipients:
            self._settle(recipient, NOT_SENT, error=error)

    def _unsent_error(self) -> InsufficientCreditsError | None:
        """The error that ends a run which ran out of credits, saying what is left."""
        first = self._out_of_credits
        if first is None:
            return None
        return ran_out_of_credits(
            first, self._unsent, journaled=self._config.journal is not None
        )

    def _settle(
        self,
        recipient: Recipient,
        status: ResultStatus,
        *,
        message_id: str | None = None,
        error: IProgSMSError | None = None,
    ) -> None:
        self._settle_result(
            recipient.result(status, message_id=message_id, error=error)
        )

    def _settle_result(self, result: BroadcastResult) -> None:
        """Record a final result at once: counts, ``on_result``, then the outbox."""
        self.tally.counts[result.status] += 1
        if self._config.on_result is not None:
            self._config.on_result(result)
        self._outbox.append(result)
        self.tally.tick()

    async def _flush_outbox(self) -> None:
        """Hand recorded results to the reader, waiting while it is behind."""
        out = self._out
        assert out is not None  # noqa: S101 -- set by run()
        while self._outbox:
            result = self._outbox.popleft()
            try:
                await out.send(result)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._outbox.clear()  # the reader left: on_result has them all
                return

    def _settle_leftovers(self) -> None:
        """On an early end, report what was accepted and still being polled."""
        self._polls.clear()
        while self._polling:
            self._settle_poll(next(iter(self._polling)), final=False)

    # --- the journal --------------------------------------------------------

    def _key(self, recipient: Recipient) -> Key | None:
        if recipient.message is None:
            return None
        return (recipient.phone_number, text_digest(recipient.message))

    def _journal_all(
        self,
        keys: list[Key | None],
        state: str,
        *,
        error: str | None = None,
        message_ids: list[str] | None = None,
    ) -> None:
        journal = self._journal
        if journal is None:
            return
        ids: list[str | None] = list(message_ids) if message_ids else [None] * len(keys)
        for key, message_id in zip(keys, ids, strict=True):
            if key is not None:
                journal.record(key, state, message_id=message_id, error=error)


def _failed_status(error: IProgSMSError) -> BroadcastStatus:
    """The status of a recipient whose send raised ``error``."""
    if error.maybe_sent:
        return UNKNOWN
    if isinstance(error, InsufficientCreditsError):
        return NOT_SENT
    if isinstance(error, APIError) and not isinstance(error, RateLimitError):
        return REJECTED
    return ERROR
