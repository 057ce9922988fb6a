"""A requests-per-second limit shared by every task of a client (GCRA, on anyio).

aiolimiter is asyncio-only; this runs under asyncio and trio alike.
"""

from __future__ import annotations

import math

from anyio import current_time, sleep

from ._errors import ConfigurationError
from ._validation import is_positive_number

__all__ = ["RateLimiter"]


class RateLimiter:
    """Admits at most ``rate`` requests a second, with a small burst.

    The generic cell rate algorithm: each admission pushes a theoretical
    arrival time forward by ``1 / rate``; a caller waits until that time,
    less the burst allowance, has come. A slot is reserved before waiting,
    so callers are served in arrival order and never stampede.
    """

    __slots__ = ("_interval", "_tat", "_tolerance", "burst", "rate")

    def __init__(self, rate: float, *, burst: int | None = None) -> None:
        rate = _check_rate(rate)
        if burst is None:
            burst = max(1, math.ceil(rate / 10))
        if type(burst) is not int or burst < 1:
            raise ConfigurationError(f"burst must be an integer >= 1, not {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._interval = 1.0 / self.rate
        self._tolerance = self._interval * (burst - 1)
        self._tat = -math.inf

    async def acquire(self) -> None:
        """Wait for this caller's turn; return at once (no checkpoint) when free."""
        now = current_time()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        wait = tat - self._tolerance - now
        if wait > 0:
            await sleep(wait)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}, burst={self.burst})"


def _check_rate(rate: object) -> float:
    if is_positive_number(rate):
        return float(rate)
    raise ConfigurationError(
        f"rate_limit must be a positive number of requests a second, not {rate!r}"
    )
