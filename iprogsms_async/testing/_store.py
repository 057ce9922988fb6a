"""Everything the fake gateway remembers, and the rules that change it.

Not thread-safe by itself: the gateway holds its lock around every call.
"""

from __future__ import annotations

import functools
import hmac
import random
import string
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._schedule import MANILA
from .._segments import count_segments
from ._records import FinalStatus, MessageSource, RecordedMessage, RecordedReminder

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["CreditsShort", "OtpCheck", "Store", "manila_time"]

OtpCheck = Literal["ok", "invalid", "expired"]

_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 6
_segments = functools.lru_cache(maxsize=1024)(count_segments)


def manila_time(seconds: float) -> datetime:
    """Epoch seconds as an aware Manila datetime, to the millisecond (as sent)."""
    millis = round(seconds * 1000)
    when = datetime.fromtimestamp(millis // 1000, MANILA)
    return when.replace(microsecond=millis % 1000 * 1000)


class CreditsShort(Exception):
    """A send needs more credits than the account has; nothing was done."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"needs {needed} credits, {available} left")
        self.needed = needed
        self.available = available


class _Message:
    """A stored text; its status is computed from the clock when read."""

    __slots__ = (
        "accepted_at",
        "due",
        "encoding",
        "final_status",
        "message",
        "message_id",
        "phone_number",
        "segments",
        "sms_provider",
        "source",
    )

    def __init__(
        self,
        message_id: str,
        phone_number: str,
        message: str,
        segments: int,
        encoding: Literal["GSM-7", "UCS-2"],
        sms_provider: int,
        source: MessageSource,
        accepted_at: float,
        due: float,
        final_status: FinalStatus,
    ) -> None:
        self.message_id = message_id
        self.phone_number = phone_number
        self.message = message
        self.segments = segments
        self.encoding = encoding
        self.sms_provider = sms_provider
        self.source = source
        self.accepted_at = accepted_at
        self.due = due
        self.final_status = final_status

    def status(self, now: float) -> str:
        return self.final_status if now >= self.due else "pending"

    def record(self, now: float) -> RecordedMessage:
        return RecordedMessage(
            message_id=self.message_id,
            phone_number=self.phone_number,
            message=self.message,
            segments=self.segments,
            encoding=self.encoding,
            sms_provider=self.sms_provider,
            source=self.source,
            accepted_at=manila_time(self.accepted_at),
            status=self.status(now),
            final_status=self.final_status,
        )


@attrs.define
class _Otp:
    code: str
    expires_at: float


class Store:
    """Texts, credits, reminders and one-time passwords of one fake account."""

    def __init__(
        self,
        *,
        credits: int,  # noqa: A002 -- the account's credits, as the API says
        delivery_delay: float,
        failure_rate: float,
        seed: int | None,
        clock: Callable[[], float],
    ) -> None:
        self.credits = credits
        self.delivery_delay = delivery_delay
        self.failure_rate = failure_rate
        self.clock = clock
        root = random.Random(seed)  # noqa: S311 -- reproducible fakes, not secrets
        self._id_rng = random.Random(root.getrandbits(64))  # noqa: S311
        self._fate_rng = random.Random(root.getrandbits(64))  # noqa: S311
        self._otp_rng = random.Random(root.getrandbits(64))  # noqa: S311
        self.messages: list[_Message] = []
        self._by_id: dict[str, _Message] = {}
        self._by_number: dict[str, list[_Message]] = {}
        self.reminders: dict[int, RecordedReminder] = {}
        self._next_reminder = 1
        self._otps: dict[str, _Otp] = {}

    # --- texts ----------------------------------------------------------------

    def accept(
        self,
        numbers: Sequence[str],
        text: str,
        sms_provider: int,
        source: MessageSource,
    ) -> list[_Message]:
        """Store ``text`` for each of ``numbers`` and debit its segments, or nothing.

        Raises `CreditsShort` (storing and debiting nothing) when
        the credits do not cover every segment of every text.
        """
        count = _segments(text)
        needed = count.segments * len(numbers)
        if needed > self.credits:
            raise CreditsShort(needed, self.credits)
        self.credits -= needed
        now = self.clock()
        due = now + self.delivery_delay
        accepted = []
        for number in numbers:
            failed = self._fate_rng.random() < self.failure_rate
            message = _Message(
                self._new_id(),
                number,
                text,
                count.segments,
                count.encoding,
                sms_provider,
                source,
                now,
                due,
                "failed" if failed else "delivered",
            )
            self.messages.append(message)
            self._by_id[message.message_id] = message
            self._by_number.setdefault(number, []).append(message)
            accepted.append(message)
        return accepted

    def _new_id(self) -> str:
        choices = self._id_rng.choices
        while True:
            candidate = "iSms-" + "".join(choices(_ID_ALPHABET, k=_ID_LENGTH))
            if candidate not in self._by_id:
                return candidate

    def find(self, message_id: str) -> _Message | None:
        """The stored text with this id, if any."""
        return self._by_id.get(message_id)

    def texts_to(self, number: str) -> list[_Message]:
        """The stored texts to a canonical number, oldest first."""
        return list(self._by_number.get(number, ()))

    # --- reminders --------------------------------------------------------------

    def add_reminder(
        self, phone_number: str, message: str, scheduled_at: datetime
    ) -> RecordedReminder:
        """Store a new reminder with the next id."""
        now = manila_time(self.clock())
        reminder = RecordedReminder(
            id=self._next_reminder,
            phone_number=phone_number,
            message=message,
            scheduled_at=scheduled_at,
            status="scheduled",
            created_at=now,
            updated_at=now,
        )
        self._next_reminder += 1
        self.reminders[reminder.id] = reminder
        return reminder

    def update_reminder(
        self, reminder_id: int, changes: dict[str, Any]
    ) -> RecordedReminder | None:
        """Apply ``changes`` to a reminder; None when there is no such reminder.

        With no changes the reminder is returned untouched (``updated_at``
        too), as Rails does for an empty update.
        """
        reminder = self.reminders.get(reminder_id)
        if reminder is None:
            return None
        if changes:
            reminder = attrs.evolve(
                reminder, **changes, updated_at=manila_time(self.clock())
            )
            self.reminders[reminder_id] = reminder
        return reminder

    def delete_reminder(self, reminder_id: int) -> RecordedReminder | None:
        """Remove a reminder and return it; None when there is no such reminder."""
        return self.reminders.pop(reminder_id, None)

    # --- one-time passwords -----------------------------------------------------

    def new_otp_code(self) -> str:
        """A six-digit code from the seeded generator."""
        return f"{self._otp_rng.randrange(1_000_000):06d}"

    def keep_otp(self, number: str, code: str, minutes: int) -> float:
        """Make ``code`` the one valid code for ``number``; return when it expires."""
        expires_at = self.clock() + minutes * 60.0
        self._otps[number] = _Otp(code, expires_at)
        return expires_at

    def verify_otp(self, number: str, code: str) -> OtpCheck:
        """Check a code; a correct, unexpired one is used up, an expired one dropped."""
        otp = self._otps.get(number)
        if otp is None:
            return "invalid"
        if self.clock() >= otp.expires_at:
            del self._otps[number]
            return "expired"
        if not hmac.compare_digest(otp.code.encode(), code.encode()):
            return "invalid"
        del self._otps[number]
        return "ok"

    def active_otp(self, number: str) -> str | None:
        """The unexpired code waiting for ``number``, if any."""
        otp = self._otps.get(number)
        if otp is None or self.clock() >= otp.expires_at:
            return None
        return otp.code
