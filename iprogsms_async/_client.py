"""`IProgSMS`: settings, lifecycle, ``with_options`` and the API's namespaces."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import attrs
import httpx

from ._errors import ClientStateError, ConfigurationError
from ._httpx import HttpxWire
from ._ratelimit import BothLimits, RateLimit, RateLimiter
from ._redact import Secret, install_log_filter
from ._request import Requester, SharedState
from ._retry import RetryPolicy
from ._sender import RequesterSender
from ._shielding import Shield
from ._transports import (
    DEFAULT_LIMITS,
    build_wire,
    check_http_backend,
    gate_for,
    pool_size,
)
from ._validation import BASE_URL, NON_NEGATIVE_INT, TIMEOUT, TOKEN, TOKEN_VARIABLE
from ._version import __version__
from .broadcast._options import choose_options
from .broadcast._recipients import check_recipients
from .broadcast._stream import collect, collect_stream, open_stream
from .resources import OTP, SMS, Account, PhoneNumbers, Reminders

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from types import TracebackType

    from typing_extensions import Self, Unpack  # typing's own from 3.11

    from ._transports import HTTPBackend
    from .broadcast import (
        BroadcastOptionChanges,
        BroadcastOptions,
        BroadcastReport,
        BroadcastStream,
        Recipients,
    )

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "ENV_BASE_URL",
    "IProgSMS",
]

DEFAULT_BASE_URL = "https://www.iprogsms.com/api/v1"
ENV_BASE_URL = "IPROGSMS_BASE_URL"

T = TypeVar("T")
V = TypeVar("V")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
"""10 s to connect, 30 s for each read, write and pool wait; 100 s in all."""


class _NotGiven:
    """Marks an option of `IProgSMS.with_options` left as it is."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = _NotGiven()


@attrs.frozen
class _Settings:
    token: Secret
    base_url: str
    timeout: httpx.Timeout
    retry: RetryPolicy
    limiter: RateLimit | None
    shield: Shield


class IProgSMS:
    """An asynchronous client for the iProgSMS gateway.

    Use it as an async context manager, or call `aclose` when done:

        async with IProgSMS() as client:  # token from IPROGSMS_API_TOKEN
            sent = await client.sms.send("0917 125 1234", "Your bill is due")

    Args:
        api_token: The API token; defaults to ``IPROGSMS_API_TOKEN``.
        base_url: The API root; defaults to ``IPROGSMS_BASE_URL`` or
            ``https://www.iprogsms.com/api/v1``. Plain ``http://`` is refused
            except for loopback hosts (a local fake gateway).
        timeout: Seconds, or an `httpx.Timeout`, for each attempt. Each
            step is bounded by its part (waiting for a connection,
            connecting, each write, each read) and the whole attempt by the
            sum of the four: 4 s for ``timeout=1.0``, 100 s for the default.
            So a server that trickles its answer a byte at a time cannot
            hold a call, a broadcast's drain or `aclose` any longer. A send
            stopped by that total raises `APITimeoutError` with
            ``maybe_sent=True``. There is no total when any part is None.
        max_retries: Retries after a failed attempt where retrying is safe;
            0 disables them. Sends are never retried once they may have
            reached the gateway.
        http_client: An `httpx.AsyncClient` of your own. It is used as it is
            and never closed by this client.
        transport: An httpx transport for the client created here (for
            example ``FakeGateway``'s, or a mock); not with ``http_client``.
        limits: Connection pool limits for the client created here
            (default: 50 connections for httpx, 100 for aiohttp).
        http_backend: The HTTP machinery of the client created here:
            ``"httpx"`` (httpx's own; asyncio and trio) or ``"aiohttp"``
            (straight on an aiohttp session, no httpx on the way: several
            times less CPU per request, for bulk sending; asyncio only;
            needs ``pip install 'iprogsms-async[aiohttp]'``).
        rate_limit: Requests a second this client may start, across all its
            tasks (retries included); None for no limit. Or a
            `RedisRateLimit`: one limit and one 429 pause shared by every
            process on the account (asyncio only).
        shield_sends: When a send is cancelled while its request is on the
            wire, finish that request (within ``timeout``'s total) instead
            of abandoning it in doubt. anyio's cancellation (trio's, a cancel
            scope's) then takes effect at the caller's next checkpoint, so the
            result can be recorded; asyncio's own (``task.cancel()``,
            ``asyncio.wait_for``, ``asyncio.timeout``) is raised as soon as
            the request is done, and the result it drops is logged.
            Broadcasts see their sends through whatever this says.

    One client (and its `with_options` copies) shares one connection pool:
    create it once, in the event loop that uses it. Should that loop end with
    the client still open (``asyncio.run``, ``trio.run``), the client is
    closed on it as it ends.
    """

    sms: SMS
    """Send texts and read their status."""
    account: Account
    """The account's credits."""
    reminders: Reminders
    """Messages scheduled for later."""
    phone_numbers: PhoneNumbers
    """Network detection."""
    otp: OTP
    """One-time passwords."""

    def __init__(
        self,
        api_token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
        http_backend: HTTPBackend = "httpx",
        rate_limit: float | RateLimit | None = None,
        shield_sends: bool = False,
    ) -> None:
        settings = _Settings(
            token=_check_token(
                api_token if api_token is not None else os.environ.get(TOKEN_VARIABLE)
            ),
            base_url=_check_base_url(
                base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
            ),
            timeout=_check_timeout(timeout),
            retry=RetryPolicy(max_retries=_check_max_retries(max_retries)),
            limiter=_limiter(rate_limit),
            shield=_shield(shield_sends),
        )
        headers = {
            "User-Agent": f"iprogsms-async/{__version__}",
            "Accept": "application/json",
        }
        backend = check_http_backend(http_backend)
        if http_client is not None:
            if transport is not None or limits is not None or backend != "httpx":
                raise ConfigurationError(
                    "pass either http_client or transport/limits/http_backend, "
                    "not both: configure your own httpx.AsyncClient instead"
                )
            if not isinstance(http_client, httpx.AsyncClient):
                raise ConfigurationError(
                    "http_client must be an httpx.AsyncClient, not a "
                    f"{type(http_client).__name__}"
                )
            shared = SharedState(wire=HttpxWire(http_client, headers), owns_http=False)
        else:
            wire = build_wire(
                backend,
                headers=headers,
                timeout=settings.timeout,
                limits=limits,
                transport=transport,
            )
            shared = SharedState(
                wire=wire,
                owns_http=True,
                gate=gate_for(backend, limits, transport),
                connections=pool_size(backend, limits, transport),
            )
        install_log_filter()
        self._setup(settings, shared, owner=True)

    def _setup(self, settings: _Settings, shared: SharedState, *, owner: bool) -> None:
        self._settings = settings
        self._shared = shared
        self._owner = owner
        requester = _requester(settings, shared)
        self._requester = requester
        self.sms = SMS(requester)
        self.account = Account(requester)
        self.reminders = Reminders(requester)
        self.phone_numbers = PhoneNumbers(requester)
        self.otp = OTP(requester)

    def with_options(
        self,
        *,
        api_token: str | _NotGiven = NOT_GIVEN,
        base_url: str | _NotGiven = NOT_GIVEN,
        timeout: float | httpx.Timeout | _NotGiven = NOT_GIVEN,
        max_retries: int | _NotGiven = NOT_GIVEN,
        rate_limit: float | RateLimit | _NotGiven | None = NOT_GIVEN,
        shield_sends: bool | _NotGiven = NOT_GIVEN,
    ) -> Self:
        """Return a copy with some settings changed, sharing this connection pool.

        The copy is of this client's class, so a subclass keeps its methods.

        The copy does not own the pool: closing it is a no-op, and it stops
        working when the original is closed. A ``rate_limit`` given here is a
        new limit for the copy alone; left out, the copy shares this client's
        limit. A 429 pause is always shared.
        """
        current = self._settings
        settings = _Settings(
            token=_given(api_token, current.token, _check_token),
            base_url=_given(base_url, current.base_url, _check_base_url),
            timeout=_given(timeout, current.timeout, _check_timeout),
            retry=attrs.evolve(
                current.retry,
                max_retries=_given(
                    max_retries, current.retry.max_retries, _check_max_retries
                ),
            ),
            limiter=_given(rate_limit, current.limiter, _limiter),
            shield=_given(shield_sends, current.shield, _shield),
        )
        return self._copy(settings)

    def _copy(self, settings: _Settings) -> Self:
        # Not through __init__: a copy shares the pool instead of making one.
        copy = object.__new__(type(self))
        copy._setup(settings, self._shared, owner=False)
        return copy

    def _broadcast_sender(self, rate_limit: float | None) -> RequesterSender:
        """What a broadcast's workers send through: a copy of this client's road.

        They run in anyio task groups, where only anyio's cancellation reaches
        them: a shielded scope is enough, and saves a task per send. Its own
        rate limit when given, in place of this client's in-process one, or
        as well as one shared with other processes (see `BothLimits`); else
        this client's.
        """
        settings = attrs.evolve(self._settings, shield=Shield.ANYIO)
        if rate_limit is not None:
            own: RateLimit = RateLimiter(rate_limit)
            shared = settings.limiter
            if shared is not None and not isinstance(shared, RateLimiter):
                own = BothLimits(shared, own)
            settings = attrs.evolve(settings, limiter=own)
        return RequesterSender(
            _requester(settings, self._shared),
            settings.base_url,
            self._shared.connections,
        )

    async def broadcast(
        self,
        recipients: Recipients,
        *,
        options: BroadcastOptions | None = None,
        **changes: Unpack[BroadcastOptionChanges],
    ) -> BroadcastReport:
        """Text many recipients, poll each text to delivery, and report every one.

        ::

            report = await client.broadcast(numbers, message="Hi", concurrency=20)
            report = await client.broadcast(numbers, options=nightly, message="Hi")

        Args:
            recipients: An iterable or async iterable of phone numbers (each
                sent the ``message`` option), ``(phone_number, message)``
                pairs or `Outgoing` items. Read lazily, only as workers free
                up.
            options: A `BroadcastOptions`; the defaults when None.
            **changes: Any `BroadcastOptions` field by name (``message``,
                ``concurrency``, ``rate_limit``, ``journal``, ``on_result``,
                ...), overriding ``options``. See `BroadcastOptions` for what
                each one means.

        Returns:
            A `BroadcastReport`: one `BroadcastResult` per input item, in
            input order, and the counts by status.

        A recipient's failure never stops the broadcast. A send that may
        have reached the gateway is never repeated: it ends ``unknown``. A bad
        token (`AuthenticationError`) or a closed client does stop it. So
        does the account running out of credits: no text is sent after the
        gateway says so, every recipient left is reported ``not_sent`` (and
        journaled so, for a rerun after a top-up), texts already accepted
        are still polled, and then `InsufficientCreditsError` is raised with
        ``unsent`` and ``report`` (every recipient's result). When
        cancelled, the broadcast stops reading, lets sends already on the
        wire finish and records them (``on_result``, the journal), then
        re-raises the cancellation.

        Everything is checked first, before anything is read or sent:
        ``recipients`` that cannot be read raise `ValidationError`; a wrong
        option raises `ConfigurationError`, and a keyword that is not an
        option `TypeError`. It runs as `broadcast_stream` does, to the end,
        its results kept in a list rather than handed to a reader.

        With ``shared=True`` (a ``postgresql://`` ``journal`` and a
        ``name``), this process is one worker of a broadcast others work on
        too, on any machines: the recipients are loaded into the journal
        once, whichever worker comes first, each worker claims its share,
        and the report holds the recipients this worker settled (see
        `broadcast_work` to join without the recipients).
        """
        check_recipients(recipients)
        chosen = choose_options(options, changes)
        sender = self._broadcast_sender(chosen.rate_limit)
        return await collect(sender, recipients, chosen)

    @asynccontextmanager
    async def broadcast_stream(
        self,
        recipients: Recipients,
        *,
        options: BroadcastOptions | None = None,
        **changes: Unpack[BroadcastOptionChanges],
    ) -> AsyncIterator[BroadcastStream]:
        """Run a broadcast and iterate its results as each recipient settles.

        For example:

            async with client.broadcast_stream(numbers, message="Hi") as results:
                async for result in results:
                    ...

        Takes what `broadcast` takes. Memory does not grow with the number of
        recipients (beyond one small key each for ``deduplicate``). Leaving
        the block early cancels the broadcast, which drains as `broadcast`
        describes.
        """
        check_recipients(recipients)
        chosen = choose_options(options, changes)
        sender = self._broadcast_sender(chosen.rate_limit)
        async with open_stream(sender, recipients, chosen) as stream:
            yield stream

    async def broadcast_plan(
        self,
        recipients: Recipients,
        *,
        options: BroadcastOptions | None = None,
        **changes: Unpack[BroadcastOptionChanges],
    ) -> BroadcastReport:
        """Load a shared broadcast's recipients into its journal; send nothing.

        ::

            await client.broadcast_plan(
                numbers, message="Hi", journal="postgresql://db/sms", name="june"
            )

        The explicit plan step of a shared broadcast (``shared=True`` is
        implied; ``journal``, a ``postgresql://`` URL, and ``name`` are
        required): the recipients are streamed into the journal in chunks,
        each added once however many workers plan the same input, and the
        plan is recorded complete. Workers (`broadcast_work`) send them; a
        `broadcast` given them with ``shared=True`` plans and works at once.

        Returns:
            A `BroadcastReport` of the rows no one will send: ``invalid``
            ones and ``duplicate`` copies, each with its input ``index``.
        """
        check_recipients(recipients)
        chosen = choose_options(options, changes)
        if not chosen.shared:
            chosen = chosen.replace(shared=True)
        sender = self._broadcast_sender(chosen.rate_limit)
        return await collect_stream(
            open_stream(sender, recipients, chosen, plan_only=True)
        )

    async def broadcast_work(
        self,
        *,
        options: BroadcastOptions | None = None,
        **changes: Unpack[BroadcastOptionChanges],
    ) -> BroadcastReport:
        """Join a shared broadcast as one more worker, without its recipients.

        ::

            report = await client.broadcast_work(
                journal="postgresql://db/sms", name="june-bills", concurrency=20
            )

        The broadcast's recipients come from its journal, where a worker
        given them (``client.broadcast(recipients, shared=True, ...)``)
        loaded them: this one waits for that (up to ``plan_timeout``), then
        claims batches alongside the other workers, sends and polls them,
        takes up what a worker that died left (its claims, its polls; its
        sends on the wire become ``unknown``), and returns once nothing is
        left for anyone. Takes `BroadcastOptions` as `broadcast` does
        (``shared=True`` is implied; ``journal``, a ``postgresql://`` URL,
        and ``name`` are required).

        Returns:
            A `BroadcastReport` of the recipients this worker settled, each
            with its ``index`` in the planned input. Every recipient is
            settled by exactly one worker.
        """
        return await collect_stream(
            self.broadcast_work_stream(options=options, **changes)
        )

    @asynccontextmanager
    async def broadcast_work_stream(
        self,
        *,
        options: BroadcastOptions | None = None,
        **changes: Unpack[BroadcastOptionChanges],
    ) -> AsyncIterator[BroadcastStream]:
        """`broadcast_work`, its results iterated as each recipient settles.

        As `broadcast_stream` is to `broadcast`. Leaving the block early
        cancels this worker, which drains, then hands back what it holds:
        claims not started go to the other workers at once, and so do the
        texts it was polling.
        """
        chosen = choose_options(options, changes)
        if not chosen.shared:
            chosen = chosen.replace(shared=True)
        sender = self._broadcast_sender(chosen.rate_limit)
        async with open_stream(sender, None, chosen) as stream:
            yield stream

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._settings.base_url

    @property
    def timeout(self) -> httpx.Timeout:
        """The timeout of each attempt."""
        return self._settings.timeout

    @property
    def max_retries(self) -> int:
        """Retries after a failed attempt, where retrying is safe."""
        return self._settings.retry.max_retries

    @property
    def is_closed(self) -> bool:
        """Whether the client (or the one it was copied from) has been closed."""
        return self._shared.closed

    async def aclose(self) -> None:
        """Close the connection pool if this client created it.

        No request starts once this is called; those already on the wire
        finish first (each within its timeout's total). A pool passed in as
        ``http_client`` is left open. On a copy made by `with_options` this
        does nothing: close the original.

        Call it on the event loop the client was used on. Once that loop has
        ended, the client was closed with it and this does nothing; while
        it runs (in another thread) this raises `ClientStateError`, and so
        does a loop closed under the open client without finalizing it
        (``loop.close()`` without ``loop.shutdown_asyncgens()``).
        """
        shared = self._shared
        if not self._owner:
            return
        if shared.closed:
            await shared.closing()  # a close under way: return once it is done
            return
        where = shared.loop.where() if shared.owns_http else "here"
        if where == "running elsewhere":
            raise ClientStateError(
                "this IProgSMS client's connections belong to the event loop "
                "that first used it, which is still running: close it there "
                "(from another thread, asyncio.run_coroutine_threadsafe("
                "client.aclose(), loop))"
            )
        if where == "ended":
            shared.closed = True
            shared.loop.forget()
            raise ClientStateError(
                "this IProgSMS client was used on an event loop that was closed "
                "without closing the client or finalizing its async generators "
                "(asyncio.run and trio.run do both; loop.close() alone does "
                "not), so its connections cannot be closed now. Close the "
                "client in the loop that uses it."
            )
        await shared.close()

    async def __aenter__(self) -> IProgSMS:
        if self._shared.closed:
            raise self._shared.closed_error()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = " closed" if self._shared.closed else ""
        return f"<IProgSMS base_url={self._settings.base_url!r}{state}>"


def _given(value: V | _NotGiven, current: T, check: Callable[[V], T]) -> T:
    """``check(value)`` of an option given to `IProgSMS.with_options`.

    ``current`` when the option was left out.
    """
    return current if isinstance(value, _NotGiven) else check(value)


def _requester(settings: _Settings, shared: SharedState) -> Requester:
    return Requester(
        shared=shared,
        token=settings.token,
        base_url=settings.base_url,
        timeout=settings.timeout,
        retry=settings.retry,
        limiter=settings.limiter,
        shield=settings.shield,
    )


def _limiter(rate_limit: float | RateLimit | None) -> RateLimit | None:
    if rate_limit is None or isinstance(rate_limit, RateLimit):
        return rate_limit  # a limit of the user's making, shared as it is
    return RateLimiter(rate_limit)


def _shield(shield_sends: bool) -> Shield:
    return Shield.FULL if shield_sends else Shield.OFF


def _check_token(token: object) -> Secret:
    if token is None:
        raise ConfigurationError(
            f"no API token: pass api_token=... or set the {TOKEN_VARIABLE} "
            "environment variable",
            field="api_token",
        )
    return Secret(TOKEN.setting(token, "api_token"))


def _check_base_url(url: object) -> str:
    return BASE_URL.setting(url, "base_url")


def _check_timeout(timeout: object) -> httpx.Timeout:
    return TIMEOUT.setting(timeout, "timeout")


def _check_max_retries(value: object) -> int:
    return NON_NEGATIVE_INT.setting(value, "max_retries")
