"""Faults on demand: what can go wrong between a client and the gateway.

`Faults` is the configuration: a rate (0 to 1) for each kind of fault, their
parameters, latency, and the endpoints they apply to. `FaultPlan` turns it,
plus faults queued with ``fail_next``, into one decision per request,
deterministically for a given seed and order of requests.

The kinds, and what the fake does for each (the gateway "accepts" a request
when it acts on it: stores a text, deletes a reminder, consumes an OTP):

``server_error_before_accept``
    a 5xx answer; nothing was done.
``server_error_after_accept``
    a 5xx answer after the request was acted on: the ambiguous case, where a
    text went out although the client saw an error.
``drop_before_accept`` / ``drop_after_accept``
    the connection closes without a complete answer, before or after acting.
``rate_limit``
    429 with ``Retry-After``; nothing was done.
``slow``
    the request is acted on, and the answer comes ``slow_seconds`` late, long
    enough for a client timeout.
``html``
    an HTML page instead of JSON (as from a proxy or maintenance page);
    nothing was done.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Literal, TypedDict, get_args

import attrs

from .._errors import ConfigurationError
from .._validation import (
    POSITIVE_INT,
    SECONDS,
    SHARE,
    Check,
    instance_of,
    optional,
    shown,
    whole_number,
)
from ._routes import ENDPOINTS, SEND_ENDPOINTS
from ._wire import Drop, Reply, error_reply, html_reply

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "AFTER_ACCEPT",
    "BEFORE_ACCEPT",
    "FAULT_KINDS",
    "Decision",
    "FaultChanges",
    "FaultKind",
    "FaultPlan",
    "Faults",
    "fault_answer",
    "resolve_endpoints",
]

FaultKind = Literal[
    "server_error_before_accept",
    "server_error_after_accept",
    "drop_before_accept",
    "drop_after_accept",
    "rate_limit",
    "slow",
    "html",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
"""Every kind of fault, in the order rates are drawn."""

BEFORE_ACCEPT: frozenset[FaultKind] = frozenset(
    {"server_error_before_accept", "drop_before_accept", "rate_limit", "html"}
)
"""Faults that answer instead of the gateway acting on the request."""
AFTER_ACCEPT: frozenset[FaultKind] = frozenset(
    {"server_error_after_accept", "drop_after_accept", "slow"}
)
"""Faults that come after the gateway acted on the request."""

_GROUPS: dict[str, frozenset[str]] = {
    "all": frozenset(ENDPOINTS),
    "sends": SEND_ENDPOINTS,
}


def resolve_endpoints(value: str | Iterable[str]) -> frozenset[str]:
    """Turn ``"all"``, ``"sends"``, an endpoint name, or names into a set of names.

    Endpoint names are those of `ENDPOINTS` (``"POST /sms_messages"``); a name
    the fake does not know raises `ConfigurationError` (a `ValueError`), so a
    typo cannot silently select nothing.
    """
    names = [value] if isinstance(value, str) else list(value)
    selected: set[str] = set()
    for name in names:
        group = _GROUPS.get(name)
        if group is not None:
            selected |= group
        elif name in ENDPOINTS:
            selected.add(name)
        else:
            raise ConfigurationError(
                f"unknown endpoint {name!r}: use 'all', 'sends' or names like "
                f"{ENDPOINTS[0]!r}",
                field="endpoints",
            )
    return frozenset(selected)


def _explain_latency(value: object) -> str | None:
    if not isinstance(value, tuple):
        return SECONDS.problem(value)
    if (
        len(value) == 2
        and all(SECONDS.accepts(bound) for bound in value)
        and value[0] <= value[1]
    ):
        return None
    return (
        f"range must be (low, high) seconds with 0 <= low <= high, not {shown(value)}"
    )


_LATENCY: Check[float | tuple[float, float]] = Check(
    "a number of seconds >= 0, or a (low, high) range of them",
    explain=_explain_latency,
    convert=lambda value: value,
)
_KIND: Check[FaultKind] = Check(
    "a fault kind",
    explain=lambda value: (
        None
        if isinstance(value, str) and value in FAULT_KINDS
        else f"is an unknown fault {shown(value)}; use one of {', '.join(FAULT_KINDS)}"
    ),
    convert=lambda value: value,
)


def _rate_field() -> float:
    return attrs.field(default=0.0, validator=SHARE)


@attrs.frozen(kw_only=True)
class Faults:
    """What goes wrong, how often, and where. The default is nothing at all.

    Each rate is the share (0 to 1) of requests to the selected endpoints that
    meet that fault; at most one fault strikes a request, so the rates may add
    up to 1 at most. Latency applies to every selected request, faulty or not.

    For example:

        FakeGateway(faults=Faults(server_error_after_accept=0.1, endpoints="sends"))
    """

    server_error_before_accept: float = _rate_field()
    """Share of requests answered 5xx without being acted on."""
    server_error_after_accept: float = _rate_field()
    """Share answered 5xx after being acted on (a text may have gone out)."""
    drop_before_accept: float = _rate_field()
    """Share whose connection is dropped before the gateway acts."""
    drop_after_accept: float = _rate_field()
    """Share whose connection is dropped after the gateway acted."""
    rate_limit: float = _rate_field()
    """Share refused with 429 and ``Retry-After``."""
    slow: float = _rate_field()
    """Share acted on and answered ``slow_seconds`` late."""
    html: float = _rate_field()
    """Share answered with an HTML page instead of JSON (not acted on)."""

    latency: float | tuple[float, float] = attrs.field(default=0.0, validator=_LATENCY)
    """Seconds added before every selected request is handled: fixed, or a
    ``(low, high)`` range drawn uniformly (from the seeded generator)."""
    slow_seconds: float = attrs.field(default=1.0, validator=SECONDS)
    """How late a ``slow`` answer comes."""
    retry_after: float | None = attrs.field(default=1.0, validator=optional(SECONDS))
    """The ``Retry-After`` of a 429, in seconds (a fraction is sent as such,
    which real servers do not do but keeps tests fast); None sends none."""
    server_error_status: int = attrs.field(
        default=500, validator=whole_number(500, 599)
    )
    """The status of the 5xx faults."""
    html_status: int = attrs.field(default=200, validator=whole_number(200, 599))
    """The status of the HTML page. 200 is the case a client must notice by
    itself (a 2xx that is not JSON); 502 or 503 mimic a proxy's error page."""
    endpoints: frozenset[str] = attrs.field(
        default=_GROUPS["all"], converter=resolve_endpoints
    )
    """Where these faults apply: ``"all"``, ``"sends"`` (the endpoints that text
    someone: send, send_bulk, send_otp, reminder creation), one endpoint name
    like ``"GET /sms_messages/status"``, or several."""

    def __attrs_post_init__(self) -> None:
        total = sum(getattr(self, kind) for kind in FAULT_KINDS)
        if total > 1.0 + 1e-9:
            raise ConfigurationError(
                f"the fault rates add up to {total:g}; at most one fault strikes "
                "a request, so they may add up to 1 at most"
            )


_FAULTS = instance_of(Faults)


class FaultChanges(TypedDict, total=False):
    """Any of `Faults`' fields, by name: ``FakeGateway.update_faults``' arguments.

    Typed, so that a misspelt name (``rate_limt=``) fails a type check.
    """

    server_error_before_accept: float
    server_error_after_accept: float
    drop_before_accept: float
    drop_after_accept: float
    rate_limit: float
    slow: float
    html: float
    latency: float | tuple[float, float]
    slow_seconds: float
    retry_after: float | None
    server_error_status: int
    html_status: int
    endpoints: str | Iterable[str]


@attrs.frozen
class Decision:
    """What happens to one request: its fault (or None) and its latency."""

    kind: FaultKind | None
    latency: float
    faults: Faults
    """The configuration in force when decided, for the fault's parameters."""

    @property
    def waits(self) -> bool:
        """Whether handling the request sleeps (latency or a slow answer)."""
        return self.latency > 0 or self.kind == "slow"


@attrs.define
class _Pending:
    kind: FaultKind
    remaining: int
    endpoints: frozenset[str]


class FaultPlan:
    """Decides each request's fault: queued ones first, then by the rates.

    Not thread-safe by itself: the gateway calls it under its lock. Rates and
    latency ranges each draw from their own generator, seeded from ``seed``,
    so the same configuration and order of requests meet the same faults.
    """

    __slots__ = ("_clean", "_faults", "_latency_rng", "_pending", "_rates", "_rng")

    _faults: Faults

    def __init__(self, faults: Faults, seed: int | None) -> None:
        root = random.Random(seed)  # noqa: S311 -- reproducible test faults
        self._rng = random.Random(root.getrandbits(64))  # noqa: S311
        self._latency_rng = random.Random(root.getrandbits(64))  # noqa: S311
        self._pending: list[_Pending] = []
        self.faults = faults

    def _set(self, faults: Faults) -> None:
        self._faults = faults
        self._rates = tuple(
            (kind, rate) for kind in FAULT_KINDS if (rate := getattr(faults, kind))
        )
        self._clean = Decision(None, 0.0, faults)

    @property
    def faults(self) -> Faults:
        """The configuration in force."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._set(_FAULTS.setting(faults, "faults"))

    def fail_next(self, kind: FaultKind, n: int, endpoints: frozenset[str]) -> None:
        """Queue ``kind`` for the next ``n`` requests to ``endpoints``."""
        self._pending.append(
            _Pending(
                _KIND.setting(kind, "kind"), POSITIVE_INT.setting(n, "n"), endpoints
            )
        )

    def clear(self) -> None:
        """Forget queued faults and go back to no faults at all."""
        self._pending.clear()
        self._set(Faults())

    @property
    def queued(self) -> int:
        """How many queued faults are still to strike."""
        return sum(pending.remaining for pending in self._pending)

    def decide(self, endpoint: str) -> Decision:
        """The fault (or none) and latency for one request to ``endpoint``."""
        faults = self._faults
        kind: FaultKind | None = None
        for index, pending in enumerate(self._pending):
            if endpoint in pending.endpoints:
                kind = pending.kind
                pending.remaining -= 1
                if not pending.remaining:
                    del self._pending[index]
                break
        if endpoint not in faults.endpoints:
            return self._clean if kind is None else Decision(kind, 0.0, faults)
        if kind is None and self._rates:
            draw = self._rng.random()
            for candidate, rate in self._rates:
                if draw < rate:
                    kind = candidate
                    break
                draw -= rate
        latency = faults.latency
        if isinstance(latency, tuple):
            latency = self._latency_rng.uniform(*latency)
        if kind is None and not latency:
            return self._clean
        return Decision(kind, latency, faults)


def fault_answer(kind: FaultKind, faults: Faults, *, processed: bool) -> Reply | Drop:
    """The answer a fault gives in place of the gateway's (not for ``slow``)."""
    if kind in ("drop_before_accept", "drop_after_accept"):
        return Drop(processed=processed)
    if kind == "rate_limit":
        headers: tuple[tuple[str, str], ...] = ()
        if faults.retry_after is not None:
            headers = (("Retry-After", f"{faults.retry_after:g}"),)
        return error_reply(
            429,
            "Too many requests. Please slow down and try again later.",
            None,
            headers,
        )
    if kind == "html":
        return html_reply(
            faults.html_status,
            "We're sorry, but something went wrong",
            "The service is temporarily unavailable. Please try again later.",
        )
    return error_reply(
        faults.server_error_status,
        "Internal server error. Please try again later.",
    )
