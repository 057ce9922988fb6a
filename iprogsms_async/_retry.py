"""When to try a request again, and how long to wait first.

`set_testing` switches every client in the process to a testing mode in which
retries still happen, as they would in production, but without their waits:
stamina's ``set_testing`` is the model. Tests then exercise the retry logic
in no time and without patching ``random``.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from typing import TYPE_CHECKING

import attrs

from ._validation import SECONDS, optional

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "RetryPolicy",
    "RetryTestingMode",
    "is_testing",
    "parse_retry_after",
    "set_testing",
]


@attrs.frozen
class RetryTestingMode:
    """The retry testing mode in force: see `set_testing`."""

    testing: bool = False
    """True while backoff waits are skipped."""
    retry_after_cap: float | None = None
    """In testing mode, the longest server-given ``Retry-After`` waited for
    (None: waited as given, so that tests of pausing still pause)."""


_mode = RetryTestingMode()
_CAP = optional(SECONDS)


class _Restore:
    """Returned by `set_testing`: a context manager that restores the mode before."""

    __slots__ = ("_before",)

    def __init__(self, before: RetryTestingMode) -> None:
        self._before = before

    def __enter__(self) -> RetryTestingMode:
        return _mode

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _mode  # noqa: PLW0603 -- one process-wide switch, as stamina's
        _mode = self._before


def set_testing(testing: bool, *, retry_after_cap: float | None = None) -> _Restore:
    """Turn the retry testing mode on or off for every client in the process.

    In testing mode a retry happens exactly when it would in production, but
    the computed backoff is zero, and a server-given ``Retry-After`` is waited
    for up to ``retry_after_cap`` seconds (as given when None). Use it as a
    call, or as a context manager that restores the previous mode:

        with set_testing(True):
            ...  # a test whose fake answers 503 once retries at once
    """
    global _mode  # noqa: PLW0603 -- one process-wide switch, as stamina's
    cap = _CAP.setting(retry_after_cap, "retry_after_cap")
    before = _mode
    _mode = RetryTestingMode(testing=bool(testing), retry_after_cap=cap)
    return _Restore(before)


def is_testing() -> bool:
    """Whether the retry testing mode (`set_testing`) is on."""
    return _mode.testing


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
            if retry_after > self.max_retry_after:
                return None
            cap = _mode.retry_after_cap if _mode.testing else None
            return retry_after if cap is None else min(retry_after, cap)
        if _mode.testing:
            return 0.0
        return random.uniform(0, self.ceiling(retry))  # noqa: S311 -- jitter

    def pause(self, retry_after: float | None, delay: float | None) -> float | None:
        """How long a 429 pauses every request of the client, or None for not at all.

        The server's ``Retry-After`` when it gave one (up to the cap), else the
        backoff ``delay`` about to be waited; capped as `delay` is in testing mode.
        """
        wait = retry_after if retry_after is not None else delay
        if wait is None:
            return None
        wait = min(wait, self.max_retry_after)
        if _mode.testing and _mode.retry_after_cap is not None:
            wait = min(wait, _mode.retry_after_cap)
        return wait

    def ceiling(self, retry: int) -> float:
        """The upper bound of the jittered wait before retry number ``retry``."""
        return min(self.max_delay, self.initial_delay * 2.0**retry)


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
