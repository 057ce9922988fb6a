"""What the fake gateway shows of its state: frozen records of texts and reminders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["FinalStatus", "MessageSource", "RecordedMessage", "RecordedReminder"]

MessageSource = Literal["send", "send_bulk", "otp"]
"""Which endpoint accepted a text."""
FinalStatus = Literal["delivered", "failed"]
"""Where a text's status ends once its delivery delay has passed."""


@attrs.frozen
class RecordedMessage:
    """A text the fake gateway accepted, as it stood when the record was taken."""

    message_id: str
    """The id the gateway answered with, like ``"iSms-Ab3dE9"``."""
    phone_number: str
    """The recipient in the canonical form ``09XXXXXXXXX``."""
    message: str
    """The text as sent (for an OTP, with the code in place of ``:otp``)."""
    segments: int
    """SMS segments billed: one credit each."""
    encoding: Literal["GSM-7", "UCS-2"]
    sms_provider: int
    source: MessageSource
    accepted_at: datetime
    """When the gateway accepted it, in Asia/Manila."""
    status: str
    """``"pending"`` until the delivery delay passes, then `final_status`."""
    final_status: FinalStatus
    """Decided at acceptance: ``"failed"`` for the configured share of texts."""


@attrs.frozen
class RecordedReminder:
    """A reminder the fake gateway holds. Times are aware, in Asia/Manila."""

    id: int
    phone_number: str
    message: str
    scheduled_at: datetime
    status: str
    """``"scheduled"``: the fake never fires reminders (see `FakeGateway`)."""
    created_at: datetime
    updated_at: datetime
