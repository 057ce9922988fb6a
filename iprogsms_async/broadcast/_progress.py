"""Running counts of a broadcast, and the throttled calls to ``on_progress``."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import anyio

from ._report import BroadcastProgress

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Tally"]


class Tally:
    """Counts a broadcast keeps as it goes, cheap to update on every event.

    The engine updates the counts in place; ``on_progress`` is called from
    `tick`, once an interval, never per result.
    """

    __slots__ = (
        "_callback",
        "_interval",
        "_last",
        "accepted",
        "counts",
        "in_flight",
        "read",
        "requests",
        "started",
    )

    def __init__(
        self, callback: Callable[[BroadcastProgress], object] | None, interval: float
    ) -> None:
        self._callback = callback
        self._interval = interval
        self.counts: Counter[str] = Counter()
        self.read = 0
        self.accepted = 0
        self.in_flight = 0
        self.requests = 0
        self.started = anyio.current_time()
        self._last = self.started

    def snapshot(self, *, done: bool = False) -> BroadcastProgress:
        """The counts as they are now."""
        return BroadcastProgress(
            counts=dict(self.counts),
            read=self.read,
            accepted=self.accepted,
            in_flight=self.in_flight,
            requests=self.requests,
            elapsed=anyio.current_time() - self.started,
            done=done,
        )

    def tick(self) -> None:
        """Call ``on_progress`` if the last call is older than the interval."""
        if self._callback is None:
            return
        now = anyio.current_time()
        if now - self._last >= self._interval:
            self._last = now
            self._callback(self.snapshot())

    def finish(self) -> None:
        """Call ``on_progress`` one last time, with ``done=True``."""
        if self._callback is not None:
            self._callback(self.snapshot(done=True))
