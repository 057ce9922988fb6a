"""Checks of call arguments (besides numbers and times), made before any request."""

from __future__ import annotations

import math
from typing import TypeGuard

from ._errors import ValidationError

__all__ = [
    "SMS_PROVIDERS",
    "check_identifier",
    "check_message",
    "check_positive_int",
    "check_sms_provider",
    "check_unicode",
    "is_positive_number",
    "lone_surrogate_at",
]

SMS_PROVIDERS = (0, 1, 2)
"""The values the gateway accepts for ``sms_provider``."""

_ESCAPED_BYTES = (0xDC80, 0xDCFF)
"""The lone surrogates ``surrogateescape`` makes of undecodable bytes."""


def check_message(message: object, *, field: str = "message") -> str:
    """Return ``message`` if it is a string with something besides whitespace."""
    if not isinstance(message, str):
        raise ValidationError(
            f"{field} must be a string, not a {type(message).__name__}", field=field
        )
    if not message.strip():
        raise ValidationError(
            f"{field} is empty; a text needs at least one visible character",
            field=field,
        )
    return check_unicode(message, field=field)


def check_unicode(text: str, *, field: str) -> str:
    """Return ``text`` if it can be sent: no lone surrogate (half a character).

    A lone surrogate is what is left of an emoji when a text is cut by UTF-16
    length, or of an undecodable byte read with ``surrogateescape`` (command
    line arguments, file names). No encoding can put it on the wire, so it is
    refused here, with its position, rather than fail inside the request.
    """
    position = lone_surrogate_at(text)
    if position is None:
        return text
    code = ord(text[position])
    if _ESCAPED_BYTES[0] <= code <= _ESCAPED_BYTES[1]:
        # What Python makes of a byte that is not UTF-8 in argv or a file name.
        what = f"a byte that is not UTF-8 (0x{code - 0xDC00:02X})"
        hint = "pass UTF-8 text"
    else:
        what = f"half of a character (a lone surrogate, U+{code:04X})"
        hint = "pass whole characters (text cut by UTF-16 length often ends in one)"
    raise ValidationError(
        f"{field} holds {what} at position {position}: it cannot be sent; {hint}",
        field=field,
    )


def lone_surrogate_at(text: str) -> int | None:
    """The position of the first lone surrogate in ``text``, or None if it has none.

    Such a string has no UTF-8 form: it cannot go into a request, a journal
    or a file.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


def check_sms_provider(value: object, *, field: str = "sms_provider") -> int:
    """Return ``value`` if it is one of the gateway's providers (0, 1 or 2)."""
    if type(value) is not int or value not in SMS_PROVIDERS:
        raise ValidationError(
            f"{field} must be one of 0, 1 or 2, not {value!r}", field=field
        )
    return value


def is_positive_number(value: object, *, allow_zero: bool = False) -> TypeGuard[float]:
    """Whether ``value`` is a finite int or float above zero (or zero, if allowed).

    A bool is not a number here: ``True`` seconds is a mistake, not 1.
    """
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )


def check_positive_int(value: object, *, field: str) -> int:
    """Return ``value`` if it is an int of at least 1 (a bool is not an int here)."""
    if type(value) is not int or value < 1:
        raise ValidationError(
            f"{field} must be a positive integer, not {value!r}", field=field
        )
    return value


def check_identifier(value: object, *, field: str) -> str:
    """Return ``value`` stripped if it is a non-empty string without separators."""
    if isinstance(value, str):
        stripped = value.strip()
        if (
            stripped
            and len(stripped) <= 200
            and not any(char.isspace() or char in "/?#&," for char in stripped)
        ):
            return check_unicode(stripped, field=field)
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
    raise ValidationError(
        f"{field} must be a non-empty string without spaces, '/', '?', '#', '&' "
        f"or ',', not {shown}",
        field=field,
    )
