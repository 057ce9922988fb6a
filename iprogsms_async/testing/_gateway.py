"""`FakeGateway`: a stateful, faithful fake of the iProgSMS gateway, with faults."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

import attrs

from .._client import DEFAULT_TIMEOUT, IProgSMS
from .._phone import normalize_phone_number
from .._validation import INTEGER, NON_NEGATIVE_INT, SECONDS, SHARE, TOKEN, optional
from ._asgi import FakeASGIApp
from ._exchange import Engine
from ._faults import FaultChanges, FaultKind, FaultPlan, Faults, resolve_endpoints
from ._routes import PREFIX
from ._serve import serve_in_loop, serve_in_thread
from ._store import Store
from ._transport import FakeTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

    import httpx
    from typing_extensions import Unpack  # typing's own from 3.11

    from ._exchange import Exchange
    from ._records import RecordedMessage, RecordedReminder

__all__ = [
    "DEFAULT_CREDITS",
    "DEFAULT_TOKEN",
    "IN_PROCESS_BASE_URL",
    "FakeGateway",
    "exchange",
]

DEFAULT_TOKEN = "test-token"  # noqa: S105 -- the fake's made-up token
"""The token a `FakeGateway` accepts unless given another."""
DEFAULT_CREDITS = 1_000_000
"""Credits a `FakeGateway` starts with: enough for any test or benchmark."""
IN_PROCESS_BASE_URL = "http://127.0.0.1" + PREFIX
"""The base URL of `FakeGateway.client`: loopback, which the client allows over
plain http. With the in-process transport no request leaves the process."""


class FakeGateway:
    """A fake of the iProgSMS gateway, with state, validation and faults on demand.

    It implements every endpoint with the vendor's documented request and
    response shapes, reading the token and fields from the JSON body, a form
    body or the query string (the query string wins, as in Rails). Numbers are
    accepted in the notations the real gateway takes (``09...``, ``639...``,
    ``+639...``) and stored as ``09XXXXXXXXX``.

    State: every accepted text is kept, with its id, number, text, segments,
    provider and acceptance time. Its status is ``pending`` until
    ``delivery_delay`` seconds have passed, then ``delivered``, or ``failed``
    for a share ``failure_rate`` of texts (decided at acceptance, seeded).
    Each segment costs one credit; a send the credits do not cover is refused
    whole (HTTP 402; the real code is unknown) and nothing is stored or
    debited. Reminders are kept and can be read, changed and deleted; the fake
    never fires them (the real gateway's behaviour when it does is unknown).
    OTPs are six-digit codes, texted (so they cost credits), valid for
    ``expires_in_minutes`` (default 5) and used up by a successful check.

    Inferred, not documented by the vendor: the error answers' HTTP codes and
    wording (401 ``{"status": "error", "message": "Invalid API token."}``, 422
    for a missing or malformed field, 404 for an unknown id, 400 for a wrong
    or expired OTP), the OTP answers, and the statuses after ``pending``.

    Use it in-process with `client` or `transport` (no sockets, asyncio or
    trio), or over real HTTP with `serve_in_thread`. `Faults` (or `fail_next`)
    make it misbehave; `messages`, `texts_to`, `requests` and `max_in_flight`
    show what happened. Everything is deterministic for a given ``seed``.

    Args:
        token: The API token it accepts.
        credits: The starting ``load_balance``.
        delivery_delay: Seconds (of ``clock``) a text stays ``pending``.
        failure_rate: The share (0 to 1) of texts whose final status is
            ``failed``.
        seed: Seeds message ids, OTP codes, failures and faults; None seeds
            from the system.
        faults: Faults from the start; none by default.
        clock: Seconds since the epoch, `time.time` by default; pass a
            `ManualClock` to move time by hand.

    A knob of the wrong type or value raises `ConfigurationError` (a
    `ValueError`) naming it, as the client's own settings do.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        credits: int = DEFAULT_CREDITS,  # noqa: A002 -- the API's own word
        delivery_delay: float = 0.0,
        failure_rate: float = 0.0,
        seed: int | None = 0,
        faults: Faults | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        token = TOKEN.setting(token, "token")
        store = Store(
            credits=NON_NEGATIVE_INT.setting(credits, "credits"),
            delivery_delay=SECONDS.setting(delivery_delay, "delivery_delay"),
            failure_rate=SHARE.setting(failure_rate, "failure_rate"),
            seed=optional(INTEGER).setting(seed, "seed"),
            clock=clock or time.time,
        )
        plan = FaultPlan(Faults() if faults is None else faults, seed)
        self._token = token
        self._engine = Engine(token=token, store=store, plan=plan)
        self._app: FakeASGIApp | None = None

    # --- settings ---------------------------------------------------------------

    @property
    def token(self) -> str:
        """The API token this fake accepts."""
        return self._token

    @property
    def base_url(self) -> str:
        """The base URL for the in-process `transport` (no server listens there)."""
        return IN_PROCESS_BASE_URL

    @property
    def faults(self) -> Faults:
        """The fault configuration in force; assign a `Faults` to change it."""
        with self._engine.lock:
            return self._engine.plan.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._engine.lock:
            self._engine.plan.faults = faults

    def update_faults(self, **changes: Unpack[FaultChanges]) -> Faults:
        """Change some fields of the fault configuration; return the new one.

        ``fake.update_faults(rate_limit=0.2, retry_after=0.05)``. The names are
        those of `Faults`' fields, checked by type checkers (`FaultChanges`)
        and at run time (a `TypeError` for a name `Faults` does not have).
        """
        with self._engine.lock:
            plan = self._engine.plan
            plan.faults = attrs.evolve(plan.faults, **changes)
            return plan.faults

    def fail_next(
        self,
        kind: FaultKind,
        n: int = 1,
        *,
        endpoints: str | Iterable[str] = "all",
    ) -> None:
        """Make the next ``n`` requests to ``endpoints`` meet fault ``kind``.

        Queued faults strike before the configured rates, in the order they
        were queued; their parameters (``retry_after``, ``slow_seconds``, the
        statuses) come from the configuration in force. ``endpoints`` is
        ``"all"``, ``"sends"``, or endpoint names like ``"POST /sms_messages"``.
        """
        selected = resolve_endpoints(endpoints)
        with self._engine.lock:
            self._engine.plan.fail_next(kind, n, selected)

    def clear_faults(self) -> None:
        """Drop queued faults and the configuration: the fake behaves again."""
        with self._engine.lock:
            self._engine.plan.clear()

    @property
    def credits(self) -> int:
        """The account's ``load_balance``; assign to top up or drain it."""
        with self._engine.lock:
            return self._engine.store.credits

    @credits.setter  # noqa: A003 -- a property, not the builtin
    def credits(self, value: int) -> None:
        checked = NON_NEGATIVE_INT.setting(value, "credits")
        with self._engine.lock:
            self._engine.store.credits = checked

    # --- what happened ----------------------------------------------------------

    @property
    def messages(self) -> list[RecordedMessage]:
        """Every accepted text, oldest first, with its status as of now."""
        with self._engine.lock:
            store = self._engine.store
            now = store.clock()
            return [message.record(now) for message in store.messages]

    def message(self, message_id: str) -> RecordedMessage | None:
        """The accepted text with this id, or None."""
        with self._engine.lock:
            store = self._engine.store
            found = store.find(message_id)
            return None if found is None else found.record(store.clock())

    def messages_to(self, phone_number: str) -> list[RecordedMessage]:
        """The texts accepted for one number (in any notation), oldest first.

        Raises `InvalidPhoneNumber` (a `ValueError`) for a malformed number.
        """
        number = normalize_phone_number(phone_number)
        with self._engine.lock:
            store = self._engine.store
            now = store.clock()
            return [message.record(now) for message in store.texts_to(number)]

    def texts_to(self, phone_number: str) -> list[str]:
        """The texts' bodies accepted for one number (in any notation), oldest first."""
        number = normalize_phone_number(phone_number)
        with self._engine.lock:
            return [message.message for message in self._engine.store.texts_to(number)]

    @property
    def reminders(self) -> dict[int, RecordedReminder]:
        """The reminders held now, by id."""
        with self._engine.lock:
            return dict(self._engine.store.reminders)

    def otp_for(self, phone_number: str) -> str | None:
        """The unexpired OTP code waiting for a number, or None."""
        number = normalize_phone_number(phone_number)
        with self._engine.lock:
            return self._engine.store.active_otp(number)

    @property
    def requests(self) -> Counter[str]:
        """Requests received, by endpoint name (``"POST /sms_messages"``).

        Every request counts, refused, faulty or not; a path the gateway does
        not have counts under its method and path.
        """
        with self._engine.lock:
            return Counter(self._engine.requests)

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._engine.in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being handled at the same time."""
        return self._engine.max_in_flight

    def reset_counters(self) -> None:
        """Zero `requests` and `max_in_flight` (state and faults stay)."""
        with self._engine.lock:
            self._engine.requests.clear()
            self._engine.max_in_flight = self._engine.in_flight

    # --- ways in ------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport answering from this fake, in-process."""
        return FakeTransport(self._engine)

    @property
    def app(self) -> FakeASGIApp:
        """This fake as an ASGI application (paths under ``/api/v1``).

        Serve it with any ASGI server, or mount it in an app of yours. A
        dropped connection is the app raising ``ConnectionDropped`` (from
        `iprogsms_async.testing.wire`) after the response head.
        """
        if self._app is None:
            self._app = FakeASGIApp(self._engine)
        return self._app

    def client(
        self,
        *,
        api_token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
    ) -> IProgSMS:
        """An `IProgSMS` client wired to this fake in-process; close it when done.

        ``api_token`` defaults to the fake's own token (pass another to see a
        refusal).
        """
        return IProgSMS(
            self._token if api_token is None else api_token,
            base_url=IN_PROCESS_BASE_URL,
            transport=self.transport(),
            timeout=timeout,
            max_retries=max_retries,
        )

    def serve_in_thread(
        self, *, host: str = "127.0.0.1", port: int = 0
    ) -> AbstractContextManager[str]:
        """Serve over real HTTP with uvicorn in a background thread; yield the base URL.

        ``with fake.serve_in_thread() as base_url:`` gives
        ``http://127.0.0.1:PORT/api/v1`` (a free port unless ``port`` is
        given). Usable from sync code and from any event loop, asyncio or
        trio. Needs the ``fake`` extra (uvicorn).
        """
        return serve_in_thread(self.app, host=host, port=port, path=PREFIX)

    def serve(
        self, *, host: str = "127.0.0.1", port: int = 0
    ) -> AbstractAsyncContextManager[str]:
        """Serve over real HTTP with uvicorn in the running asyncio loop.

        ``async with fake.serve() as base_url:`` -- asyncio only; under trio
        use `serve_in_thread`. Needs the ``fake`` extra (uvicorn).
        """
        return serve_in_loop(self.app, host=host, port=port, path=PREFIX)

    def __repr__(self) -> str:
        with self._engine.lock:
            store = self._engine.store
            texts, balance = len(store.messages), store.credits
        return f"<FakeGateway texts={texts} credits={balance}>"


def exchange(
    gateway: FakeGateway,
    method: str,
    path: str,
    query: bytes = b"",
    body: bytes = b"",
    content_type: str | None = None,
) -> Exchange:
    """Low level: one request through ``gateway``, for a front-end of your own.

    ``path`` is the full path (``/api/v1/...``). Use the result as a context
    manager (entering it counts the request and decides its fault) and await
    its ``respond()``: a `Reply`, or a `Drop` when the connection must be
    dropped.
    """
    engine: Engine = gateway._engine  # noqa: SLF001 -- the wire's view of the fake
    return engine.exchange(method, path, query, body, content_type)
