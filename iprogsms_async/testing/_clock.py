"""Time for the fake gateway: the wall clock, or one a test moves by hand."""

from __future__ import annotations

import threading
import time
from datetime import datetime

__all__ = ["ManualClock"]


class ManualClock:
    """A clock that moves only when told to: OTP expiry and delivery without waiting.

    Pass it as ``FakeGateway(clock=...)``, then `advance` it past an OTP's
    expiry or a message's delivery delay. It reads in seconds since the epoch,
    so timestamps in answers stay realistic.

    Args:
        start: The starting time: epoch seconds or an aware `datetime`;
            defaults to now.
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float | datetime | None = None) -> None:
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("start must be an aware datetime")
            start = start.timestamp()
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current time of this clock, in seconds since the epoch."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"
