"""The typed results of API calls, and the one converter that builds them.

Models are frozen attrs classes with slots. The converter is lenient where the
gateway is loosely specified (extra fields are ignored, numbers may come as
strings) and strict where a wrong type would mislead (``"false"`` is not True).
Every model keeps the decoded JSON body it came from in ``raw``, redacted of
the API token like everything kept of an answer (see _response).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._redact import shorten
from ._schedule import parse_timestamp
from ._validation import lone_surrogate_at

__all__ = [
    "Credits",
    "MessageStatus",
    "NetworkInfo",
    "Reminder",
    "SentMessage",
    "SentOtp",
    "message_status",
    "sent_message",
    "structure",
]

T = TypeVar("T")


def _raw() -> Any:
    """The ``raw`` field every model has: the body, out of repr and equality."""
    return attrs.field(kw_only=True, factory=dict, repr=False, eq=False)


@attrs.frozen
class SentMessage:
    """A text the gateway accepted into its queue (not yet delivered)."""

    message_id: str
    """The gateway's id for the message, e.g. ``"iSms-XHYBk"``."""
    phone_number: str
    """The recipient, in the canonical form ``09XXXXXXXXX`` it was sent to."""
    raw: Mapping[str, Any] = _raw()
    """The decoded JSON body of the response, the API token redacted from it
    (a newer gateway links to the status with the token in the link)."""


@attrs.frozen
class MessageStatus:
    """The delivery status of one message.

    ``status`` is kept exactly as the gateway gives it: only ``"pending"`` is
    documented; other values (``"sent"``, ``"delivered"``, ``"failed"``, ...)
    pass through unchanged.
    """

    message_id: str
    status: str
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Credits:
    """The account's remaining SMS credits."""

    load_balance: float
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Reminder:
    """A message scheduled to be sent later. Times are aware, in Asia/Manila."""

    id: int
    phone_number: str
    message: str
    scheduled_at: datetime
    status: str
    """``"scheduled"`` until sent; other values pass through unchanged."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class NetworkInfo:
    """The mobile network the gateway associates with a number.

    ``network`` is one of ``"Smart/TNT"``, ``"Globe/TM"``, ``"DITO"`` or
    ``"Unknown Network"`` (kept as given). Number portability means the prefix
    does not always tell the truth.
    """

    phone_number: str
    is_smart_tnt: bool
    network: str
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class SentOtp:
    """A one-time password the gateway generated and texted.

    ``otp_code`` is left out of ``repr`` so it does not end up in logs.
    """

    phone_number: str
    otp_code: str | None = attrs.field(default=None, repr=False)
    expires_at: datetime | None = None
    raw: Mapping[str, Any] = _raw()


# --- the converter -----------------------------------------------------------

_converter = cattrs.Converter()


def _structure_str(value: object, _: type) -> str:
    if isinstance(value, str):
        if lone_surrogate_at(value) is not None:
            # A JSON escape like \ud800 decodes to half a character, which no
            # request, journal or file can take: an id like that cannot even
            # be polled.
            raise ValueError(f"a string holding a lone surrogate: {_describe(value)}")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {_describe(value)}")


def _structure_float(value: object, _: type) -> float:
    number: float
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        number = float(value)  # ValueError on junk
    else:
        raise TypeError(f"expected a number, got {_describe(value)}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _structure_bool(value: object, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeError(f"expected true or false, got {_describe(value)}")


def _structure_datetime(value: object, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected a timestamp string, got {_describe(value)}")
    return parse_timestamp(value)


def _describe(value: object) -> str:
    return shorten(repr(value), 40)


def _passthrough(value: object, _: type) -> object:
    return value


_converter.register_structure_hook(str, _structure_str)
_converter.register_structure_hook(int, _structure_int)
_converter.register_structure_hook(float, _structure_float)
_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook(datetime, _structure_datetime)
_converter.register_structure_hook_func(
    lambda cls: cls == Mapping[str, Any], _passthrough
)

_RENAMES: dict[type, dict[str, str]] = {
    MessageStatus: {"status": "message_status"},
    SentOtp: {"expires_at": "otp_code_expires_at"},
}
for _cls in (SentMessage, MessageStatus, Credits, Reminder, NetworkInfo, SentOtp):
    _overrides: dict[str, Any] = {
        name: override(rename=key) for name, key in _RENAMES.get(_cls, {}).items()
    }
    _converter.register_structure_hook(
        _cls, make_dict_structure_fn(_cls, _converter, **_overrides)
    )


def sent_message(answer: Mapping[str, Any], phone_number: str) -> SentMessage:
    """A send's answer, to ``phone_number`` (checked), as `structure` builds it.

    A message id in ASCII, as the gateway's are, needs nothing of the
    converter: the model is made at once, at a fifth of the cost (on every
    send of a broadcast). Anything else takes the converter's way.
    """
    message_id = answer.get("message_id")
    if type(message_id) is str and message_id.isascii():
        return SentMessage(message_id, phone_number, raw=answer)
    return structure({**answer, "phone_number": phone_number}, SentMessage, raw=answer)


def message_status(answer: Mapping[str, Any], message_id: str) -> MessageStatus:
    """A status read's answer, for ``message_id`` (checked), as `structure` builds it.

    As `sent_message`: a status in ASCII is taken as it is.
    """
    status = answer.get("message_status")
    if type(status) is str and status.isascii():
        return MessageStatus(message_id, status, raw=answer)
    return structure({**answer, "message_id": message_id}, MessageStatus, raw=answer)


def structure(payload: object, cls: type[T], *, raw: Mapping[str, Any]) -> T:
    """Build ``cls`` from a JSON object, keeping ``raw`` as the model's body.

    Raises `ValueError` that names the offending field when the payload is not
    a JSON object or a field is missing or of a type that cannot be read.
    """
    if not isinstance(payload, Mapping):
        raise ValueError(f"expected a JSON object, got {_describe(payload)}")  # noqa: TRY004 -- a bad answer, not a bad call
    try:
        return _converter.structure({**payload, "raw": raw}, cls)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, path=cls.__name__))
    # Outside the handler: cattrs' errors (a float() of the gateway's text
    # says it back) are not chained, even as a suppressed context.
    raise ValueError(problems)
