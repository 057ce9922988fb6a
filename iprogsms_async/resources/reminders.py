"""``client.reminders``: messages scheduled for later."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._models import Reminder, structure
from .._phone import normalize_phone_number
from .._request import Call
from .._schedule import format_scheduled_at
from .._validation import MESSAGE, POSITIVE_INT
from ._base import Resource, data_of

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

__all__ = ["Reminders"]


def _reminder(answer: Mapping[str, Any]) -> Reminder:
    return structure(data_of(answer), Reminder, raw=answer)


class Reminders(Resource):
    """Create, read, change and cancel scheduled messages.

    ``scheduled_at`` takes a `datetime` (an aware one is converted to Manila
    time, a naive one is taken as Manila time) or a string already in the
    API's form ``"2025-03-08 05:00AM"``. Seconds are dropped.
    """

    __slots__ = ()

    async def create(
        self,
        *,
        phone_number: str,
        message: str,
        scheduled_at: datetime | str,
    ) -> Reminder:
        """Schedule ``message`` to be texted to ``phone_number`` at ``scheduled_at``.

        Counts as a send: never retried once it may have reached the gateway.
        """
        body = {
            "phone_number": normalize_phone_number(phone_number),
            "message": MESSAGE.argument(message, "message"),
            "scheduled_at": format_scheduled_at(scheduled_at),
        }
        call = Call("POST", "/message-reminders", json=body, sends_sms=True)
        return await self._requester.request(call, _reminder)

    async def get(self, reminder_id: int) -> Reminder:
        """Read one reminder."""
        path = _path(reminder_id)
        return await self._requester.request(Call("GET", path), _reminder)

    async def update(
        self,
        reminder_id: int,
        *,
        phone_number: str | None = None,
        message: str | None = None,
        scheduled_at: datetime | str | None = None,
    ) -> Reminder:
        """Change the given fields of a reminder; the others stay as they are."""
        path = _path(reminder_id)
        body: dict[str, str] = {}
        if phone_number is not None:
            body["phone_number"] = normalize_phone_number(phone_number)
        if message is not None:
            body["message"] = MESSAGE.argument(message, "message")
        if scheduled_at is not None:
            body["scheduled_at"] = format_scheduled_at(scheduled_at)
        if not body:
            raise ValidationError(
                "nothing to update: pass phone_number, message or scheduled_at",
                field="reminder",
            )
        return await self._requester.request(Call("PATCH", path, json=body), _reminder)

    async def delete(self, reminder_id: int) -> Reminder:
        """Cancel a reminder; returns the record as it was.

        Retried like a read: if a first attempt deleted it but its answer was
        lost, the retry raises `NotFoundError`.
        """
        path = _path(reminder_id)
        return await self._requester.request(Call("DELETE", path), _reminder)


def _path(reminder_id: object) -> str:
    return f"/message-reminders/{POSITIVE_INT.argument(reminder_id, 'reminder_id')}"
