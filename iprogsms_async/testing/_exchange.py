"""One request's road through the fake: route, count, decide its fault, act, answer.

Both front-ends (the in-process httpx transport and the ASGI app) drive an
`Exchange` and translate its outcome, so the two behave the same. Shared state
is touched only under the engine's lock, in short synchronous steps: the
ASGI app may run in uvicorn's thread while the transport runs in the caller's
event loop.
"""

from __future__ import annotations

import hmac
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio

from ._faults import (
    AFTER_ACCEPT,
    BEFORE_ACCEPT,
    Decision,
    FaultKind,
    FaultPlan,
    fault_answer,
)
from ._operations import MALFORMED_BODY, NOT_FOUND_PAGE, UNAUTHORIZED, process
from ._routes import route
from ._wire import Drop, MalformedBodyError, Reply, read_fields

if TYPE_CHECKING:
    from types import TracebackType

    from ._store import Store

__all__ = ["Engine", "Exchange"]


class Engine:
    """The fake gateway's machinery: its lock, state, faults and counters."""

    __slots__ = (
        "_token",
        "in_flight",
        "lock",
        "max_in_flight",
        "plan",
        "requests",
        "store",
    )

    def __init__(self, *, token: str, store: Store, plan: FaultPlan) -> None:
        self._token = token.encode()
        self.lock = threading.Lock()
        self.store = store
        self.plan = plan
        self.requests: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    def authorized(self, token: object) -> bool:
        """Whether ``token`` is this account's token (compared in constant time)."""
        return isinstance(token, str) and hmac.compare_digest(
            token.encode(), self._token
        )

    def exchange(
        self,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        content_type: str | None,
    ) -> Exchange:
        """Prepare one request; use the result as a context manager around `respond`."""
        return Exchange(self, method, path, query, body, content_type)


class Exchange:
    """One request in flight. Entering it counts it and decides its fault.

    Usage, as both front-ends do:

        with engine.exchange(method, path, query, body, content_type) as exchange:
            answer = await exchange.respond()   # a Reply, or a Drop
    """

    __slots__ = (
        "_body",
        "_content_type",
        "_decision",
        "_endpoint",
        "_engine",
        "_ident",
        "_key",
        "_query",
    )

    def __init__(
        self,
        engine: Engine,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        content_type: str | None,
    ) -> None:
        self._engine = engine
        self._endpoint, self._ident = route(method, path)
        self._key = self._endpoint or f"{method} {path}"
        self._query = query
        self._body = body
        self._content_type = content_type
        self._decision: Decision | None = None

    def __enter__(self) -> Exchange:
        engine = self._engine
        with engine.lock:
            engine.requests[self._key] += 1
            engine.in_flight += 1
            engine.max_in_flight = max(engine.max_in_flight, engine.in_flight)
            if self._endpoint is not None:
                self._decision = engine.plan.decide(self._endpoint)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        engine = self._engine
        with engine.lock:
            engine.in_flight -= 1

    @property
    def waits(self) -> bool:
        """Whether `respond` will sleep (latency or a slow answer)."""
        return self._decision is not None and self._decision.waits

    @property
    def fault(self) -> FaultKind | None:
        """The fault this request meets, decided on entering; None for none."""
        return None if self._decision is None else self._decision.kind

    @property
    def latency(self) -> float:
        """Seconds `respond` waits before handling the request, decided on entering."""
        return 0.0 if self._decision is None else self._decision.latency

    async def respond(self) -> Reply | Drop:
        """Sleep as the faults say, act on the request, and return the outcome."""
        decision = self._decision
        if decision is None:
            return self._act()
        if decision.latency > 0:
            await anyio.sleep(decision.latency)
        kind = decision.kind
        if kind is None:
            return self._act()
        if kind in BEFORE_ACCEPT:
            return fault_answer(kind, decision.faults, processed=False)
        reply = self._act()
        if kind == "slow":
            await anyio.sleep(decision.faults.slow_seconds)
            return reply
        assert kind in AFTER_ACCEPT  # noqa: S101 -- the kinds are exhaustive
        return fault_answer(kind, decision.faults, processed=True)

    def _act(self) -> Reply:
        endpoint = self._endpoint
        if endpoint is None:
            return NOT_FOUND_PAGE
        try:
            fields: dict[str, Any] = read_fields(
                self._query, self._body, self._content_type
            )
        except MalformedBodyError:
            return MALFORMED_BODY
        engine = self._engine
        if not engine.authorized(fields.get("api_token")):
            return UNAUTHORIZED
        with engine.lock:
            return process(engine.store, endpoint, fields, self._ident)
