"""The Philippine mobile number rule: every notation in, one canonical form out."""

from __future__ import annotations

from ._errors import InvalidPhoneNumber

__all__ = ["ACCEPTED_FORMS", "normalize_phone_number"]

ACCEPTED_FORMS = (
    "09XXXXXXXXX, 639XXXXXXXXX or +639XXXXXXXXX "
    "(spaces, dashes, dots and parentheses allowed)"
)

# Separators people type or paste from spreadsheets; NBSP comes from Excel.
_SEPARATORS = str.maketrans("", "", " \t\u00a0-.()")
# Longer than any honest notation: refuse before doing work on it.
_MAX_INPUT = 40
_SHOWN = 32


def normalize_phone_number(value: object, *, field: str = "phone_number") -> str:
    """Return ``value`` as a Philippine mobile number in the form ``09XXXXXXXXX``.

    Accepts ``09XXXXXXXXX``, ``639XXXXXXXXX`` and ``+639XXXXXXXXX`` with any
    spaces, dashes, dots or parentheses between the digits. Anything else
    raises `InvalidPhoneNumber`, whose message names the value and the
    accepted forms.
    """
    if (
        type(value) is str
        and len(value) == 11
        and value.startswith("09")
        and value.isascii()
        and value.isdigit()
    ):
        return value
    if isinstance(value, str) and len(value) <= _MAX_INPUT:
        digits = value.strip().translate(_SEPARATORS)
        plus = digits.startswith("+")
        if plus:
            digits = digits[1:]
        if digits.isascii() and digits.isdigit():
            if len(digits) == 11 and digits.startswith("09") and not plus:
                return digits
            if len(digits) == 12 and digits.startswith("639"):
                return "0" + digits[2:]
    raise InvalidPhoneNumber(
        f"{_shown(value)} is not a Philippine mobile number; "
        f"accepted: {ACCEPTED_FORMS}",
        value=value,
        field=field,
    )


def _shown(value: object) -> str:
    """Describe a refused value briefly: a 10 MB line must not become the message."""
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    if len(value) > _SHOWN:
        return f"{value[:_SHOWN]!r}... ({len(value)} characters)"
    return repr(value)
