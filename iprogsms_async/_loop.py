"""Remembering which event loop a client runs on, to fail clearly on another."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import sniffio

from ._errors import ClientStateError

__all__ = ["LoopBinding"]


def _current_loop() -> object:
    library = sniffio.current_async_library()
    if library == "asyncio":
        return asyncio.get_running_loop()
    if library == "trio":
        import trio  # noqa: PLC0415 -- imported only when trio is running

        return trio.lowlevel.current_trio_token()
    return library  # pragma: no cover - another anyio backend


class LoopBinding:
    """The event loop a client's connections belong to.

    An httpx connection pool opened on one event loop hangs or fails obscurely
    on another; a client bound here refuses the second loop with a clear error.
    """

    __slots__ = ("_ref",)

    def __init__(self) -> None:
        self._ref: weakref.ref[Any] | None = None

    def check(self) -> None:
        """Bind to the running loop on first use; refuse any other loop after."""
        current = _current_loop()
        if self._ref is None:
            self._ref = weakref.ref(current)
            return
        bound = self._ref()
        if bound is not current:
            raise ClientStateError(
                "this IProgSMS client was first used on another event loop"
                + (" (now closed)" if bound is None else "")
                + "; its connections cannot move between loops. Create the "
                "client inside the loop that uses it (for example in your "
                "app's lifespan or at the top of the coroutine passed to "
                "asyncio.run)."
            )
