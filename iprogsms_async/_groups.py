"""Unwrapping task groups' exception groups into the one error a caller can act on."""

from __future__ import annotations

import sys

import anyio

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio brings
    from exceptiongroup import BaseExceptionGroup

__all__ = ["single_error"]


def single_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error inside a task group's exception group, if there is one.

    Several workers may meet the same stop at once (a closed client, a bad
    token): errors all of one type count as one. Cancellations are left out.
    Otherwise the group itself. Call it inside the event loop (it asks anyio
    which exception is the loop's cancellation).
    """
    cancelled = anyio.get_cancelled_exc_class()
    errors: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        elif not isinstance(error, cancelled):
            errors.append(error)
    first = errors[0] if errors else None
    same = all(type(error) is type(first) for error in errors)
    return first if first is not None and same else group
