"""Remembering which event loop a client runs on, to fail clearly on another.

A client's connections belong to the loop that opened them. Used on another
loop, httpx hangs or raises ``RuntimeError`` (``Event loop is closed``,
``attached to a different loop``), and aiohttp leaks its sockets. So a
client is bound to the loop of its first request and refuses any other with
a `ClientStateError`; and when that loop ends with the client still open,
the client is closed on it, while it still can be. And the parts that run
on asyncio only (aiohttp, the Redis limiter) refuse trio here, clearly.

That last part rides on the hook both event loops keep for async generators
left open: ``asyncio.run`` (``loop.shutdown_asyncgens()``) and ``trio.run``
close each one, on their loop, before they end. A client's binding keeps one
such generator open, whose ``finally`` closes the client.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, Literal

import anyio.lowlevel
import sniffio

from ._errors import ClientStateError, ConfigurationError

if TYPE_CHECKING:
    import contextvars
    from collections.abc import AsyncGenerator, Awaitable, Callable

    from anyio.abc import AsyncBackend

__all__ = ["LoopBinding", "name_asyncio", "refuse_trio", "running_backend", "unname"]

_MOVE_HINT = (
    "; its connections cannot move between loops. Create the client inside "
    "the loop that uses it (for example in your app's lifespan or at the top "
    "of the coroutine passed to asyncio.run)."
)


def refuse_trio(
    what: str = "http_backend='aiohttp'",
    instead: str = "use the default http_backend='httpx' under trio",
) -> None:
    """Raise `ConfigurationError` when running under trio, which ``what`` cannot."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return
    if library == "trio":
        raise ConfigurationError(
            f"{what} runs on asyncio only, and this is trio: {instead}"
        )


def name_asyncio() -> contextvars.Token[str | None] | None:
    """Tell sniffio what it would find out itself, if it is asyncio that runs.

    anyio asks sniffio which library runs on each call (a cancel scope, a
    sleep, an event), and so does httpcore (each request's shield). Under
    ``asyncio.run`` sniffio finds asyncio only after an import statement
    and a look for the current task (a system call on Python 3.11), 1 to
    2 µs each time; with its context variable set, it answers at once. A
    broadcast sets it for its run (its workers' tasks inherit it), unless
    something says otherwise already (``trio.run`` and trio-asyncio set
    sniffio's thread-local name; ``anyio.run`` sets the variable). The
    token returned goes to `unname`; None when nothing was set.
    """
    if (
        asyncio._get_running_loop() is not None  # noqa: SLF001 -- exported for event loops
        and sniffio.current_async_library_cvar.get() is None
        and sniffio.thread_local.name is None
    ):
        return sniffio.current_async_library_cvar.set("asyncio")
    return None


def running_backend() -> type[AsyncBackend] | None:
    """The running loop's anyio backend, to call its checks straight away.

    Through `anyio.lowlevel.current_token` (anyio 4.11). None should a
    later anyio no longer give it, or give one without the two class
    methods the client calls (`checkpoint_if_cancelled`,
    `create_cancel_scope`): then anyio's own functions of those names
    serve, which find the backend again on each call.
    """
    backend = getattr(anyio.lowlevel.current_token(), "backend_class", None)
    if all(
        callable(getattr(backend, name, None))
        for name in ("checkpoint_if_cancelled", "create_cancel_scope")
    ):
        return backend
    return None  # pragma: no cover -- anyio 4.11 to 4.16 give it


def unname(token: contextvars.Token[str | None] | None) -> None:
    """Undo `name_asyncio`, in the task (the context) that did it, if it did."""
    if token is not None:
        sniffio.current_async_library_cvar.reset(token)


def _current_loop() -> object:
    library = sniffio.current_async_library()
    if library == "asyncio":
        return asyncio.get_running_loop()
    if library == "trio":
        import trio  # noqa: PLC0415 -- imported only when trio is running

        return trio.lowlevel.current_trio_token()
    return library  # pragma: no cover - another anyio backend


def ended_error() -> ClientStateError:
    """The error of a client that its loop closed when it ended."""
    return ClientStateError(
        "this IProgSMS client was first used on another event loop, which has "
        "ended and closed it" + _MOVE_HINT
    )


class LoopBinding:
    """The event loop a client's connections belong to."""

    __slots__ = ("_ref", "_watcher", "checkpoint_if_cancelled")

    def __init__(self) -> None:
        self._ref: weakref.ref[Any] | None = None
        self._watcher: AsyncGenerator[None, None] | None = None
        self.checkpoint_if_cancelled: Callable[[], Awaitable[None]] = (
            anyio.lowlevel.checkpoint_if_cancelled
        )
        """anyio's function of that name; once bound, the bound loop's backend's.

        anyio's own finds the backend again on each call: a third of the
        cost of the check before each send (1.5 µs, measured).
        """

    def bind(self) -> bool:
        """Bind to the running loop on first use (True); refuse any other after."""
        bound = self._ref() if self._ref is not None else None
        # Bound to the asyncio loop that runs: said without asking sniffio
        # (asyncio's low-level getter: None outside an asyncio loop).
        running = asyncio._get_running_loop()  # noqa: SLF001 -- exported for event loops
        if bound is not None and bound is running:
            return False
        current = _current_loop()
        if self._ref is None:
            backend = running_backend()
            if backend is not None:
                self.checkpoint_if_cancelled = backend.checkpoint_if_cancelled
            self._ref = weakref.ref(current)
            return True
        bound = self._ref()
        if bound is not current:
            raise ClientStateError(
                "this IProgSMS client was first used on another event loop"
                + (" (now closed)" if bound is None else "")
                + _MOVE_HINT
            )
        return False

    async def close_at_end(self, close: Callable[[], Awaitable[None]]) -> None:
        """Have ``close`` awaited on the bound loop when it ends, if it is still due.

        Call it on the bound loop, once. ``close`` is held by a weak
        reference (a client forgotten is not kept alive for this), and must
        do nothing when called again.
        """
        watcher = _watch(weakref.WeakMethod(close))
        await watcher.asend(None)  # runs to its yield: the loop now tracks it
        self._watcher = watcher

    async def closed_here(self) -> None:
        """Let go of the loop's hook once the client was closed on its loop."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.aclose()

    def where(self) -> Literal["here", "running elsewhere", "ended"]:
        """Where the bound loop is: the running one (or none yet), another, gone."""
        if self._ref is None:
            return "here"
        bound = self._ref()
        if bound is _current_loop():
            return "here"
        if bound is None or (
            isinstance(bound, asyncio.AbstractEventLoop) and bound.is_closed()
        ):
            return "ended"
        return "running elsewhere"

    def forget(self) -> None:
        """Let go of the loop's hook without a loop: the bound one has ended.

        Its ``close`` finds the client closed already and returns at once, so
        the generator finishes here; left open, it would be finalized later
        through a loop that is closed.
        """
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        closing = watcher.aclose()
        try:
            closing.send(None)
        except StopIteration:
            return
        closing.close()  # pragma: no cover - close() did not return at once


async def _watch(
    close: Callable[[], Callable[[], Awaitable[None]] | None],
) -> AsyncGenerator[None, None]:
    """Wait, open, until the loop (or `LoopBinding.closed_here`) closes this."""
    try:
        yield
    finally:
        method = close()
        if method is not None:
            await method()
