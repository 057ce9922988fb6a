"""Manila time on the wire: the ``scheduled_at`` request form and response timestamps.

Requests take ``YYYY-MM-DD HH:MMAM`` (12-hour clock, no space before AM/PM);
responses give ISO 8601 with ``+08:00``. Both become aware datetimes in
Asia/Manila here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ._errors import ValidationError

__all__ = [
    "MANILA",
    "format_scheduled_at",
    "parse_scheduled_at",
    "parse_timestamp",
]


def _manila() -> timezone:
    # The zone database name is nicer to read, but Windows may lack tzdata; the
    # Philippines has kept +08:00 without daylight saving since 1978.
    try:
        from zoneinfo import ZoneInfo  # noqa: PLC0415 -- guarded: may be missing

        return ZoneInfo("Asia/Manila")  # type: ignore[return-value]
    except (ImportError, KeyError, ValueError):  # pragma: no cover - no tzdata
        return timezone(timedelta(hours=8), "Asia/Manila")


MANILA = _manila()
"""Asia/Manila: the zone of every datetime this package returns."""

_API_FORM = re.compile(
    r"(\d{4})-(\d{2})-(\d{2}) (0[1-9]|1[0-2]):([0-5]\d)(AM|PM)",
    re.IGNORECASE | re.ASCII,  # ASCII digits: "\d" alone takes every script's
)
_ACCEPTED = (
    "a datetime (a naive one is taken as Manila time) "
    "or a string like '2025-03-08 05:00AM'"
)


def format_scheduled_at(value: object, *, field: str = "scheduled_at") -> str:
    """Return ``value`` in the API's ``YYYY-MM-DD HH:MMAM`` form, in Manila time.

    An aware datetime is converted to Manila time; a naive one is taken as
    Manila time already. Seconds are dropped: the API schedules to the minute.
    A string must already be in the API's form (AM/PM in any case) and name a
    real date. Anything else raises `ValidationError`.
    """
    if isinstance(value, datetime):
        return _api_form(_in_manila(value, field=field))
    if isinstance(value, str):
        return _api_form(_parse_api_form(value, field=field))
    raise ValidationError(
        f"{field} must be {_ACCEPTED}, not a {type(value).__name__}", field=field
    )


def parse_scheduled_at(text: str, *, field: str = "scheduled_at") -> datetime:
    """Parse the API's ``YYYY-MM-DD HH:MMAM`` form into an aware Manila datetime."""
    return _parse_api_form(text, field=field).replace(tzinfo=MANILA)


def parse_timestamp(text: str) -> datetime:
    """Parse a response timestamp into an aware datetime in Manila time.

    ISO 8601 (with ``Z`` or an offset, or naive meaning Manila) and the API's
    request form are both understood. Raises `ValueError` on anything else.
    """
    text = text.strip()
    if _API_FORM.fullmatch(text):
        return parse_scheduled_at(text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=MANILA)
    return parsed.astimezone(MANILA)


def _in_manila(value: datetime, *, field: str) -> datetime:
    """``value`` in Manila time (a naive one is already), refused if out of range.

    Converting moves a time by up to a day, so an aware time near year 1 or
    9999 may have no Manila equivalent that a `datetime` can hold.
    """
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(MANILA)
    except (OverflowError, ValueError) as exc:
        raise ValidationError(
            f"{field} {_api_form(value)} ({value.tzinfo}) has no Manila time "
            f"a datetime can hold ({exc}); pass a time between years 1 and 9999 "
            "in Manila time",
            field=field,
        ) from None


def _api_form(when: datetime) -> str:
    hour12 = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    date = f"{when.year:04d}-{when.month:02d}-{when.day:02d}"  # %Y drops zeros
    return f"{date} {hour12:02d}:{when.minute:02d}{half}"


def _parse_api_form(text: str, *, field: str) -> datetime:
    match = _API_FORM.fullmatch(text.strip())
    if match is None:
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
        raise ValidationError(
            f"{field} {shown} is not in the API's form; pass {_ACCEPTED}",
            field=field,
        )
    year, month, day, hour12, minute, half = match.groups()
    hour = int(hour12) % 12 + (12 if half.upper() == "PM" else 0)
    try:
        # Naive on purpose: the caller decides the zone.
        return datetime(int(year), int(month), int(day), hour, int(minute))  # noqa: DTZ001
    except ValueError as exc:
        raise ValidationError(
            f"{field} {text!r} is not a real date and time: {exc}", field=field
        ) from None
