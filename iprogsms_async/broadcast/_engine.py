"""The broadcast engine: a fixed pool of workers, each pulling its own work.

A worker free to work takes, in this order, a status poll that has come due,
a chunk of recipients ready for ``send_bulk``, or the next recipient read from
the input, and runs it; nothing stands between the workers (no scheduler task,
no stream handing jobs over), so finishing one request and starting the next
takes no task switch. The input is read lazily, one recipient a time and only
by a worker free to send it, so memory does not grow with the input. A worker
with nothing to take parks until there may be: one of the parked keeps watch
for the next poll to come due.

Workers reach the gateway through a `Sender` the client hands over (its own
road: ``sms.send``/``send_bulk`` and ``sms.status`` on a copy with the
broadcast's rate limit and with sends shielded from cancellation while on the
wire); the engine knows nothing else of the client. The journal is any
`JournalStore`, opened by `open_journal`. Every outcome is recorded
synchronously the moment it is known (in the counts, ``on_result`` and the
journal) so a cancellation after that point cannot lose it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import deque
from collections.abc import AsyncIterable
from contextlib import nullcontext
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import attrs
import sniffio

from .._errors import (
    APIError,
    InsufficientCreditsError,
    IProgSMSError,
    RateLimitError,
    ValidationError,
)
from .._loop import name_asyncio, unname
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
from ._recipients import DuplicateTracker, Recipient, check_item
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
    from collections.abc import AsyncIterator, Callable, Iterator
    from contextlib import AbstractAsyncContextManager

    from anyio.streams.memory import MemoryObjectSendStream

    from .._models import SentMessage
    from ._journal_store import JournalStore, Key
    from ._options import BroadcastOptions
    from ._recipients import RecipientInput, Recipients
    from ._report import BroadcastStatus, ResultStatus
    from ._sender import Sender

__all__ = ["BroadcastRun", "Flow"]

_NEVER = float("inf")
_YIELD_EVERY = 64
"""Items read between two checkpoints of the reading workers: a plain
iterable never yields to the event loop by itself (a run of invalid numbers
sends nothing), nor does a transport that answers at once."""


@attrs.define(eq=False)
class _Chunk:
    """Recipients sharing a text, sent together through ``send_bulk``."""

    recipients: list[Recipient]


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


_Job = Recipient | _Chunk | _Poll
"""What a worker runs: one recipient's send, a chunk's, or a poll."""


class Flow:
    """How far the reader of a run's stream is behind: results handed and taken.

    One object, so that the rounds of a shared worker (``_work``), each a run
    of its own, and the rows its plan reports share the count of one stream.
    """

    __slots__ = ("handed", "taken")

    def __init__(self) -> None:
        self.handed = 0
        """Results handed to the reader so far."""
        self.taken = 0
        """Results the reader has taken so far (counted by the reader)."""


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
        self._now: Callable[[], float] = anyio.current_time
        # The work waiting for a worker: polls by due time, chunks ready for
        # send_bulk, and recipients held back to fill a chunk.
        self._polls: list[tuple[float, int, _Poll]] = []
        self._order = itertools.count()
        self._ready: deque[_Chunk] = deque()
        self._buckets: dict[str, list[Recipient]] = {}
        # Every accepted text not yet settled, wherever its poll is: due, or
        # in flight (cancelled there, it is still here).
        self._polling: dict[_Poll, None] = {}
        # The input: a plain iterable is read in place, an async one by one
        # worker at a time (``_reading``).
        self._items: Iterator[RecipientInput] | None = None
        self._aitems: AsyncIterator[RecipientInput] | None = None
        self._read = 0
        self._unyielding = 0
        self._input_done = False
        self._reading = False
        self._busy = 0
        # Parked workers; the watch is the one parked until the next poll is
        # due (``_alarm``), the others until woken.
        self._parked: deque[anyio.Event] = deque()
        self._watch: anyio.Event | None = None
        self._alarm = _NEVER
        self._outbox: deque[BroadcastResult] = deque()
        self._flushing: anyio.Event | None = None
        """Set while a worker hands the outbox over: set when it is done."""
        self._collected: list[BroadcastResult] | None = None
        self.flow = Flow()
        """The reader's progress on ``out`` (a stream): see `Flow`."""
        self._out: MemoryObjectSendStream[BroadcastResult] | None = None
        self._random = random.Random()  # noqa: S311 -- jitter, not cryptography
        # The gateway's first refusal for lack of credits: from then on no
        # text is sent, and the rest are reported not_sent.
        self._out_of_credits: InsufficientCreditsError | None = None
        self._unsent = 0
        self.stopped: InsufficientCreditsError | None = None
        """Set when the run ended having left recipients unsent for lack of
        credits: the error to raise once every result has been read."""

    # --- the run ------------------------------------------------------------

    async def run(
        self, out: MemoryObjectSendStream[BroadcastResult] | list[BroadcastResult]
    ) -> None:
        """Run the broadcast to the end, sending each result to ``out``.

        ``out`` is the stream a reader iterates, closed at the end; or a list,
        for a caller that keeps every result anyway (no reader to wait for).
        """
        closing: AbstractAsyncContextManager[object]
        if isinstance(out, list):
            self._collected = out
            closing = nullcontext()
        else:
            self._out = closing = out
        self._now = _clock()
        config = self._config
        try:
            async with closing:
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
                        try:
                            self.tally.finish()
                        finally:
                            self._let_go()

    def _let_go(self) -> None:
        """Drop the results: held here, they would make a cycle with the run.

        A result's error holds the frames it was raised through, and they
        the run: the run, its sender and the client's token would then wait
        for the garbage collector instead of going with the report.
        """
        self._collected = self._out = None
        self._outbox.clear()

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
        if isinstance(recipients, AsyncIterable):
            self._aitems = aiter(recipients)
        else:
            self._items = iter(recipients)
        # The workers' tasks inherit it: their anyio calls (each worker's
        # standing scope, the check before each send) know at once that
        # asyncio runs.
        named = name_asyncio()
        try:
            async with anyio.create_task_group() as reporting:
                if self._config.on_progress is not None:
                    reporting.start_soon(self._report_progress)
                async with anyio.create_task_group() as workers:
                    for _ in range(self._workers()):
                        workers.start_soon(self._worker)
                reporting.cancel_scope.cancel()
        finally:
            unname(named)

    def _workers(self) -> int:
        """``concurrency``, or fewer: no more than the client has connections."""
        connections = self._sender.connections
        concurrency = self._config.concurrency
        return concurrency if connections is None else min(concurrency, connections)

    async def _report_progress(self) -> None:
        """Call ``on_progress`` every interval, settled results or not."""
        while True:
            await anyio.sleep(self._config.progress_interval)
            self.tally.tick()

    # --- a worker -----------------------------------------------------------

    async def _worker(self) -> None:
        # One trace a worker, cleared before each send: a send's trace is read
        # only while that send is handled. The worker's own scope, never
        # cancelled itself, is what the request layer shields while a send is
        # on the wire (one scope a worker, not one a send).
        journal = self._journal
        with anyio.CancelScope() as scope:
            trace = SendTrace(scope)
            while True:
                if self._outbox:
                    await self._flush_outbox()  # the reader is behind: wait for it
                job: _Job | None = self._take()
                if job is None:
                    if not (self._input_done or self._reading):
                        job = await self._read_one()
                        if job is None:
                            continue
                    elif self._finished():
                        self._wake_all()
                        return
                    else:
                        await self._park()
                        continue
                self._busy += 1
                try:
                    if type(job) is _Poll:
                        await self._poll(job)
                    elif type(job) is _Chunk:
                        await self._send(job.recipients, trace, bulk=True)
                    else:
                        assert type(job) is Recipient  # noqa: S101 -- the third kind
                        await self._send([job], trace, bulk=False)
                finally:
                    self._busy -= 1
                # No wait unless a commit is due (or the reader is behind, above):
                # the next request follows this one without a task switch.
                if journal is not None:
                    await journal.flush_if_due()

    def _take(self) -> _Poll | _Chunk | None:
        """A due poll, else a ready chunk, else None; wakes a parked worker for more."""
        polls = self._polls
        due = polls and polls[0][0] <= self._now()
        if due:
            job: _Poll | _Chunk = heapq.heappop(polls)[2]
        elif self._ready:
            job = self._ready.popleft()
        else:
            return None
        if self._parked and (
            self._ready or (due and polls and polls[0][0] <= self._now())
        ):
            self._wake_one()  # more is ready than this worker can take
        return job

    def _finished(self) -> bool:
        return (
            self._input_done
            and not self._reading
            and not self._busy
            and not self._ready
            and not self._polls
        )

    # --- parking ------------------------------------------------------------

    async def _park(self) -> None:
        """Wait until there may be work: woken, or the next poll is due."""
        if self._journal is not None:
            await self._journal.flush()  # a quiet spell: commit what is known
            if self._has_work():
                return  # things moved on during the commit
        event = anyio.Event()
        if self._watch is None and self._polls:
            # Keep watch for the next poll; the others wait to be woken.
            self._watch = event
            self._alarm = self._polls[0][0]
            try:
                with anyio.CancelScope(deadline=self._alarm):
                    await event.wait()
            finally:
                self._watch = None
                self._alarm = _NEVER
                if self._parked and self._polls:
                    self._wake_one()  # one of them keeps watch now
            return
        self._parked.append(event)
        try:
            await event.wait()
        finally:
            if not event.is_set():  # cancelled: no longer parked
                self._parked.remove(event)

    def _has_work(self) -> bool:
        polls = self._polls
        return (
            bool(self._ready)
            or (bool(polls) and polls[0][0] <= self._now())
            or not (self._input_done or self._reading)
            or self._finished()
        )

    def _wake_one(self) -> None:
        if self._parked:
            self._parked.popleft().set()
        elif self._watch is not None:
            self._watch.set()

    def _wake_all(self) -> None:
        while self._parked:
            self._parked.popleft().set()
        if self._watch is not None:
            self._watch.set()

    # --- reading the input --------------------------------------------------

    async def _read_one(self) -> Recipient | _Chunk | None:
        """Read one recipient: its send, or None if it needs none (or input ended)."""
        self._unyielding += 1
        if (flow := self.flow).handed > flow.taken or self._unyielding >= _YIELD_EVERY:
            # The reader of the results is behind (a transport that never
            # yields, a mock's, lets one worker run on), or many recipients
            # have been read since a worker last let the others run.
            self._unyielding = 0
            await anyio.lowlevel.checkpoint()
            if self._input_done or self._reading:
                return None  # another worker read on meanwhile: look again
        item: object
        if self._items is not None:
            item = next(self._items, _END)
        else:
            assert self._aitems is not None  # noqa: S101 -- one of the two is set
            self._reading = True
            try:
                item = await anext(self._aitems, _END)
            finally:
                self._reading = False
            if self._parked and item is not _END:
                self._wake_one()  # the next recipient is another's to read
        if item is _END:
            self._end_of_input()
            return None
        recipient = check_item(self._read, item, self._config.message)
        self._read += 1
        self.tally.read += 1
        return self._admit(recipient)

    def _end_of_input(self) -> None:
        if self._input_done:
            return
        self._input_done = True
        self._items = self._aitems = None
        self._ready.extend(_Chunk(chunk) for chunk in self._buckets.values())
        self._buckets.clear()
        if self._ready or self._finished():
            self._wake_all()  # chunks to send, or nothing left to wait for

    def _admit(  # noqa: PLR0911 -- one exit per way a recipient can settle
        self, recipient: Recipient
    ) -> Recipient | _Chunk | None:
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
            return recipient
        buckets = self._buckets
        bucket = buckets.setdefault(message, [])
        bucket.append(recipient)
        if len(bucket) >= size:
            del buckets[message]
            return _Chunk(bucket)
        if sum(map(len, buckets.values())) > 4 * size:
            # Many texts, none filling a chunk: send the fullest rather than
            # hold an unbounded number of recipients back.
            fullest = max(buckets, key=lambda text: len(buckets[text]))
            return _Chunk(buckets.pop(fullest))
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

    # --- sending ------------------------------------------------------------

    async def _send(
        self, recipients: list[Recipient], trace: SendTrace, *, bulk: bool
    ) -> None:
        journal = self._journal
        keys = [self._key(r) for r in recipients] if journal is not None else None
        tally = self.tally
        trace.clear()
        try:
            if keys is not None and self._out_of_credits is None:
                assert journal is not None  # noqa: S101 -- keys only with one
                taken = await journal.intend([key for key in keys if key is not None])
                if len(taken) < len(recipients):
                    # A shared worker sends only the recipients it still
                    # holds: another worker took the rest (see _claims).
                    held = set(taken)
                    kept = [i for i, key in enumerate(keys) if key in held]
                    recipients = [recipients[i] for i in kept]
                    keys = [keys[i] for i in kept]
                    if not recipients:
                        return
            if self._out_of_credits is not None:
                # The account ran out while this send waited: it never left.
                self._not_sent(recipients, self._out_of_credits)
                return
            tally.requests += 1
            tally.in_flight += 1
            first = recipients[0]
            assert first.message is not None  # noqa: S101 -- valid ones have a text
            try:
                # As sms.send / send_bulk would, traced.
                if bulk:
                    sent = await self._sender.send_bulk(
                        [recipient.phone_number for recipient in recipients],
                        first.message,
                        self._config.sms_provider,
                        trace,
                    )
                else:
                    sent = [
                        await self._sender.send(
                            first.phone_number,
                            first.message,
                            self._config.sms_provider,
                            trace,
                        )
                    ]
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
        self,
        recipients: list[Recipient],
        keys: list[Key | None] | None,
        error: IProgSMSError,
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
        self,
        recipients: list[Recipient],
        keys: list[Key | None] | None,
        sent: list[SentMessage],
    ) -> None:
        if keys is None:  # no journal
            self.tally.accepted += len(recipients)
            for recipient, message in zip(recipients, sent, strict=True):
                self._accepted(recipient, None, message.message_id)
            return
        ids = [message.message_id for message in sent]
        # Journal every id before settling any recipient: settling calls
        # on_result, which may raise and must not cost the others their ids.
        self._journal_all(keys, STATE_ACCEPTED, message_ids=ids)
        self.tally.accepted += len(recipients)
        for recipient, key, message_id in zip(recipients, keys, ids, strict=True):
            self._accepted(recipient, key, message_id)

    # --- polling ------------------------------------------------------------

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
        now = self._now()
        entry = _Poll(
            recipient,
            message_id,
            key,
            now + config.poll_timeout,
            config.poll_interval,
            status,
        )
        self._polling[entry] = None
        self._push_poll(entry, now)

    def _push_poll(self, entry: _Poll, now: float) -> None:
        delay = entry.interval * (0.8 + 0.4 * self._random.random())
        due = min(now + delay, entry.deadline)
        heapq.heappush(self._polls, (due, next(self._order), entry))
        if due < self._alarm:
            # Sooner than the watch waits for, or nobody keeps watch: have a
            # parked worker set its alarm. Busy workers see it themselves.
            if self._watch is not None:
                self._watch.set()
            elif self._parked:
                self._parked.popleft().set()

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
        now = self._now()
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
        self._settle_result(
            entry.recipient.result(
                status, message_id=entry.message_id, error=entry.error
            )
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
        """Record a final result at once: counts, ``on_result``, then the reader.

        Handed to the reader at once when it has room and none is queued;
        otherwise queued, in order, for `_flush_outbox`.
        """
        self.tally.counts[result.status] += 1
        on_result = self._config.on_result
        if on_result is not None:
            on_result(result)
        if self._collected is not None:
            self._collected.append(result)
        elif self._outbox or self._flushing is not None:
            self._outbox.append(result)  # behind those handed over first
        elif not self._hand_over(result):
            self._outbox.append(result)

    def _hand_over(self, result: BroadcastResult) -> bool:
        """Give ``result`` to the reader without waiting; False if it has no room."""
        out = self._out
        assert out is not None  # noqa: S101 -- a reader's stream, set by run()
        try:
            out.send_nowait(result)
        except anyio.WouldBlock:
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._outbox.clear()  # the reader left: on_result has them all
        else:
            self.flow.handed += 1
        return True

    async def _flush_outbox(self) -> None:
        """Hand queued results to the reader, waiting while it is behind.

        One worker hands them over, in order; the others wait for it to be
        done, so that no worker runs on while the reader is behind.
        """
        if self._flushing is not None:
            await self._flushing.wait()
            return
        self._flushing = flushed = anyio.Event()
        try:
            while self._outbox:
                result = self._outbox.popleft()
                if self._hand_over(result):
                    continue
                out = self._out
                assert out is not None  # noqa: S101 -- set with the outbox
                try:
                    await out.send(result)  # queues it on the stream, waits
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    self._outbox.clear()  # the reader left: on_result has them
                    return
                self.flow.handed += 1
        finally:
            self._flushing = None
            flushed.set()

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
        keys: list[Key | None] | None,
        state: str,
        *,
        error: str | None = None,
        message_ids: list[str] | None = None,
    ) -> None:
        journal = self._journal
        if journal is None or keys is None:
            return
        ids: list[str | None] = list(message_ids) if message_ids else [None] * len(keys)
        for key, message_id in zip(keys, ids, strict=True):
            if key is not None:
                journal.record(key, state, message_id=message_id, error=error)


_END = object()
"""The end of the input, as ``next`` and ``anext`` return it."""


def _clock() -> Callable[[], float]:
    """The event loop's clock, as `anyio.current_time` reads it, looked up once.

    anyio asks sniffio which loop runs on every call; a run asks a few times a
    recipient.
    """
    if sniffio.current_async_library() == "asyncio":
        return asyncio.get_running_loop().time
    return anyio.current_time


def _failed_status(error: IProgSMSError) -> BroadcastStatus:
    """The status of a recipient whose send raised ``error``."""
    if error.maybe_sent:
        return UNKNOWN
    if isinstance(error, InsufficientCreditsError):
        return NOT_SENT
    if isinstance(error, APIError) and not isinstance(error, RateLimitError):
        return REJECTED
    return ERROR
