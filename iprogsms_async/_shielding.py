"""Seeing a send through once it is on the wire, whatever cancels its caller.

A send abandoned half-way leaves its text in doubt: the gateway may have
queued it, and nobody will hear. Two kinds of cancellation reach a caller:

- anyio's (every cancellation under trio; cancel scopes and task groups under
  asyncio), which a shielded `anyio.CancelScope` holds off;
- asyncio's own (``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``,
  ``asyncio.TaskGroup``), which ignores anyio's shields. Under asyncio the
  send therefore runs in a task of its own that the caller waits for through
  such a cancellation and then re-raises it: asyncio cannot defer it to a
  later checkpoint without breaking ``asyncio.timeout``.

A send that is not seen through (``Shield.OFF``, or ``Shield.ANYIO`` hit by
asyncio's own cancellation) leaves its caller nothing to read ``maybe_sent``
from: a `SendTrace` passed down with the call tells it whether the request
may have reached the wire. `complete` sees cleanup through the same way.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import sniffio

from ._errors import APIConnectionError
from ._redact import redact

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from ._response import RequestContext

T = TypeVar("T")

__all__ = ["SendTrace", "Shield", "complete", "finish_shielded"]

logger = logging.getLogger("iprogsms_async")


class Shield(enum.Enum):
    """How far a send on the wire is protected from its caller's cancellation."""

    OFF = "off"
    """A cancellation abandons the request, leaving its text in doubt."""
    FULL = "full"
    """Any cancellation waits for the request to finish."""
    ANYIO = "anyio"
    """anyio's cancellation waits; enough for code that only runs in anyio's
    task-group children (a broadcast's workers), and cheaper: no extra task."""


class SendTrace:
    """Whether a call's request may have reached the gateway, for a cancelled caller.

    A caller whose send is cut off by a cancellation gets no error to read
    ``maybe_sent`` from. The request layer marks the trace just before it
    hands a request to the transport, and clears it when an attempt
    certainly sent nothing and is retried; so after a cancellation an
    unmarked trace means the text certainly never left. A marked one may be
    wrong the safe way: cut off before the transport wrote a byte (waiting
    for a connection, say), the send is in doubt all the same. An explicit
    object passed down with the call rather than a context variable: under
    ``Shield.FULL`` the attempt runs in a task of its own, which works on a
    copy of the caller's context.
    """

    __slots__ = ("_on_the_wire", "scope")

    def __init__(self, scope: anyio.CancelScope | None = None) -> None:
        """A trace for one caller's sends; ``scope`` is its own standing scope, if any.

        A caller that traces many sends from one task (a broadcast's worker)
        may enter a cancel scope of its own around them all and give it
        here: a send shielded from anyio's cancellation (`Shield.ANYIO`) then
        raises that scope's shield while it is on the wire, and lowers it
        after, instead of entering a shielded scope of its own each time.
        The scope must be entered by the task that sends, and never be
        cancelled itself (a shield holds off only the cancellation of the
        scopes around it).
        """
        self._on_the_wire: RequestContext | None = None
        self.scope = scope
        """The caller's standing scope, shielded while a send is on the wire."""

    @property
    def maybe_sent(self) -> bool:
        """Whether a request of the call may be, or have been, on the wire."""
        return self._on_the_wire is not None

    def mark(self, context: RequestContext) -> None:
        """Note that the request ``context`` describes is going on the wire."""
        self._on_the_wire = context

    def clear(self) -> None:
        """Note that the last attempt certainly sent nothing (it is retried)."""
        self._on_the_wire = None

    def cancelled(self) -> APIConnectionError:
        """The error of a marked send cut off by a cancellation: maybe sent."""
        context = self._on_the_wire
        if context is None:
            raise RuntimeError("SendTrace.cancelled() of a send never on the wire")
        return _cancelled_on_the_wire(context)


def _cancelled_on_the_wire(context: RequestContext) -> APIConnectionError:
    """The error of the request ``context`` describes, abandoned on the wire."""
    what = f"{context.method} {context.url}"
    return APIConnectionError(
        f"{what} was cancelled on the wire: the text may have gone out",
        method=context.method,
        url=context.url,
        maybe_sent=True,
    )


async def finish_shielded(
    attempt: Coroutine[Any, Any, T], shield: Shield, context: RequestContext
) -> T:
    """Await ``attempt``, the request ``context`` describes, despite cancellation.

    anyio's cancellation then lands at the caller's next checkpoint, so a
    result returned here can be recorded first. asyncio's own is raised as
    soon as the request is done, as asyncio expects; the result it drops is
    logged (its ids only) so that the text is not lost without a trace.
    """
    if shield is Shield.FULL and sniffio.current_async_library() == "asyncio":
        return await _in_own_task(attempt, context)
    with anyio.CancelScope(shield=True):
        result = await attempt
    return result  # noqa: RET504 -- mypy: a scope may swallow errors


async def _in_own_task(attempt: Coroutine[Any, Any, T], context: RequestContext) -> T:
    try:
        # A cancellation asyncio has only scheduled (task.cancel(), an expired
        # asyncio.timeout) lands here, before anything is sent.
        await asyncio.sleep(0)
    except BaseException:
        attempt.close()
        raise
    task = asyncio.ensure_future(attempt)
    cancelled = await _wait_through(task)
    what = f"{context.method} {context.url}"
    if task.cancelled():
        # The request's own task was cancelled (the loop shutting down, or
        # code that cancels every task): it was abandoned on the wire.
        logger.warning(
            "%s was cancelled on the wire: the gateway may have accepted it", what
        )
        if cancelled is not None:
            raise cancelled
        raise _cancelled_on_the_wire(context)
    if cancelled is None:
        return task.result()
    failure = task.exception()
    logger.warning(
        "%s finished after its caller was cancelled, which drops its %s: %s",
        what,
        "error" if failure is not None else "result",
        redact(str(failure), context.secret)
        if failure is not None
        else _summary(task.result()),
    )
    raise cancelled


async def complete(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end whatever cancels the caller meanwhile.

    For cleanup that must not be cut short, such as a journal's last commit.
    A cancellation of the caller is re-raised once ``work`` is done (its
    result, or its error, is then dropped). anyio's cancellation is held off
    by a shielded scope; asyncio's own, which ignores shields and may come
    more than once (a shutdown that cancels every task, twice), by running
    ``work`` in a task of its own that the caller waits for.
    """
    if sniffio.current_async_library() != "asyncio":
        with anyio.CancelScope(shield=True):
            result = await work
        return result  # noqa: RET504 -- mypy: a scope may swallow errors
    cancelled: asyncio.CancelledError | None = None
    while True:
        # Code that cancels every task reaches this one too, and may do so
        # before its first step: ``work`` then never starts, its ``finally``
        # clauses with it (a journal left open, holding its file). Awaited
        # through a wrapper, ``work`` is left unstarted then, and run again.
        task = asyncio.ensure_future(_await(work))
        cancelled = await _wait_through(task) or cancelled
        if not (task.cancelled() and _unstarted(work)):
            break
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: asyncio would log it as never retrieved
        raise cancelled
    return task.result()


async def _await(work: Coroutine[Any, Any, T]) -> T:
    return await work


def _unstarted(work: Coroutine[Any, Any, Any]) -> bool:
    return inspect.getcoroutinestate(work) == inspect.CORO_CREATED


async def _wait_through(task: asyncio.Future[Any]) -> asyncio.CancelledError | None:
    """Wait until ``task`` is done; return the cancellation that came meanwhile."""
    cancelled: asyncio.CancelledError | None = None
    # The shield keeps anyio from re-sending its cancellation while we wait;
    # asyncio's own comes through and is remembered.
    with anyio.CancelScope(shield=True):
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError as error:  # noqa: PERF203 -- rare
                cancelled = error
    return cancelled


def _summary(result: object) -> str:
    """The ids in ``result``: enough to find the texts, nothing private."""
    items = result if isinstance(result, list) else [result]
    ids: list[str] = []
    for item in items:
        for name in ("message_id", "id"):  # a text's, or a reminder's
            value = getattr(item, name, None)
            if value is not None:
                ids.append(f"{name} {value}")
                break
    return ", ".join(ids) if ids else type(result).__name__
