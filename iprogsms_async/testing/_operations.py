"""What each endpoint does: read its fields, apply the rules, answer as documented.

Success bodies copy the vendor's documentation word for word. Error bodies use
the one documented error shape, ``{"status": "error", "message": ..., "data":
...}``; their wording and HTTP codes are *inferred* (the vendor documents
neither), and chosen so the client's classification is exercised: 401 for the
token, 422 for a missing or malformed field, 404 for an unknown id, 400 for a
wrong or expired OTP, 402 for missing credits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import InvalidPhoneNumber, ValidationError
from .._phone import normalize_phone_number
from .._schedule import parse_scheduled_at
from .._validation import OTP_PLACEHOLDER
from . import _routes as routes
from ._networks import INVALID_FORMAT, SMART_TNT, network_of
from ._store import CreditsShort, Store, manila_time
from ._wire import Reply, error_reply, html_reply, json_reply, timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

    from ._records import MessageSource, RecordedReminder

__all__ = [
    "BULK_QUEUED",
    "DEFAULT_OTP_EXPIRY_MINUTES",
    "DEFAULT_OTP_MESSAGE",
    "INVALID_NUMBER",
    "MALFORMED_BODY",
    "NOT_FOUND_PAGE",
    "SEND_QUEUED",
    "UNAUTHORIZED",
    "process",
]

SEND_QUEUED = (
    "Your SMS message has been successfully added to the queue and will be "
    "processed shortly."
)
"""The documented answer to a send."""
BULK_QUEUED = (
    "Your SMS messages have been successfully added to the queue and will be "
    "processed shortly."
)
INVALID_NUMBER = (
    "Invalid phone number format. Philippine mobile numbers must be in format: "
    "09XXXXXXXXX or +639XXXXXXXXX (11 digits total)"
)
"""The vendor's message for a malformed number (from its detect documentation)."""
DEFAULT_OTP_MESSAGE = (
    "Your one-time password is :otp. It expires in {minutes} minutes. "
    "Do not share it with anyone."
)
"""The fake's text for an OTP without a custom message (the real one is unknown)."""
DEFAULT_OTP_EXPIRY_MINUTES = 5

UNAUTHORIZED = error_reply(401, "Invalid API token.")
"""A missing or wrong token. *Inferred*: no public source shows this answer."""
MALFORMED_BODY = error_reply(400, "The request body could not be parsed.")
NOT_FOUND_PAGE = html_reply(
    404,
    "The page you were looking for doesn't exist (404)",
    "You may have mistyped the address or the page may have moved.",
)
"""A wrong path: an HTML page, as the real gateway is reported to answer."""

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_REMINDER_KEYS = (
    "id",
    "phone_number",
    "message",
    "scheduled_at",
    "status",
    "created_at",
    "updated_at",
)


class _Refusal(Exception):
    """Stops a handler with an error answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _refuse(status: int, message: str, data: object = None) -> _Refusal:
    return _Refusal(error_reply(status, message, data))


# --- fields ------------------------------------------------------------------


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text(fields: Mapping[str, Any], name: str, label: str) -> str:
    value = fields.get(name)
    if not _present(value):
        raise _refuse(422, f"{label} is required.")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _refuse(422, f"{label} must be text.")
    return value


def _number(fields: Mapping[str, Any], data: Callable[[object], object]) -> str:
    value = fields.get("phone_number")
    if not _present(value):
        raise _refuse(422, "Phone number is required.", data(value))
    try:
        return normalize_phone_number(value if isinstance(value, str) else str(value))
    except InvalidPhoneNumber:
        raise _refuse(422, INVALID_NUMBER, data(value)) from None


def _echo(value: object) -> object:
    return {"phone_number": value}


def _small_int(fields: Mapping[str, Any], name: str) -> int | None:
    """An integer field from JSON or a query string; None when absent or blank."""
    value = fields.get(name)
    if not _present(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return -1


def _provider(fields: Mapping[str, Any]) -> int:
    provider = _small_int(fields, "sms_provider")
    if provider is None:
        return 0
    if provider not in (0, 1, 2):
        raise _refuse(
            422,
            "Invalid SMS provider. Allowed values are 0, 1 and 2.",
            {"sms_provider": fields.get("sms_provider")},
        )
    return provider


def _schedule(fields: Mapping[str, Any]) -> datetime:
    value = fields.get("scheduled_at")
    if not _present(value):
        raise _refuse(422, "Scheduled at is required.")
    try:
        if not isinstance(value, str):
            raise ValidationError("not text", field="scheduled_at")  # noqa: TRY301
        return parse_scheduled_at(value)
    except ValidationError:
        raise _refuse(
            422,
            "Invalid scheduled_at format. Use YYYY-MM-DD HH:MMAM/PM, for example "
            "2025-03-08 05:00AM.",
            {"scheduled_at": value},
        ) from None


def _accept(
    store: Store,
    numbers: list[str],
    text: str,
    provider: int,
    source: MessageSource,
) -> list[str]:
    try:
        return [m.message_id for m in store.accept(numbers, text, provider, source)]
    except CreditsShort as short:
        raise _refuse(
            402,
            f"Insufficient credits. This request needs {short.needed} credits and "
            f"your account has {short.available}. Please top up your load balance.",
            {"required": short.needed, "load_balance": short.available},
        ) from None


def _success(message: str, data: object) -> Reply:
    return json_reply(200, {"status": "success", "message": message, "data": data})


def _reminder_json(
    reminder: RecordedReminder, first: Iterable[str] = ()
) -> dict[str, Any]:
    """The documented reminder object; changed fields first, as the gateway does."""
    values: dict[str, Any] = {
        "id": reminder.id,
        "phone_number": reminder.phone_number,
        "message": reminder.message,
        "scheduled_at": timestamp(reminder.scheduled_at),
        "status": reminder.status,
        "created_at": timestamp(reminder.created_at),
        "updated_at": timestamp(reminder.updated_at),
    }
    order = [*first, *(key for key in _REMINDER_KEYS if key not in first)]
    return {key: values[key] for key in order}


def _reminder_id(store: Store, ident: str | None) -> int:
    if ident is not None and ident.isascii() and ident.isdigit():
        reminder_id = int(ident)
        if reminder_id in store.reminders:
            return reminder_id
    raise _refuse(404, "Message reminder not found.")


def _spoken(when: datetime) -> str:
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    return (
        f"{_MONTHS[when.month - 1]} {when.day:02d}, {when.year}, at "
        f"{hour:02d}:{when.minute:02d} {half}"
    )


# --- endpoints ---------------------------------------------------------------


def _sms_send(store: Store, fields: Mapping[str, Any], _: str | None) -> Reply:
    number = _number(fields, _echo)
    text = _text(fields, "message", "Message")
    provider = _provider(fields)
    [message_id] = _accept(store, [number], text, provider, "send")
    return json_reply(
        200, {"status": 200, "message": SEND_QUEUED, "message_id": message_id}
    )


def _sms_send_bulk(store: Store, fields: Mapping[str, Any], _: str | None) -> Reply:
    raw = fields.get("phone_number")
    if not _present(raw):
        raise _refuse(422, "Phone number is required.")
    if not isinstance(raw, str):
        raise _refuse(422, "Phone number must be comma-separated text.", _echo(raw))
    numbers: list[str] = []
    invalid: list[str] = []
    for part in raw.split(","):
        part = part.strip()  # noqa: PLW2901
        if not part:
            continue
        try:
            numbers.append(normalize_phone_number(part))
        except InvalidPhoneNumber:
            invalid.append(part)
    if invalid:
        raise _refuse(
            422,
            f"Invalid phone number format: {', '.join(invalid)}. {INVALID_NUMBER}",
            {"invalid_phone_numbers": invalid},
        )
    if not numbers:
        raise _refuse(422, "Phone number is required.")
    text = _text(fields, "message", "Message")
    provider = _provider(fields)
    ids = _accept(store, numbers, text, provider, "send_bulk")
    return json_reply(
        200, {"status": 200, "message": BULK_QUEUED, "message_ids": ",".join(ids)}
    )


def _sms_status(store: Store, fields: Mapping[str, Any], _: str | None) -> Reply:
    message_id = _text(fields, "message_id", "Message ID").strip()
    message = store.find(message_id)
    if message is None:
        raise _refuse(404, "SMS message not found.", {"message_id": message_id})
    return json_reply(
        200, {"status": 200, "message_status": message.status(store.clock())}
    )


def _credits(store: Store, _fields: Mapping[str, Any], _: str | None) -> Reply:
    return _success("Account found.", {"load_balance": store.credits})


def _reminder_create(store: Store, fields: Mapping[str, Any], _: str | None) -> Reply:
    number = _number(fields, _echo)
    text = _text(fields, "message", "Message")
    when = _schedule(fields)
    reminder = store.add_reminder(number, text, when)
    return _success(
        f"Message reminder successfully scheduled on {_spoken(when)} and will be "
        f"sent to {number}.",
        _reminder_json(reminder),
    )


def _reminder_get(store: Store, _fields: Mapping[str, Any], ident: str | None) -> Reply:
    reminder = store.reminders[_reminder_id(store, ident)]
    return _success("Message reminder found.", _reminder_json(reminder))


def _reminder_update(
    store: Store, fields: Mapping[str, Any], ident: str | None
) -> Reply:
    reminder_id = _reminder_id(store, ident)
    changes: dict[str, Any] = {}
    if "phone_number" in fields:
        changes["phone_number"] = _number(fields, _echo)
    if "message" in fields:
        changes["message"] = _text(fields, "message", "Message")
    if "scheduled_at" in fields:
        changes["scheduled_at"] = _schedule(fields)
    reminder = store.update_reminder(reminder_id, changes)
    if reminder is None:  # pragma: no cover - checked above, under the same lock
        raise _refuse(404, "Message reminder not found.")
    return _success(
        "Message reminder updated successfully", _reminder_json(reminder, changes)
    )


def _reminder_delete(
    store: Store, _fields: Mapping[str, Any], ident: str | None
) -> Reply:
    reminder = store.delete_reminder(_reminder_id(store, ident))
    if reminder is None:  # pragma: no cover - checked above, under the same lock
        raise _refuse(404, "Message reminder not found.")
    return _success("Message reminder successfully deleted.", _reminder_json(reminder))


def _detect_data(value: object) -> object:
    return {"phone_number": value, "is_smart_tnt": False, "network": INVALID_FORMAT}


def _phone_detect(store: Store, fields: Mapping[str, Any], _: str | None) -> Reply:
    del store
    number = _number(fields, _detect_data)
    network = network_of(number)
    data = {
        "phone_number": number,
        "is_smart_tnt": network == SMART_TNT,
        "network": network,
    }
    return json_reply(200, {"status": "success", "data": data})


def _otp_send(store: Store, fields: Mapping[str, Any], _: str | None) -> Reply:
    number = _number(fields, _echo)
    minutes = _small_int(fields, "expires_in_minutes")
    if minutes is None:
        minutes = DEFAULT_OTP_EXPIRY_MINUTES
    elif minutes < 1:
        raise _refuse(
            422,
            "Expires in minutes must be a positive whole number.",
            {"expires_in_minutes": fields.get("expires_in_minutes")},
        )
    template = DEFAULT_OTP_MESSAGE.format(minutes=minutes)
    if _present(fields.get("message")):
        template = _text(fields, "message", "Message")
        if OTP_PLACEHOLDER not in template:
            raise _refuse(422, f"Message must contain {OTP_PLACEHOLDER} for the code.")
    provider = _provider(fields)
    code = store.new_otp_code()
    _accept(store, [number], template.replace(OTP_PLACEHOLDER, code), provider, "otp")
    expires_at = store.keep_otp(number, code, minutes)
    return _success(
        "OTP sent successfully.",
        {
            "phone_number": number,
            "otp_code": code,
            "otp_code_expires_at": timestamp(manila_time(expires_at)),
        },
    )


def _otp_verify(store: Store, fields: Mapping[str, Any], _: str | None) -> Reply:
    number = _number(fields, _echo)
    code = _text(fields, "otp", "OTP").strip()
    outcome = store.verify_otp(number, code)
    if outcome == "expired":
        raise _refuse(400, "OTP code has expired. Please request a new one.")
    if outcome == "invalid":
        raise _refuse(400, "Invalid OTP code.")
    return json_reply(
        200, {"status": "success", "message": "OTP verified successfully."}
    )


_HANDLERS: dict[str, Callable[[Store, Mapping[str, Any], str | None], Reply]] = {
    routes.SMS_SEND: _sms_send,
    routes.SMS_SEND_BULK: _sms_send_bulk,
    routes.SMS_STATUS: _sms_status,
    routes.ACCOUNT_CREDITS: _credits,
    routes.REMINDER_CREATE: _reminder_create,
    routes.REMINDER_GET: _reminder_get,
    routes.REMINDER_UPDATE: _reminder_update,
    routes.REMINDER_DELETE: _reminder_delete,
    routes.PHONE_DETECT: _phone_detect,
    routes.OTP_SEND: _otp_send,
    routes.OTP_VERIFY: _otp_verify,
}


def process(
    store: Store, endpoint: str, fields: Mapping[str, Any], ident: str | None
) -> Reply:
    """Answer one authorised request to ``endpoint`` (a name from `ENDPOINTS`)."""
    try:
        return _HANDLERS[endpoint](store, fields, ident)
    except _Refusal as refusal:
        return refusal.reply
