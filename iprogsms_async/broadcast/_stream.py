"""Running a broadcast: as a stream of results, or collected into a report."""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from .._errors import InsufficientCreditsError
from .._groups import single_error
from ._engine import BroadcastRun
from ._report import (
    BroadcastEstimate,
    BroadcastProgress,
    BroadcastReport,
    BroadcastResult,
)
from ._work import SharedWork

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio brings
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager

    from anyio.streams.memory import MemoryObjectReceiveStream

    from ._options import BroadcastOptions
    from ._recipients import Recipients
    from ._sender import Sender

__all__ = ["BroadcastStream", "collect", "collect_stream", "open_stream"]


class BroadcastStream:
    """The results of a running broadcast, in the order recipients settle.

    Iterate it with ``async for``. ``progress()`` gives the running counts at
    any time, and ``estimate`` is set once a dry run or credit check made one.
    """

    __slots__ = ("_receive", "_run")

    def __init__(
        self,
        run: BroadcastRun | SharedWork,
        receive: MemoryObjectReceiveStream[BroadcastResult],
    ) -> None:
        self._run = run
        self._receive = receive

    @property
    def estimate(self) -> BroadcastEstimate | None:
        """The `BroadcastEstimate`, after a dry run or a credit check; else None."""
        return self._run.estimate

    def progress(self) -> BroadcastProgress:
        """The running counts now."""
        return self._run.tally.snapshot()

    def __aiter__(self) -> BroadcastStream:
        return self

    async def __anext__(self) -> BroadcastResult:
        # What the workers have settled is taken without a task switch; the
        # stream is waited on only when it is empty.
        try:
            result = self._receive.receive_nowait()
        except anyio.WouldBlock:
            try:
                result = await self._receive.receive()
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        self._run.flow.taken += 1
        return result


@asynccontextmanager
async def open_stream(
    sender: Sender,
    recipients: Recipients | None,
    config: BroadcastOptions,
    *,
    plan_only: bool = False,
) -> AsyncIterator[BroadcastStream]:
    """Run a broadcast through ``sender`` for the life of the ``async with`` block.

    Leaving the block before the stream ends cancels the broadcast, which
    drains: sends on the wire finish and are recorded, then it stops. With
    ``config.shared``, this process is one worker of the broadcast (see
    ``_work``): ``recipients`` (None to join without) are planned, once;
    ``plan_only`` plans them and sends nothing.
    """
    run: BroadcastRun | SharedWork
    if config.shared:
        run = SharedWork(sender, recipients, config, plan_only=plan_only)
    else:
        assert recipients is not None  # noqa: S101 -- only a worker joins without
        run = BroadcastRun(sender, recipients, config)
    send, receive = anyio.create_memory_object_stream[BroadcastResult](
        config.concurrency
    )
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run.run, send)
            try:
                with receive:
                    yield BroadcastStream(run, receive)
            finally:
                group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        raise single_error(group_error) from None
    if run.stopped is not None:
        # Raised only now, after the block has read every result: raised by
        # the run, it would cancel the reader before the last ones.
        raise run.stopped


async def collect(
    sender: Sender, recipients: Recipients, config: BroadcastOptions
) -> BroadcastReport:
    """Run a broadcast through ``sender`` to the end; every result in input order.

    The results go straight into a list, with no stream and no reader to
    wait for. An `InsufficientCreditsError` carries the report of every
    recipient, so that who was texted is never lost with the return value.
    With ``config.shared``, this process is one worker of the broadcast, run
    as `open_stream` runs it (see `collect_stream`).
    """
    if config.shared:
        return await collect_stream(open_stream(sender, recipients, config))
    run = BroadcastRun(sender, recipients, config)
    results: list[BroadcastResult] = []
    try:
        try:
            await run.run(results)
        except BaseExceptionGroup as group_error:
            raise single_error(group_error) from None
        if run.stopped is not None:
            raise run.stopped
    except InsufficientCreditsError as error:
        error.report = _report(results, run.estimate)
        raise
    return _report(results, run.estimate)


async def collect_stream(
    opening: AbstractAsyncContextManager[BroadcastStream],
) -> BroadcastReport:
    """Read the stream ``opening`` opens to its end; every result in input order.

    For the runs that go through a stream (a shared worker, its plan step).
    An `InsufficientCreditsError` carries the report of every recipient, so
    that who was texted is never lost with the return value.
    """
    results: list[BroadcastResult] = []
    stream: BroadcastStream | None = None
    try:
        async with opening as stream:
            results.extend([result async for result in stream])
    except InsufficientCreditsError as error:
        error.report = _report(results, _estimate(stream))
        raise
    return _report(results, _estimate(stream))


def _report(
    results: list[BroadcastResult], estimate: BroadcastEstimate | None
) -> BroadcastReport:
    results.sort(key=lambda result: result.index)
    return BroadcastReport(results, estimate=estimate)


def _estimate(stream: BroadcastStream | None) -> BroadcastEstimate | None:
    """The estimate of ``stream``; None if it never opened."""
    return None if stream is None else stream.estimate
