"""When to try a request again, and how long to wait first."""

from __future__ import annotations

import email.utils
import math
import random
import time

import attrs

__all__ = ["RetryPolicy", "parse_retry_after"]


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After`` up to a cap."""

    max_retries: int = 2
    """Retries after the first attempt; 0 disables retrying."""
    initial_delay: float = 0.5
    """Upper bound of the first wait, in seconds."""
    max_delay: float = 8.0
    """Upper bound of any computed wait, in seconds."""
    max_retry_after: float = 60.0
    """The longest ``Retry-After`` honoured; a longer one is not waited for."""

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Return the wait before retry number ``retry`` (0-based), or None to stop.

        A server-given ``retry_after`` is used as it is when within the cap; past
        the cap the request is not retried (None), so the caller sees the error
        and its ``retry_after`` instead of a silent long stall.
        """
        if retry >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_delay, self.initial_delay * 2**retry)
        return random.uniform(0, ceiling)  # noqa: S311 -- jitter, not cryptography


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns seconds to wait (never negative), or None when absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = _parse_http_date(value)
        if parsed is None:
            return None
        seconds = parsed - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _parse_http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()
