"""The client-wide rate limit (GCRA), on a virtual clock: no timing in assertions."""

from typing import ClassVar

import anyio
import pytest

from iprogsms_async import ConfigurationError
from iprogsms_async._ratelimit import RateLimiter

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock(monkeypatch):
    """A virtual clock for the limiter: time jumps to the next sleeper's wake-up
    once every task is blocked, so concurrent sleeps overlap as real ones do."""

    class Clock:
        now = 1000.0
        sleepers: ClassVar[list] = []

        @classmethod
        async def drive(cls, done):
            while not done.is_set() or cls.sleepers:
                await anyio.wait_all_tasks_blocked()
                if cls.sleepers:
                    cls.sleepers.sort(key=lambda sleeper: sleeper[0])
                    wake, event = cls.sleepers.pop(0)
                    cls.now = max(cls.now, wake)
                    event.set()
                elif done.is_set():
                    return
                else:
                    await anyio.lowlevel.checkpoint()

    async def sleep(seconds):
        event = anyio.Event()
        Clock.sleepers.append((Clock.now + max(0.0, seconds), event))
        await event.wait()

    monkeypatch.setattr("iprogsms_async._ratelimit.current_time", lambda: Clock.now)
    monkeypatch.setattr("iprogsms_async._ratelimit.sleep", sleep)
    return Clock


async def run_with_clock(clock, *workers):
    done = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.drive, done)
        async with anyio.create_task_group() as inner:
            for worker in workers:
                inner.start_soon(worker)
        done.set()


async def test_admissions_are_spaced_by_the_rate_after_the_burst(clock):
    limiter = RateLimiter(10, burst=3)
    times = []

    async def worker():
        for _ in range(8):
            await limiter.acquire()
            times.append(round(clock.now - 1000.0, 6))

    await run_with_clock(clock, worker)
    assert times == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


async def test_no_window_admits_more_than_rate_plus_burst(clock):
    limiter = RateLimiter(20)  # burst defaults to 2 at 20/s
    times = []

    async def worker():
        for _ in range(25):
            await limiter.acquire()
            times.append(clock.now)

    await run_with_clock(clock, *[worker] * 8)
    assert len(times) == 200
    times.sort()
    for start in times:
        in_window = sum(1 for t in times if start <= t < start + 1.0)
        assert in_window <= 20 + limiter.burst


async def test_an_idle_limiter_does_not_bank_more_than_the_burst(clock):
    limiter = RateLimiter(5, burst=2)
    times = []

    async def worker():
        await limiter.acquire()
        clock.now += 60  # a long quiet spell
        start = clock.now
        for _ in range(4):
            await limiter.acquire()
            times.append(round(clock.now - start, 6))

    await run_with_clock(clock, worker)
    assert times == [0.0, 0.0, 0.2, 0.4]  # the burst of 2, then 0.2 s apart


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), "5", True])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ConfigurationError, match="rate_limit"):
        RateLimiter(rate)


def test_bad_bursts_are_refused():
    with pytest.raises(ConfigurationError, match="burst"):
        RateLimiter(5, burst=0)
