"""What a broadcast tells you: one result per recipient, counts, progress, estimates."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Final, Literal, NewType

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from .._errors import IProgSMSError

__all__ = [
    "ACCEPTED",
    "DEFAULT_NON_FINAL_STATUSES",
    "DRY_RUN",
    "DUPLICATE",
    "ERROR",
    "INVALID",
    "NOT_SENT",
    "REJECTED",
    "UNKNOWN",
    "BroadcastEstimate",
    "BroadcastProgress",
    "BroadcastReport",
    "BroadcastResult",
    "BroadcastStatus",
    "DeliveryStatus",
    "GatewayStatus",
    "ResultStatus",
    "gateway_status",
]

BroadcastStatus = Literal[
    "invalid",
    "duplicate",
    "rejected",
    "error",
    "not_sent",
    "unknown",
    "accepted",
    "dry_run",
]
"""The statuses the broadcast itself gives (the constants below)."""
DeliveryStatus = Literal["pending", "sent", "delivered", "failed"]
"""Delivery statuses the gateway is known to give (only ``pending`` is
documented; the others are what the fake gives and clients report)."""
GatewayStatus = NewType("GatewayStatus", str)
"""Any other delivery status the gateway gives, kept exactly as it came.

To select one with `BroadcastReport.with_status`, name it as such:
``report.with_status(GatewayStatus("Held-By-Carrier"))``.
"""
ResultStatus = BroadcastStatus | DeliveryStatus | GatewayStatus
"""What `BroadcastResult.status` holds: a typo in a literal is a type error."""

INVALID: Final = "invalid"
"""The number or message was refused before any request: nothing was sent."""
DUPLICATE: Final = "duplicate"
"""The same number and text came earlier in the input: sent once, there."""
REJECTED: Final = "rejected"
"""The gateway refused the text (a 4xx or an error answer, other than for
credits: see `NOT_SENT`): not sent."""
ERROR: Final = "error"
"""The send failed before reaching the gateway: not sent, safe to try again."""
NOT_SENT: Final = "not_sent"
"""Not sent because the account ran out of credits: the gateway refused it
(`InsufficientCreditsError`), or the broadcast had stopped sending when its
turn came. Safe to send after a top-up: a rerun with the journal sends it."""
UNKNOWN: Final = "unknown"
"""The send may have reached the gateway but its answer was lost: the text may
have gone out. Never re-sent automatically."""
ACCEPTED: Final = "accepted"
"""Queued by the gateway, with no delivery status read (``poll=False``, or
polling never got an answer)."""
DRY_RUN: Final = "dry_run"
"""Valid and would be sent (``dry_run=True`` sends nothing)."""


def gateway_status(value: str | None) -> ResultStatus:
    """The result status for a delivery status as the gateway (or a journal) gave it.

    Kept exactly as it came; with none read, the text is `ACCEPTED`.
    """
    return GatewayStatus(value) if value else ACCEPTED


DEFAULT_NON_FINAL_STATUSES = frozenset(
    {"pending", "queued", "processing", "sending", "scheduled"}
)
"""Delivery statuses that are polled again (compared case-insensitively)."""


@attrs.frozen
class BroadcastResult:
    """The outcome for one input recipient.

    ``phone_number`` is the canonical ``09XXXXXXXXX`` form when the number was
    valid, else the input as given. ``message_id`` is set once the gateway
    accepted the text. ``error`` is the last error met, if any: for
    ``unknown`` it is the error with ``maybe_sent=True``.
    """

    index: int
    """Position in the input, from 0."""
    phone_number: str
    message: str | None
    status: ResultStatus
    """One of ours (`BroadcastStatus`) or the gateway's delivery status."""
    message_id: str | None = None
    error: IProgSMSError | None = attrs.field(default=None, eq=False)

    @property
    def sent(self) -> bool:
        """Whether the gateway accepted the text (delivery aside)."""
        return self.message_id is not None


@attrs.frozen
class BroadcastEstimate:
    """What a broadcast would send: checked before sending anything."""

    recipients: int
    """Input items read."""
    valid: int
    """Recipients that would be sent a text (valid, not duplicates)."""
    invalid: int
    duplicates: int
    segments: int
    """SMS segments the valid recipients' texts take together."""
    already_sent: int = 0
    """Recipients a journal shows as sent before: not counted in ``segments``."""

    @property
    def credits_needed(self) -> int:
        """Credits the broadcast would use, at one credit a segment."""
        return self.segments


@attrs.frozen
class BroadcastProgress:
    """A snapshot of a running broadcast, as given to ``on_progress``."""

    counts: Mapping[str, int]
    """Recipients settled so far, by status."""
    read: int
    """Input items read so far."""
    accepted: int
    """Texts the gateway has accepted so far (some may still be polled),
    counting those a journal shows it accepted in an earlier run."""
    in_flight: int
    """Requests on the wire right now."""
    requests: int
    """Requests started so far (sends and polls)."""
    elapsed: float
    """Seconds since the broadcast started."""
    done: bool = False
    """True for the last snapshot, sent once when the broadcast ends."""

    @property
    def settled(self) -> int:
        """Recipients with a final result."""
        return sum(self.counts.values())


@attrs.frozen
class BroadcastReport:
    """Every recipient's result, in input order, and the counts by status."""

    results: list[BroadcastResult]
    estimate: BroadcastEstimate | None = None
    """Set for a dry run, and when ``check_credits`` asked for one."""

    @property
    def counts(self) -> Counter[str]:
        """Recipients by status, e.g. ``{"delivered": 9800, "unknown": 3}``."""
        return Counter(result.status for result in self.results)

    def with_status(self, *statuses: ResultStatus) -> Iterator[BroadcastResult]:
        """The results having any of ``statuses``, in input order.

        ``statuses`` are typed, so that ``with_status("unkown")`` fails a type
        check; a status of the gateway's beyond `DeliveryStatus` is named
        with `GatewayStatus`.
        """
        wanted = frozenset(statuses)
        return (result for result in self.results if result.status in wanted)

    def __len__(self) -> int:
        return len(self.results)
