"""The aiohttp backend's wire: straight on an `aiohttp.ClientSession`, no httpx.

Imported only for ``http_backend="aiohttp"`` (the ``aiohttp`` extra).
`AiohttpWire` carries each attempt the Requester builds (_wire.py) on one
session: aiohttp's pool, parser and request objects, and nothing of httpx's
on the way (httpx's request and response objects on top of aiohttp cost
more CPU a request than aiohttp itself: ``benchmarks/RESULTS.md``).

The retry rule rests on one distinction: did the request possibly reach the
gateway? The wire answers it as httpx's own transport would, by raising
httpx's exception classes (`httpx.ConnectError`, `httpx.ConnectTimeout`:
not sent; anything else: maybe sent), which `translate` chooses from
aiohttp's: a failure to connect, or a connection found closed before the
request was written, is not sent; anything after is "maybe sent", whenever
it cannot be sure.

Its connector keeps the rules of `._keepalive` (`FreshConnector`, and
`_LookingRequest` for the last look before writing). aiohttp reuses the
connection idle the longest, and trusts it while the event loop has not yet
run the callback that would see its close: against a server that closes
connections idle for 5 ms, 360 to 430 of 1,500 sends of a broadcast were
written on connections already closed, and ended in doubt.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import sys
import time
import weakref
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import httpx
import yarl
from aiohttp.helpers import set_exception
from aiohttp.http_writer import StreamWriter

from ._decoding import ACCEPTED, decoding_for
from ._keepalive import InputWatch, server_idle_limit
from ._loop import refuse_trio, running_backend
from ._redact import redact_foreign
from ._wire import (
    MAX_BODY_BYTES,
    TOO_LARGE,
    Answer,
    ParsedURLs,
    declared_too_large,
    overran,
    unreadable,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aiohttp.abc import AbstractStreamWriter
    from aiohttp.client_proto import ResponseHandler

    from ._errors import ResponseFormatError
    from ._response import RequestContext

__all__ = ["AiohttpWire", "FreshConnector", "translate"]

# From the most specific to the least: the first match decides.
_TRANSLATIONS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # Before anything was sent: a retry cannot duplicate a text.
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # connect or pool wait
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    # The request may have reached the server.
    # (httpx.ProxyError would read as "not sent": a proxy's HTTP error may not be.)
    (aiohttp.ClientHttpProxyError, httpx.RemoteProtocolError),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.ReadError),
    (TimeoutError, httpx.ReadTimeout),
)


def translate(exc: BaseException) -> httpx.TransportError | None:
    """The httpx exception for an aiohttp failure, or None for anything else.

    A failure aiohttp met before anything was sent (refused, a connect or
    pool timeout, a reused connection found closed before writing) becomes
    one that reads "not sent"; any other reads "maybe sent". The text keeps
    no token: aiohttp's exceptions name the request URL (a GET's holds it)
    and quote the answer's bad lines. Raise the translation outside the
    handler of ``exc`` (`_translated`), so that ``exc`` is not its context.
    """
    if isinstance(exc.__cause__, _StaleConnectionError):
        return httpx.ConnectError(_STALE)
    for source, target in _TRANSLATIONS:
        if isinstance(exc, source):
            name = type(exc).__name__
            # aiohttp's texts can carry the request URL, and a GET's URL the token.
            detail = redact_foreign(str(exc))
            return target(f"{name}: {detail}" if detail else name)
    return None


_FAILURES = (aiohttp.ClientError, TimeoutError)

_UNSHIELDED = nullcontext()
"""An attempt's scope when it is not shielded: none (reusable, it keeps no state)."""


def _translated(exc: BaseException) -> httpx.TransportError:
    """The translation of ``exc``, to raise outside its handler.

    aiohttp's exceptions name the request URL, and a GET's holds the token:
    raised inside the handler the translation would keep aiohttp's exception
    as its context, reachable by anything that walks the chain.
    """
    translated = translate(exc)
    assert translated is not None  # noqa: S101 -- only called with those classes
    return translated


class _Kept:
    """What `FreshConnector` knows of one connection it keeps alive."""

    __slots__ = ("limit", "since", "watch")

    def __init__(self, protocol: ResponseHandler) -> None:
        transport = protocol.transport
        self.watch = InputWatch(
            None if transport is None else transport.get_extra_info("socket")
        )
        """Its socket, looked at for the server's close before each reuse."""
        self.since = 0.0
        """When it last went idle (`time.monotonic`)."""
        self.limit: float | None = None
        """Seconds it may idle, by its server's last ``Keep-Alive``; None: ours."""

    def went_idle(self) -> None:
        self.since = time.monotonic()


class _Handout:
    """The connection `FreshConnector` gave an attempt; whether to look at it again.

    Kept on the attempt's `_Watch`: the task aiohttp writes a request body
    in is made with a copy of the attempt's context, so it sees the same
    watch, and this.
    """

    __slots__ = ("kept", "protocol", "unchecked")

    def __init__(self, protocol: ResponseHandler, kept: _Kept, *, reused: bool) -> None:
        self.protocol = protocol
        self.kept = kept
        self.unchecked = reused

    def answered(self, keep_alive: str | None) -> None:
        """Note the answer read: the connection idles from now, for its ``Keep-Alive``.

        aiohttp put it back in the pool (or closed it) as the body ended, a
        moment before: noted a little late, its idle time reads a little
        short, well within the half second the limit leaves. A connection
        handed out again meanwhile is judged by its use before (longer
        idle: on the safe side), and its new attempt notes it again when
        done (only a whole answer gives a connection back to the pool).
        """
        kept = self.kept
        kept.limit = server_idle_limit(keep_alive)
        kept.went_idle()


class _StaleConnectionError(Exception):
    """A reused connection was closed by its server before the request was written."""


_STALE = "the server had closed the kept-alive connection: request not written"
_STALE_TRIES = 8
"""Connections a request tries that turn out stale as it is written, at most.

Each is closed as it is found; past this, the request fails as not sent
(`httpx.ConnectError`), and the Requester's retry policy decides.
"""


class _LookingRequest(aiohttp.ClientRequest):
    """aiohttp's request, looking at a reused connection once more before writing.

    aiohttp 3.12 and later hold a request's headers back and write them with
    its body, in `write_bytes`. Before Python 3.12 that runs in a task of its
    own, a loop pass after `FreshConnector` handed the connection out: under
    a broadcast's load, 2.6 ms later at the median and 8 ms at the 90th
    percentile, time enough for a server's close to come in between. If it
    has, nothing of the request has left: the request fails as aiohttp fails
    one it could not write, with `_StaleConnectionError` as the cause, and
    `AiohttpWire` sends it on another connection (`translate` reads such a
    failure as not sent).
    """

    async def write_bytes(
        self,
        writer: AbstractStreamWriter,
        conn: aiohttp.connector.Connection,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Write the request, unless its reused connection has just been closed."""
        watch = _attempt_on_the_wire()
        handout = None if watch is None else watch.handout
        protocol = conn.protocol
        if handout is not None and handout.unchecked and protocol is handout.protocol:
            handout.unchecked = False
            if _closed(protocol, handout.kept):
                failure = aiohttp.ClientConnectionError(
                    "the server closed the kept-alive connection: request not written"
                )
                set_exception(protocol, failure, _StaleConnectionError())
                return
        await super().write_bytes(writer, conn, *args, **kwargs)
        if watch is not None:
            watch.progress(watch.quiet)  # written: the wait for the answer


def _closed(protocol: ResponseHandler, kept: _Kept) -> bool:
    """Whether an idle connection's server has closed it (or broken protocol)."""
    transport = protocol.transport
    if transport is None or transport.is_closing():
        return True
    return kept.watch.pending()


_HEADERS_WAIT_FOR_BODY = hasattr(StreamWriter, "send_headers")
"""Whether aiohttp writes a request's headers with its body (3.12 and later).

Earlier, the headers leave before `write_bytes`: a request found stale there
has been partly written, so `_LookingRequest` is not used.
"""


class FreshConnector(aiohttp.TCPConnector):
    """aiohttp's connector, never reusing a connection its server has closed.

    Before it gives a reused connection to a request, it checks the idle
    time against the server's ``Keep-Alive: timeout=`` (both noted by the
    wire, through the attempt's `_Handout`, once it has read an answer), and
    the socket for the server's close, unless
    `_LookingRequest` will look at the socket just before the request is
    written (a request with a body, on aiohttp 3.12 and later): one system
    call a request, at the later moment. A stale connection is closed and
    the next one tried, or a new one made; one found stale as the request
    is written is closed too, and `AiohttpWire` tries another. Its own
    ``keepalive_timeout`` expires the rest. Only aiohttp's public connection
    interface is used: ``connect`` (which the session calls) and the
    `aiohttp.connector.Connection` it returns.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._kept: weakref.WeakKeyDictionary[ResponseHandler, _Kept] = (
            weakref.WeakKeyDictionary()
        )

    async def connect(
        self, req: aiohttp.ClientRequest, *args: Any, **kwargs: Any
    ) -> aiohttp.connector.Connection:
        """A connection for a request: a fresh one from the pool, or a new one."""
        # A request with a body is looked at once more, just before it is
        # written (`_LookingRequest`): one look at its socket is enough, and
        # that one is the later, so it is the only one (a system call each).
        has_body = bool(req.body)
        watch = _attempt_on_the_wire()
        looked_at_later = _HEADERS_WAIT_FOR_BODY and has_body and watch is not None
        while True:
            connection = await super().connect(req, *args, **kwargs)
            protocol = connection.protocol
            if protocol is None:  # pragma: no cover -- aiohttp always sets it
                return connection
            kept = self._kept.get(protocol)
            reused = kept is not None
            if kept is None:
                kept = self._kept[protocol] = _Kept(protocol)
            elif self._expired(kept) or (
                not looked_at_later and _closed(protocol, kept)
            ):
                connection.close()
                continue
            if watch is not None:
                watch.handout = _Handout(protocol, kept, reused=reused)
                # A request without a body is written as it is handed out; one
                # with a body by the time its write and read timeouts are up
                # (`_LookingRequest` restarts the clock once it has written it).
                watch.progress(watch.first if has_body else watch.quiet)
            return connection

    @staticmethod
    def _expired(kept: _Kept) -> bool:
        """Whether a connection has idled past its server's stated limit."""
        limit = kept.limit
        return limit is not None and time.monotonic() - kept.since > limit


_COUNTS_CANCELS = sys.version_info >= (3, 11)
"""Whether tasks count their cancellations (Python 3.11 and later).

Then a deadline's own cancellation is told apart from a caller's that came
with it; before, as under aiohttp's own timeout, it is taken for the
deadline's.
"""


class _Watch:
    """One attempt `_Deadlines` watches: its task, and when it overruns.

    Two clocks: the attempt's total deadline, fixed, and its read timeout,
    which each sign of progress restarts (`progress`): the request written
    (a request with a body has its write and read timeouts together from
    the connection's hand-out to then), the answer's head come in, each
    piece of its body read. So a read timeout bounds the wait for the head
    as a whole, where aiohttp's restarts with each of its bytes: a server
    that trickles its head ends at the read timeout, not the total.
    """

    __slots__ = (
        "cancelling",
        "deadlines",
        "expired",
        "first",
        "handout",
        "quiet",
        "quiet_due",
        "task",
        "total_due",
    )

    def __init__(
        self,
        deadlines: _Deadlines,
        task: asyncio.Task[Any],
        total_due: float,
        timeout: httpx.Timeout,
    ) -> None:
        self.deadlines = deadlines
        self.task: asyncio.Task[Any] | None = task
        """The attempt's task, until it is done (then None: not kept alive)."""
        self.total_due = total_due
        read, write = timeout.read, timeout.write
        self.quiet = math.inf if read is None else read
        """Seconds of no progress that end the attempt (httpx's read timeout)."""
        self.first = math.inf if read is None or write is None else write + read
        """The same from the hand-out, while a body is written (write + read)."""
        self.quiet_due = math.inf
        self.cancelling = task.cancelling() if _COUNTS_CANCELS else 0
        """The task's cancellations pending before the watch: not ours."""
        self.expired: str | None = None
        """Which clock ended the attempt: ``"read"``, ``"total"``, or None."""
        self.handout: _Handout | None = None
        """The connection `FreshConnector` gave the attempt, once it has one."""

    def due(self) -> float:
        """When the attempt overruns, unless it progresses meanwhile."""
        return min(self.total_due, self.quiet_due)

    def progress(self, window: float) -> None:
        """Restart the read clock: the attempt may be quiet ``window`` seconds."""
        if window == math.inf:
            return
        deadlines = self.deadlines
        self.quiet_due = due = deadlines.clock() + window
        if due < deadlines.timer_due:  # most often the timer is due sooner
            deadlines.soon(due)


class _Deadlines:
    """The timeouts of every attempt on the wire, kept with one timer.

    aiohttp's own total and read timeouts cost each request two or three
    timers of the event loop's (and a context to hold them), made and
    cancelled again within the request: at hundreds of requests in flight,
    30 to 60 µs of CPU a recipient of a broadcast, most of it the loop's
    heap of timers. Here an attempt is an entry in a dict, which the wire
    updates as the attempt progresses; the one timer is set for the soonest
    deadline and, when it fires, ends the attempts past theirs (as aiohttp's
    would: the task is cancelled, through any anyio shield, and
    `AiohttpWire` turns that into `overran` or `httpx.ReadTimeout`) and is
    set again for the soonest left. Attempts of one client share one
    timeout, so their deadlines come in the order they start: the timer is
    set again about once a timeout's length, not once a request.
    """

    __slots__ = ("_handle", "_watches", "clock", "loop", "timer_due")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.clock = loop.time
        self._watches: dict[_Watch, None] = {}
        self._handle: asyncio.TimerHandle | None = None
        self.timer_due = math.inf
        """When the timer fires (infinity: it is not set)."""

    def watch(self, deadline: float | None, timeout: httpx.Timeout) -> _Watch:
        """Watch the running task's attempt: ended ``deadline`` seconds from now.

        And by its read timeout, once it has a connection (`_Watch.progress`).
        """
        task = asyncio.current_task(self.loop)
        assert task is not None  # noqa: S101 -- aiohttp runs requests in tasks
        total_due = math.inf if deadline is None else self.clock() + deadline
        watch = _Watch(self, task, total_due, timeout)
        self._watches[watch] = None
        self.soon(total_due)
        return watch

    def done(self, watch: _Watch) -> None:
        """Stop watching an attempt that ended (its deadline passed or not).

        The watch then holds neither the task nor the connection: the
        task's context keeps it until the task's next attempt.
        """
        self._watches.pop(watch, None)
        watch.task = None
        watch.handout = None

    def soon(self, due: float) -> None:
        """Have the timer fire by ``due``."""
        if due < self.timer_due:
            if self._handle is not None:
                self._handle.cancel()
            self.timer_due = due
            # In a context of its own: the caller's would keep its task (and
            # what that task holds, the client's token among it) alive in
            # the timer until it fires, and in each timer set from there.
            self._handle = self.loop.call_at(due, self._fire, context=_EMPTY)

    def _fire(self) -> None:
        self._handle = None
        self.timer_due = math.inf
        now = self.clock()
        soonest = math.inf
        for watch in list(self._watches):
            due = watch.due()
            if due <= now:
                del self._watches[watch]
                watch.expired = "total" if watch.total_due <= now else "read"
                if watch.task is not None:
                    watch.task.cancel()
            elif due < soonest:
                soonest = due
        self.soon(soonest)


_EMPTY = contextvars.Context()
"""The context `_Deadlines` runs its timer in: nothing of any task's."""

_watched: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "iprogsms_aiohttp_attempt", default=None
)
"""The current task's latest attempt, for `FreshConnector` and `_LookingRequest`.

Set once an attempt and not reset after: a reset makes the task a new
context once more (objects for the garbage collector, at every request),
and the watch left behind is emptied by `_Deadlines.done`.
"""


def _attempt_on_the_wire() -> _Watch | None:
    """The current task's attempt, if it is on the wire now; else None.

    A watch left in the context by an attempt that ended (emptied, see
    `_Deadlines.done`) is not the one of a request made now: that request
    is of another session than the wire's.
    """
    watch = _watched.get()
    return None if watch is None or watch.task is None else watch


_quoted = json.encoder.encode_basestring
"""A str as a JSON string, not escaped past ASCII: the encoder's own (in C)."""

_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
"""A request body's JSON, as httpx writes it: compact, UTF-8, no NaN.

One encoder for every request: json.dumps with options of its own makes
a new one on each call (1 µs a request, measured).
"""


def _dumps(body: Mapping[str, Any]) -> str:
    """`_encode` of ``body``; a flat object of strings and integers written directly.

    As a request's body always is (the token, a number, a text): the same
    text as `_encode`'s, in half its time (it makes an encoder object on
    each call). Anything else (a nested value, a float, a bool) is
    `_encode`'s.
    """
    parts: list[str] = []
    for key, value in body.items():
        if type(key) is not str:
            return _encode(body)
        kind = type(value)
        if kind is str:
            parts.append(f"{_quoted(key)}:{_quoted(value)}")
        elif kind is int:
            parts.append(f"{_quoted(key)}:{int.__repr__(value)}")
        else:
            return _encode(body)
    return "{" + ",".join(parts) + "}"


class AiohttpWire:
    """Attempts on one aiohttp session, sized by ``limits``, with ``headers`` on each.

    The session is made on the first attempt, inside the running asyncio
    loop (aiohttp requires one; trio is refused there), and closed by
    `aclose` (the client's). Its TLS context is httpx's default one
    (certifi's CA bundle), as under the httpx backend. Cookies are not kept
    (the gateway sets none), and the proxy environment is ignored, as it was
    when this backend ran httpx over aiohttp.
    """

    __slots__ = (
        "_deadlines",
        "_headers",
        "_shield",
        "_ssl",
        "_timeout",
        "_timeout_of",
        "_urls",
        "limits",
        "session",
    )

    def __init__(self, *, limits: httpx.Limits, headers: Mapping[str, str]) -> None:
        self.limits = limits
        self._headers = {**headers, "Accept-Encoding": ACCEPTED}
        self._ssl = httpx.create_ssl_context(trust_env=False)
        self.session: aiohttp.ClientSession | None = None
        self._deadlines: _Deadlines | None = None
        self._shield: Callable[..., anyio.CancelScope] = anyio.CancelScope
        """What makes a shielded scope: once on a loop, its anyio backend.

        anyio's CancelScope finds the backend again for each scope it makes
        (a third of its cost, measured). (A broadcast's sends make none: its
        workers' standing scopes are shielded instead, see `SendTrace`.)
        """
        self._urls = ParsedURLs(yarl.URL)
        self._timeout_of: httpx.Timeout | None = None
        self._timeout = aiohttp.ClientTimeout()

    def _open(self) -> aiohttp.ClientSession:
        refuse_trio()
        limits = self.limits
        if limits.keepalive_expiry is None:
            connector = FreshConnector(limit=limits.max_connections or 0, ssl=self._ssl)
        else:
            connector = FreshConnector(
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry,
                ssl=self._ssl,
            )
        self.session = session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            auto_decompress=False,  # see _decoding
            cookie_jar=aiohttp.DummyCookieJar(),
            json_serialize=_dumps,
            trust_env=False,
            request_class=(
                _LookingRequest if _HEADERS_WAIT_FOR_BODY else aiohttp.ClientRequest
            ),
        )
        return session

    async def exchange(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        timeout: httpx.Timeout,  # noqa: ASYNC109 -- each step's, handed to aiohttp
        deadline: float | None,
        context: RequestContext,
        *,
        shielded: bool = False,
    ) -> Answer:
        """Send one request and read its answer (see `Wire.exchange`).

        The deadline is kept by `_Deadlines` (one timer for every attempt,
        where aiohttp's total timeout makes one a request): it holds inside
        a shielded scope too, as it cancels the task itself, and the
        cancellation becomes `overran` here. ``shielded``, the shield is
        the one cancel scope of the attempt.
        """
        session = self.session
        if session is None:
            session = self._open()
        deadlines = self._deadlines
        if deadlines is None:  # on the session's loop: it is bound to one too
            deadlines = self._deadlines = _Deadlines(asyncio.get_running_loop())
            backend = running_backend()
            if backend is not None:
                self._shield = backend.create_cancel_scope
        watch = deadlines.watch(deadline, timeout)
        _watched.set(watch)
        failure: httpx.TransportError | None = None
        try:
            with self._shield(shield=True) if shielded else _UNSHIELDED:
                for _ in range(_STALE_TRIES):
                    watch.quiet_due = math.inf  # no read clock until it has one
                    try:
                        # Never follow a redirect: the token would go
                        # wherever the Location header says.
                        response = await session.request(
                            method,
                            self._urls.get(url),
                            params=params,
                            json=json,
                            allow_redirects=False,
                            timeout=self._client_timeout(timeout),
                        )
                        try:
                            watch.progress(watch.quiet)  # the head is in
                            content = await _read_capped(response, context, watch)
                        finally:
                            response.release()
                            handout = watch.handout
                            if handout is not None:
                                handout.answered(response.headers.get("Keep-Alive"))
                    except _FAILURES as exc:
                        if isinstance(exc.__cause__, _StaleConnectionError):
                            # Found stale just before the request was
                            # written, and closed: nothing of it left.
                            # Another, as the pool takes another for one it
                            # finds stale at hand-out (within the deadline).
                            continue
                        failure = _failure(exc)
                        break
                    return Answer(response.status, response.headers, content)
                else:
                    failure = httpx.ConnectError(_STALE)
        except asyncio.CancelledError:
            failure = _expired(watch, deadline, timeout)
            if failure is None:
                raise
        finally:
            deadlines.done(watch)
        # Outside the handlers: neither the cancellation nor aiohttp's error
        # (see _translated) is its context.
        assert failure is not None  # noqa: S101 -- each way here sets it
        raise failure

    async def aclose(self) -> None:
        """Close the aiohttp session, if one was opened."""
        if self.session is not None:
            await self.session.close()

    def _client_timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        """The aiohttp timeouts for httpx's: those of getting a connection.

        ``connect`` is aiohttp's wait for a connection, pool and connecting
        both; ``sock_connect`` the connecting. No ``total`` and no
        ``sock_read``: `_Deadlines` keeps the attempt's deadline (which also
        bounds the writes: aiohttp has no write timeout) and its read
        timeout, with one timer for every attempt where aiohttp makes two or
        three a request. Made once per client's timeout.
        """
        if timeout is not self._timeout_of:
            self._timeout = aiohttp.ClientTimeout(
                total=None, connect=timeout.pool, sock_connect=timeout.connect
            )
            self._timeout_of = timeout
        return self._timeout


def _failure(exc: aiohttp.ClientError | TimeoutError) -> httpx.TransportError:
    """The httpx error standing for aiohttp's ``exc``.

    aiohttp's step timeouts are ClientErrors; a bare TimeoutError (none is
    expected: its total is not used) reads maybe sent.
    """
    if isinstance(exc, aiohttp.ClientError):
        return _translated(exc)
    return httpx.ReadTimeout(
        f"{type(exc).__name__}: {redact_foreign(str(exc)) or 'no detail'}"
    )


def _expired(
    watch: _Watch,
    deadline: float | None,
    timeout: httpx.Timeout,
) -> httpx.TransportError | None:
    """The error a cancellation by ``watch``'s timer stands for; None if not its.

    None too when someone else cancelled the task as well: that
    cancellation wins.
    """
    task = watch.task
    if watch.expired is None or task is None:
        return None
    if _COUNTS_CANCELS and task.uncancel() > watch.cancelling:
        return None
    if watch.expired == "total":
        return overran(deadline)
    return httpx.ReadTimeout(
        f"nothing read within the read timeout of {timeout.read:g} s"
    )


async def _read_capped(
    response: aiohttp.ClientResponse, context: RequestContext, watch: _Watch
) -> bytes:
    """Read the body (decoded), refusing one larger than `MAX_BODY_BYTES`.

    Each piece read restarts the ``watch``'s read clock.

    As the httpx backend reads it: an error answer whose body cannot be read
    (too large, or its ``Content-Encoding`` broken) is still an error answer,
    its body dropped; a 2xx one is `ResponseFormatError`. (One coroutine, the
    reading loop in it: it runs for every answer.)
    """
    status = response.status
    headers = response.headers
    failure: ResponseFormatError | None = None
    if not declared_too_large(headers.get("Content-Length")):
        stream = response.content
        decoding = decoding_for(headers.get("Content-Encoding"))
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := await stream.readany():
                watch.progress(watch.quiet)
                if decoding is not None:
                    chunk = decoding.decode(chunk, MAX_BODY_BYTES - size)
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    break
                chunks.append(chunk)
            else:  # read to its end
                if decoding is not None:
                    rest = decoding.flush(MAX_BODY_BYTES - size)
                    size += len(rest)
                    chunks.append(rest)
                if size <= MAX_BODY_BYTES:
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except httpx.DecodingError as exc:
            failure = unreadable(
                status, context, f"a body that cannot be decoded: {exc}", exc
            )
    if not 200 <= status < 300:
        return b""
    # Outside the handler: see unreadable.
    raise failure or unreadable(status, context, TOO_LARGE)
