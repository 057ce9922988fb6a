"""The one place that sends an HTTP request to the gateway.

Each call is attempted, its outcome classified, and retried or not here and
nowhere else. The rule that makes retries safe: a call that texts someone is
repeated only when it certainly did not reach the gateway (connection refused,
connect or pool timeout) or the gateway refused it with 429. Anything that may
have reached the gateway raises with ``maybe_sent=True`` instead.

Each attempt goes through the client's `Wire` (_wire.py: httpx's or
aiohttp's), which raises httpx's transport errors whatever the backend: the
one classification of "not sent" against "maybe sent" is made here.

The timeouts bound each step (a connect, each read, each write), so a
server that trickles its answer a byte at a time would hold an attempt for
ever; `total_deadline` bounds the whole attempt as well (each wire enforces
it its own cheapest way, and raises `overran` past it: maybe sent).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs
import httpx

from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientStateError,
    IProgSMSError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from ._loop import LoopBinding, ended_error
from ._pause import ServerPause
from ._redact import Secret, redact, redact_foreign, stand_in
from ._response import JSONObject, RequestContext, success_body
from ._shielding import SendTrace, Shield, finish_shielded

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ._ratelimit import RateLimit
    from ._retry import RetryPolicy
    from ._transports import ConnectionGate
    from ._wire import Answer, Wire

__all__ = ["Call", "Requester", "SharedState", "total_deadline"]

T = TypeVar("T")

logger = logging.getLogger("iprogsms_async")

# Failures that leave the request unsent: safe to retry whatever the call.
_NOT_REACHED = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
# Failures of our own making, also unsent, but retrying cannot help.
_NEVER_SENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_RETRYABLE_READ_STATUS = 408


def total_deadline(timeout: httpx.Timeout) -> float | None:
    """The longest one attempt may take, in seconds: the sum of ``timeout``'s parts.

    Waiting for a connection, connecting, writing the request and reading
    the answer each have their own timeout, and together never more than
    ``pool + connect + write + read`` (4 s for ``timeout=1.0``). A request
    that keeps within each part never meets this; one that a server holds
    with a trickle of bytes (each read on time, the whole never ending)
    does. None, no total, when any part is None (unlimited).
    """
    parts = (timeout.pool, timeout.connect, timeout.write, timeout.read)
    if any(part is None for part in parts):
        return None
    return sum(part for part in parts if part is not None)


@attrs.define
class Call:
    """One API call, without the token: what to send and how safe it is to repeat.

    ``sends_sms`` marks a call that makes the gateway text someone; such a call
    is never repeated once it may have reached the gateway, and its errors say
    so in ``maybe_sent``. ``idempotent=False`` marks a call that must not be
    repeated either but texts nobody (verifying an OTP consumes it).

    Made once a request and never changed after. Not frozen: attrs' frozen
    classes take twice as long to make (0.4 µs a request, measured).
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Mapping[str, Any] | None = None
    sends_sms: bool = False
    idempotent: bool = True

    @property
    def repeatable(self) -> bool:
        """Whether a retry is safe after the gateway may have acted on the call."""
        return self.idempotent and not self.sends_sms


@attrs.define(eq=False)
class SharedState:
    """What a client shares with its ``with_options`` copies."""

    wire: Wire
    """What carries each attempt: the httpx client's, or aiohttp's (see _wire)."""
    owns_http: bool
    """Whether the wire's connections are ours to close (not a user's client)."""
    pause: ServerPause = attrs.field(factory=ServerPause)
    loop: LoopBinding = attrs.field(factory=LoopBinding)
    closed: bool = False
    closed_by_loop: bool = False
    """Closed as the event loop it was bound to ended (see _loop)."""
    gate: ConnectionGate | None = None
    """Holds requests beyond httpx's pool size outside its pool (see _transports)."""
    connections: int | None = None
    """Requests the wire's own pool can carry at once; None when not ours."""
    on_the_wire: int = 0
    _idle: anyio.Event | None = None
    _closing: anyio.Event | None = None
    """Set once `close` is done: a second caller waits for it."""

    def closed_error(self) -> ClientStateError:
        """The error for a call made once the client is closed."""
        if self.closed_by_loop:
            return ended_error()
        return ClientStateError("this IProgSMS client is closed")

    def admit(self) -> bool:
        """Refuse a call on a closed client or on another loop.

        True for the first call, which bound the client to the running loop.
        """
        if self.closed:
            raise self.closed_error()
        return self.loop.bind()

    async def bound(self) -> None:
        """Once bound to its loop: have a pool of ours closed as the loop ends.

        (Should the client still be open then.)
        """
        if self.owns_http:
            await self.loop.close_at_end(self.close_with_loop)

    async def close(self) -> None:
        """Close the pool, if ours, once the requests on the wire are done.

        No request starts once this is called. Call it on the bound loop.
        """
        if self.closed:
            await self.closing()
            return
        self.closed = True
        if not self.owns_http:
            return
        self._closing = closing = anyio.Event()
        try:
            await self.drained()  # requests on the wire finish first
        finally:
            try:
                await self.wire.aclose()
            finally:
                try:
                    await self.loop.closed_here()
                finally:
                    closing.set()

    async def closing(self) -> None:
        """Wait for a `close` under way, if any, to be done."""
        if self._closing is not None:
            await self._closing.wait()

    async def close_with_loop(self) -> None:
        """Close the pool as its loop ends: every task of it is done by then."""
        if self.closed:
            return
        self.closed = self.closed_by_loop = True
        await self.wire.aclose()

    def begin_attempt(self) -> None:
        """Count a request going on the wire; refuse it once the client is closed.

        Checked here, as it is sent, and not only when the call began: the
        client may have been closed while the call waited (a pause, the rate
        limit, a retry), and httpx (or aiohttp) would raise a bare RuntimeError.
        """
        if self.closed:
            raise self.closed_error()
        self.on_the_wire += 1

    def end_attempt(self) -> None:
        """Count a request off the wire."""
        self.on_the_wire -= 1
        if not self.on_the_wire and self._idle is not None:
            self._idle.set()

    async def drained(self) -> None:
        """Wait until no request is on the wire (each is bounded by its timeout).

        Closing httpcore's pool under a request in flight makes it open a new
        connection for the request, which is then never closed.
        """
        while self.on_the_wire:
            self._idle = anyio.Event()
            await self._idle.wait()


class Requester:
    """Sends `Call` objects for one client's settings over a shared pool."""

    __slots__ = (
        "_base_url",
        "_deadline",
        "_limiter",
        "_retry",
        "_shared",
        "_shield",
        "_timeout",
        "_token",
    )

    def __init__(
        self,
        *,
        shared: SharedState,
        token: Secret,
        base_url: str,
        timeout: httpx.Timeout,
        retry: RetryPolicy,
        limiter: RateLimit | None = None,
        shield: Shield = Shield.OFF,
    ) -> None:
        self._shared = shared
        self._token = token
        self._base_url = base_url
        self._timeout = timeout
        self._deadline = total_deadline(timeout)
        self._retry = retry
        self._limiter = limiter
        self._shield = shield

    async def request(
        self,
        call: Call,
        parse: Callable[[JSONObject], T],
        *,
        trace: SendTrace | None = None,
    ) -> T:
        """Send ``call`` (retrying where safe) and return ``parse`` of its body.

        ``parse`` raises `ValueError` when the body lacks what the operation
        returns; that becomes a `ResponseFormatError`. ``trace``, when given,
        says after a cancellation whether a request may have reached the wire.
        """
        shared = self._shared
        if shared.admit():
            await shared.bound()
        context = RequestContext(
            call.method,
            self._base_url + call.path,
            sends_sms=call.sends_sms,
            secret=self._token,
        )
        shield = self._shield if call.sends_sms else Shield.OFF
        retries = 0
        while True:
            if shared.pause.holding or self._limiter is not None:
                await self._wait_turn()
            gate = shared.gate
            try:
                # Waiting for a connection stays cancellable: nothing is
                # sent yet.
                if gate is not None and not await gate.acquire(self._timeout.pool):
                    waited = httpx.PoolTimeout("no free connection in time")
                    raise self._transport_error(waited, context)
                try:
                    if call.sends_sms:
                        # Nothing is on the wire yet: a caller cancelled by
                        # now sends nothing. (Not a full checkpoint: a yield
                        # here costs httpcore's pool ~0.4 ms a send.)
                        await shared.loop.checkpoint_if_cancelled()
                    # From here on a send is seen through (abandoning it
                    # would leave the text in doubt): anyio's cancellation
                    # held off by a shielded scope (the caller's standing
                    # one, or the attempt's own), any by a task of its own.
                    attempt = self._attempt(
                        call, parse, context, trace, shielded=shield is Shield.ANYIO
                    )
                    if shield is Shield.FULL:
                        return await finish_shielded(attempt, shield, context)
                    return await attempt
                finally:
                    if gate is not None:
                        gate.release()
            except (APIConnectionError, APIError) as error:
                delay = await self._after_failure(call, error, retries, trace)
                if delay is None:
                    raise
                retries += 1
                self._log_retry(call, error, delay, retries)
                await anyio.sleep(delay)

    async def _wait_turn(self) -> None:
        """Wait out a 429's pause, then for the rate limit, if any."""
        await self._shared.pause.wait()
        if self._limiter is not None:
            await self._limiter.acquire()

    async def _after_failure(
        self,
        call: Call,
        error: APIConnectionError | APIError,
        retries: int,
        trace: SendTrace | None,
    ) -> float | None:
        """Settle what ``error`` says; the wait before retrying (None: raise it)."""
        if trace is not None and not error.maybe_sent:
            # Refused, or it never left: not in doubt, even should a
            # cancellation come in a wait that follows. (A send is retried
            # only then.)
            trace.clear()
        delay = self._retry_delay(call, error, retries)
        await self._share_pause(error)
        return delay

    async def _share_pause(self, error: IProgSMSError) -> None:
        """Pass a 429's pause on to the limit: one shared by processes pauses all."""
        if isinstance(error, RateLimitError) and self._limiter is not None:
            await self._limiter.pause(self._shared.pause.remaining())

    def _log_retry(
        self, call: Call, error: IProgSMSError, delay: float, retries: int
    ) -> None:
        """Log that ``call`` is tried again after ``error``, in ``delay`` seconds."""
        logger.info(
            "Retrying %s %s in %.2f s (retry %d of %d) after: %s",
            call.method,
            call.path,
            delay,
            retries,
            self._retry.max_retries,
            error,
        )

    def _retry_delay(
        self, call: Call, error: IProgSMSError, retries: int
    ) -> float | None:
        """The wait before retrying after ``error``, or None when not to retry."""
        if isinstance(error, RateLimitError):
            delay = self._retry.delay(retries, error.retry_after)
            wait = self._retry.pause(error.retry_after, delay)
            if wait is not None:
                self._shared.pause.pause(wait)
            return delay
        if isinstance(error, APIConnectionError):
            cause = error.__cause__
            retryable = not isinstance(cause, _NEVER_SENT) and (
                call.repeatable or isinstance(cause, _NOT_REACHED)
            )
        elif isinstance(error, ServerError):
            retryable = call.repeatable
        elif isinstance(error, APIError) and not isinstance(error, ResponseFormatError):
            retryable = call.repeatable and error.status_code == _RETRYABLE_READ_STATUS
        else:
            retryable = False
        return self._retry.delay(retries) if retryable else None

    async def _attempt(
        self,
        call: Call,
        parse: Callable[[JSONObject], T],
        context: RequestContext,
        trace: SendTrace | None,
        *,
        shielded: bool = False,
    ) -> T:
        token = self._token.get()
        params: Mapping[str, str] | None = call.params
        json: Mapping[str, Any] | None = call.json
        # The token rides in the JSON body where there is one; GET and DELETE
        # have none, and the gateway reads it from the query string there.
        if call.method in ("POST", "PATCH", "PUT"):
            json = {"api_token": token, **(json or {})}
        else:
            params = {**(params or {}), "api_token": token}
        debug = logger.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if debug else 0.0
        shared = self._shared
        shared.begin_attempt()
        failure: APIConnectionError | None = None
        standing: anyio.CancelScope | None = None
        if trace is not None:
            trace.mark(context)
            if shielded and trace.scope is not None:
                # The caller's own scope holds the shield: no new one a send
                # (and one shielded already is left as it is).
                shielded = False
                if not trace.scope.shield:
                    standing = trace.scope
                    standing.shield = True
        answer: Answer
        try:
            answer = await shared.wire.exchange(
                call.method,
                context.url,
                params,
                json,
                self._timeout,
                self._deadline,
                context,
                shielded=shielded,
            )
        except httpx.TransportError as exc:
            failure = self._transport_error(exc, context)
        finally:
            if standing is not None:
                standing.shield = False
            shared.end_attempt()
        if failure is not None:
            # Raised out here, not in the handler, so that the wire's
            # exception (whose text may echo the token) is not its context:
            # see _transport_error for the cause it has instead.
            raise failure
        status = answer.status
        if debug:
            logger.debug(
                "%s %s -> %d (%.1f ms, %d bytes)",
                call.method,
                call.path,
                status,
                (time.perf_counter() - started) * 1000,
                len(answer.content),
            )
        body = success_body(status, answer.headers, answer.content, context)
        try:
            return parse(body)
        except ValueError as exc:
            problem = str(exc)
        # Raised outside the handler: the ValueError, and cattrs' errors
        # chained to it, stay out of the error's chain.
        raise ResponseFormatError(
            redact(
                f"HTTP {status} without what {call.method} "
                f"{call.path} returns: {problem}",
                self._token,
            ),
            status_code=status,
            body=body,
            method=context.method,
            url=context.url,
            maybe_sent=call.sends_sms,
        )

    def _transport_error(
        self, exc: httpx.TransportError, context: RequestContext
    ) -> APIConnectionError:
        reached = not isinstance(exc, _NOT_REACHED + _NEVER_SENT)
        cls = (
            APITimeoutError
            if isinstance(exc, httpx.TimeoutException)
            else APIConnectionError
        )
        what = type(exc).__name__
        detail = redact_foreign(str(exc)) or "no detail"
        if reached and context.sends_sms:
            consequence = "the gateway may have accepted the text"
        elif context.sends_sms:
            consequence = "the text was not sent"
        else:
            consequence = ""
        message = f"{context.method} {context.url} failed: {what}: {detail}"
        if consequence:
            message += f" ({consequence})"
        error = cls(
            redact(message, self._token),
            method=context.method,
            url=context.url,
            maybe_sent=reached and context.sends_sms,
        )
        # httpx's exception may echo the token (an answer that repeats the
        # request line), and so may the httpcore and h11 exceptions chained
        # to it, or its request's URL. The cause is a stand-in: the same
        # class, so _retry_delay and callers can still test it, with the
        # text redacted and nothing chained.
        error.__cause__ = stand_in(exc)
        error.__suppress_context__ = True
        return error
