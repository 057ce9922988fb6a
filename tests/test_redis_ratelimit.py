"""One rate limit and one 429 pause shared by processes through a real Redis.

The limit is measured where it matters, at the server: the loopback gateway
of tests/stamping.py stamps each request as it arrives (its own clock),
while client processes started with subprocess send through one
`RedisRateLimit`.
Arrival times jitter on a loaded machine, so the one-second windows allow
the few requests that jitter can move into them (``JITTER``); without a
shared limit, the processes together would send several times the rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from iprogsms_async import (
    ClientStateError,
    ConfigurationError,
    IProgSMS,
    RateLimit,
    RedisRateLimit,
)
from iprogsms_async.testing import FakeGateway

from .loopback import base_url, closed_port, serve
from .stamping import Arrivals, busiest_second
from .support import TOKEN

pytestmark = pytest.mark.anyio

SENDER = Path(__file__).with_name("redis_sender.py")
JITTER = 0.2
"""Seconds of arrival jitter the windows tolerate: RATE * JITTER requests."""


@pytest.fixture
def anyio_backend():
    return "asyncio"  # RedisRateLimit is asyncio only (trio is refused below)


def run_senders(url, redis_url, key, *, processes, rate, burst, tasks, sends):
    """Start the sender processes together; wait for all; their reports."""
    argv = [url, redis_url, key, str(rate), str(burst), str(tasks), str(sends)]
    children = [
        subprocess.Popen(
            [sys.executable, str(SENDER), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=90)
        assert child.returncode == 0, err
        reports.append(json.loads(out.splitlines()[-1]))
    return reports


@pytest.mark.slow
def test_processes_sharing_a_limit_stay_under_it_together(redis_key, redis_url):
    rate, burst = 20, 2
    arrivals = Arrivals()
    with serve({"/sms_messages": arrivals}) as server:
        reports = run_senders(
            base_url(server), redis_url, redis_key,
            processes=3, rate=rate, burst=burst, tasks=3, sends=24,
        )  # fmt: skip
    assert [r["errors"] for r in reports] == [[], [], []]
    assert sum(r["sent"] for r in reports) == len(arrivals.times) == 72
    # Three processes each limited on their own would send 60 a second.
    assert busiest_second(arrivals.times) <= rate + burst + rate * JITTER


@pytest.mark.slow
def test_a_429_seen_by_one_process_pauses_them_all(redis_key, redis_url):
    arrivals = Arrivals(refuse={8}, retry_after=2)
    with serve({"/sms_messages": arrivals}) as server:
        reports = run_senders(
            base_url(server), redis_url, redis_key,
            processes=3, rate=20, burst=2, tasks=2, sends=12,
        )  # fmt: skip
    assert [r["errors"] for r in reports] == [[], [], []]  # the refused was retried
    assert sum(r["sent"] for r in reports) == len(arrivals.times) == 36
    [refused_at] = arrivals.refused
    # Requests already past the limit when the 429 came may still arrive just
    # after it; then nothing, from any process, until the pause is nearly over.
    during = [t - refused_at for t in arrivals.times if 0.5 < t - refused_at < 1.8]
    assert during == []
    assert any(t > refused_at + 1.8 for t in arrivals.times)


# --- in one process ------------------------------------------------------------


async def test_a_client_and_its_broadcast_use_the_shared_limit(redis_key, redis_url):
    import redis.asyncio  # noqa: PLC0415 -- only with a server

    fake = FakeGateway(credits=1000, seed=1)
    async with (
        RedisRateLimit(redis_url, key=redis_key, rate=1000) as limit,
        IProgSMS(fake.token, base_url="http://127.0.0.1:1", rate_limit=limit) as c,
    ):
        assert isinstance(limit, RateLimit)
        assert c._settings.limiter is limit
        assert c.with_options(timeout=5)._settings.limiter is limit
    async with (
        RedisRateLimit(redis_url, key=redis_key, rate=1000) as limit,
        fake.client() as plain,
    ):
        client = plain.with_options(rate_limit=limit)
        report = await client.broadcast(
            [f"0917{i:07d}" for i in range(20)], message="Hi", poll=False
        )
    assert report.counts == {"accepted": 20}
    async with redis.asyncio.Redis.from_url(redis_url) as db:
        assert await db.exists(f"iprogsms:{{{redis_key}}}:tat")


async def test_a_429_sets_the_shared_pause(redis_key, redis_url):
    import redis.asyncio  # noqa: PLC0415 -- only with a server

    fake = FakeGateway(credits=1000, seed=1)
    fake.update_faults(retry_after=30)
    fake.fail_next("rate_limit", endpoints="sends")
    async with (
        RedisRateLimit(redis_url, key=redis_key, rate=None) as limit,
        fake.client() as plain,
        redis.asyncio.Redis.from_url(redis_url) as db,
    ):
        client = plain.with_options(rate_limit=limit, max_retries=0)
        with pytest.raises(Exception, match="429"):
            await client.sms.send("09171234567", "Hi")
        # Not retried (max_retries=0), but every process is told to wait.
        left = await db.pttl(f"iprogsms:{{{redis_key}}}:pause")
        assert 20_000 < left <= 30_001
        # And this process's next acquire waits it out, without taking a slot.
        with anyio.move_on_after(0.3) as scope:
            await limit.acquire()
        assert scope.cancelled_caught
        assert not await db.exists(f"iprogsms:{{{redis_key}}}:tat")


async def test_keys_are_separate_limits(redis_key, redis_url):
    async with (
        RedisRateLimit(redis_url, key=redis_key + "-a", rate=1) as paused,
        RedisRateLimit(redis_url, key=redis_key + "-b", rate=1000) as free,
    ):
        await paused.pause(30)
        with anyio.fail_after(10):
            for _ in range(5):
                await free.acquire()


async def test_an_unreachable_redis_sends_nothing(redis_key):
    fake = FakeGateway(credits=1000, seed=1)
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"
    async with (
        RedisRateLimit(url, key=redis_key, rate=5) as limit,
        fake.client() as plain,
    ):
        client = plain.with_options(rate_limit=limit)
        with pytest.raises(ClientStateError, match="cannot reach Redis") as caught:
            await client.sms.send("09171234567", "Hi")
        await limit.pause(5)  # logged, not raised: the local pause still holds
    assert caught.value.maybe_sent is False
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(limit)
    assert fake.messages == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"key": "", "rate": 5}, "key must be a non-empty printable string"),
        ({"key": "a{b}", "rate": 5}, "without braces"),
        ({"key": "k", "rate": 0}, "rate_limit must be a number > 0"),
        ({"key": "k", "rate": 5, "burst": 0}, "burst"),
    ],
)
def test_bad_options_are_refused(options, match):
    with pytest.raises(ConfigurationError, match=match):
        RedisRateLimit("redis://127.0.0.1:6379/0", **options)


def test_a_redis_that_is_neither_url_nor_client_is_refused():
    with pytest.raises(ConfigurationError, match=r"redis\.asyncio\.Redis"):
        RedisRateLimit(6379, key="k", rate=5)


def test_a_rate_limit_that_is_neither_number_nor_limit_is_refused():
    with pytest.raises(ConfigurationError, match="rate_limit"):
        IProgSMS(TOKEN, rate_limit="fast")


def test_without_redis_py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"iprogsms-async\[redis\]"):
        RedisRateLimit("redis://127.0.0.1:6379/0", key="k", rate=5)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_is_refused(anyio_backend):
    with pytest.raises(ConfigurationError, match="asyncio only"):
        RedisRateLimit("redis://127.0.0.1:6379/0", key="k", rate=5)


def test_a_limit_made_outside_trio_is_refused_inside_it():
    limit = RedisRateLimit("redis://127.0.0.1:6379/0", key="k", rate=5)

    async def use():
        await limit.acquire()

    with pytest.raises(ConfigurationError, match="asyncio only"):
        anyio.run(use, backend="trio")
