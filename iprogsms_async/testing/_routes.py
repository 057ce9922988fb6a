"""The gateway's endpoints: their names, and which one a method and path reach.

An endpoint is named like ``"POST /sms_messages"``, with ``{id}`` standing for
a reminder's id. These names key `FakeGateway.requests` and select the
endpoints a `Faults` configuration applies to.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_CREDITS",
    "ENDPOINTS",
    "OTP_SEND",
    "OTP_VERIFY",
    "PHONE_DETECT",
    "PREFIX",
    "REMINDER_CREATE",
    "REMINDER_DELETE",
    "REMINDER_GET",
    "REMINDER_UPDATE",
    "SEND_ENDPOINTS",
    "SMS_SEND",
    "SMS_SEND_BULK",
    "SMS_STATUS",
    "route",
]

PREFIX = "/api/v1"
"""Where the API lives on the host, as on the real gateway."""

SMS_SEND = "POST /sms_messages"
SMS_SEND_BULK = "POST /sms_messages/send_bulk"
SMS_STATUS = "GET /sms_messages/status"
ACCOUNT_CREDITS = "GET /account/sms_credits"
REMINDER_CREATE = "POST /message-reminders"
REMINDER_GET = "GET /message-reminders/{id}"
REMINDER_UPDATE = "PATCH /message-reminders/{id}"
REMINDER_DELETE = "DELETE /message-reminders/{id}"
PHONE_DETECT = "POST /phone_numbers/detect"
OTP_SEND = "POST /otp/send_otp"
OTP_VERIFY = "POST /otp/verify_otp"

ENDPOINTS: tuple[str, ...] = (
    SMS_SEND,
    SMS_SEND_BULK,
    SMS_STATUS,
    ACCOUNT_CREDITS,
    REMINDER_CREATE,
    REMINDER_GET,
    REMINDER_UPDATE,
    REMINDER_DELETE,
    PHONE_DETECT,
    OTP_SEND,
    OTP_VERIFY,
)
"""Every endpoint the fake implements."""

SEND_ENDPOINTS: frozenset[str] = frozenset(
    {SMS_SEND, SMS_SEND_BULK, OTP_SEND, REMINDER_CREATE}
)
"""The endpoints the client treats as sends (``maybe_sent`` applies to them)."""

_STATIC: dict[tuple[str, str], str] = {
    (key.split(" ", 1)[0], key.split(" ", 1)[1]): key
    for key in ENDPOINTS
    if "{id}" not in key
}
_REMINDERS = "/message-reminders/"
_REMINDER_ITEM = {
    "GET": REMINDER_GET,
    "PATCH": REMINDER_UPDATE,
    "DELETE": REMINDER_DELETE,
}


def route(method: str, path: str) -> tuple[str | None, str | None]:
    """Return the endpoint ``method`` and ``path`` reach and its id, if any.

    ``path`` is the full path (with ``/api/v1``). An unknown path or a method
    the path does not take gives ``(None, None)``: the gateway answers those
    with an HTML "not found" page, as the real one is reported to.
    """
    if not path.startswith(PREFIX):
        return None, None
    rest = path[len(PREFIX) :]
    if len(rest) > 1 and rest.endswith("/"):
        rest = rest[:-1]
    key = _STATIC.get((method, rest))
    if key is not None:
        return key, None
    if rest.startswith(_REMINDERS):
        ident = rest[len(_REMINDERS) :]
        if ident and "/" not in ident:
            item = _REMINDER_ITEM.get(method)
            if item is not None:
                return item, ident
    return None, None
