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
"""

from __future__ import annotations

import asyncio
import enum
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

__all__ = ["Shield", "see_through"]

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


async def see_through(
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
    cancelled: asyncio.CancelledError | None = None
    # The shield keeps anyio from re-sending its cancellation while we wait;
    # asyncio's own comes through and is remembered.
    with anyio.CancelScope(shield=True):
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError as error:  # noqa: PERF203 -- rare
                cancelled = error
    what = f"{context.method} {context.url}"
    if task.cancelled():
        # Only the request's own task was cancelled (the loop shutting down,
        # or code that cancels every task): it was abandoned on the wire.
        logger.warning(
            "%s was cancelled on the wire: the gateway may have accepted it", what
        )
        if cancelled is not None:
            raise cancelled
        raise APIConnectionError(
            f"{what} was cancelled on the wire: the text may have gone out",
            method=context.method,
            url=context.url,
            maybe_sent=True,
        )
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
