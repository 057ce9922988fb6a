"""A requests-per-second limit shared by every task of a client (GCRA, on anyio).

aiolimiter is asyncio-only; this runs under asyncio and trio alike. `RateLimit`
is what the client needs of any limit: this one in a process, or
`RedisRateLimit` (``_redis.py``) across processes.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from anyio import current_time, sleep

from ._validation import POSITIVE_INT, POSITIVE_NUMBER

__all__ = ["BothLimits", "RateLimit", "RateLimiter", "check_burst", "check_rate"]


@runtime_checkable
class RateLimit(Protocol):
    """What a client needs of a rate limit, wherever its state lives.

    ``acquire`` is awaited before every request (retries included) and
    returns when the request may start; ``pause`` is awaited when the gateway
    answers 429, with how long every request should hold back. The client's
    own pause already holds back every task of its process; a limit shared
    across processes passes the pause on to the others.
    """

    async def acquire(self) -> None:
        """Wait for this request's turn."""
        ...

    async def pause(self, seconds: float) -> None:
        """Hold back every request sharing this limit for ``seconds`` from now."""
        ...


class RateLimiter:
    """Admits at most ``rate`` requests a second, with a small burst.

    The generic cell rate algorithm: each admission pushes a theoretical
    arrival time forward by ``1 / rate``; a caller waits until that time,
    less the burst allowance, has come. A slot is reserved before waiting,
    so callers are served in arrival order and never stampede.
    """

    __slots__ = ("_interval", "_tat", "_tolerance", "burst", "rate")

    def __init__(self, rate: float, *, burst: int | None = None) -> None:
        rate = check_rate(rate)
        self.rate = rate
        self.burst = check_burst(burst, rate)
        self._interval = 1.0 / self.rate
        self._tolerance = self._interval * (self.burst - 1)
        self._tat = -math.inf

    async def acquire(self) -> None:
        """Wait for this caller's turn; return at once (no checkpoint) when free."""
        now = current_time()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        wait = tat - self._tolerance - now
        if wait > 0:
            await sleep(wait)

    async def pause(self, seconds: float) -> None:
        """Nothing to do: the client's own pause holds back its whole process."""

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}, burst={self.burst})"


def check_burst(burst: object, rate: float) -> int:
    """``burst`` if it is an integer >= 1; ``ceil(rate / 10)`` (at least 1) for None."""
    if burst is None:
        return max(1, math.ceil(rate / 10))
    return POSITIVE_INT.setting(burst, "burst")


def check_rate(rate: object) -> float:
    """``rate`` as a float if it is a positive number of requests a second."""
    return POSITIVE_NUMBER.setting(rate, "rate_limit")


class BothLimits:
    """Two rate limits at once: a request waits for its turn under each.

    A broadcast with a ``rate_limit`` of its own, on a client whose limit is
    shared with other processes (the account's), keeps the shared one too:
    replacing it would let this broadcast exceed what the account allows, and
    stop its 429 pauses from reaching the other processes.
    """

    __slots__ = ("_first", "_second")

    def __init__(self, first: RateLimit, second: RateLimit) -> None:
        self._first = first
        self._second = second

    async def acquire(self) -> None:
        """Wait for a turn under the first limit, then under the second."""
        await self._first.acquire()
        await self._second.acquire()

    async def pause(self, seconds: float) -> None:
        """Pass a 429's pause on to both."""
        await self._first.pause(seconds)
        await self._second.pause(seconds)
