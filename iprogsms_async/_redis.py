"""One rate limit and one 429 pause for every process on an account, in Redis.

Each client's `RateLimiter` and 429 pause live in its process, so N
processes on one account together send N times the rate. `RedisRateLimit`
keeps both in Redis instead: every request runs one Lua script that reads
Redis's own clock (``TIME``, so the processes' clocks do not matter), checks
the pause and takes a slot of the GCRA limit in one atomic step, one round
trip. A 429 seen by any process sets the pause (a key that expires with it),
and every process waits it out before its next request.

Asyncio only (redis-py's asyncio client); under trio it refuses with
`ConfigurationError`. An extra: ``pip install 'iprogsms-async[redis]'``.
"""

from __future__ import annotations

import importlib
import logging
import math
from typing import TYPE_CHECKING, Any

import anyio

from ._errors import ClientStateError, ConfigurationError
from ._loop import refuse_trio
from ._ratelimit import check_burst, check_rate
from ._redact import without_password
from ._validation import printable_name

if TYPE_CHECKING:
    from types import ModuleType, TracebackType

    from typing_extensions import Self

__all__ = ["RedisRateLimit"]

logger = logging.getLogger("iprogsms_async")

_MICRO = 1_000_000
_KEY = printable_name(max_length=200, without=("{}", "braces"))
"""The name of the shared limit, one per account: braces would end Redis's
hash tag (``{key}``), which keeps the limit's keys in one Cluster slot."""
_TRIO = (
    "RedisRateLimit (redis-py's asyncio client)",
    "use rate_limit=<requests a second> under trio (a limit per process)",
)

# KEYS[1]: the limit's theoretical arrival time, µs on Redis's clock.
# KEYS[2]: the pause: the moment, µs, before which no request starts.
# ARGV[1]: "take" a slot (after the pause), "check" the pause only, or
#          "pause" for ARGV[4] µs. ARGV[2]: µs between slots (0: no rate, only
#          the pause). ARGV[3]: the burst's tolerance, (burst - 1) * interval.
# Returns {µs to wait, 1 when that wait is a pause (no slot taken) else 0}.
# A slot is reserved before its wait, so callers queue instead of retrying.
_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[1] == 'pause' then
  local length = tonumber(ARGV[4])
  if now + length > paused then
    redis.call('SET', KEYS[2], string.format('%d', now + length),
               'PX', math.ceil(length / 1000) + 1)
  end
  return {0, 0}
end
if paused > now then
  return {paused - now, 1}
end
local interval = tonumber(ARGV[2])
if ARGV[1] == 'check' or interval == 0 then
  return {0, 0}
end
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
redis.call('SET', KEYS[1], string.format('%d', tat + interval),
           'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return {math.max(0, tat - tonumber(ARGV[3]) - now), 0}
"""


class RedisRateLimit:
    """A rate limit and a 429 pause shared through Redis by many processes.

    Pass it as a client's ``rate_limit``; every client given the same
    ``key`` on the same Redis, in any process on any machine, shares one
    limit of ``rate`` requests a second (plus a burst of ``burst``) and one
    pause:

        limit = RedisRateLimit("redis://redis:6379/0", key="account-1", rate=20)
        async with limit, IProgSMS(rate_limit=limit) as client:
            await client.broadcast(numbers, message="Hi")

    Args:
        redis: A ``redis://`` (or ``rediss://``, ``unix://``) URL, connected
            on first use and closed by `aclose`; or a ``redis.asyncio.Redis``
            of your own, used as it is and never closed here.
        key: Names the shared limit: one per account. Its keys are
            ``iprogsms:{KEY}:tat`` and ``iprogsms:{KEY}:pause`` (one hash slot,
            for Redis Cluster).
        rate: Requests a second for all of them together; None to share only
            the 429 pause.
        burst: Requests that may start at once after a quiet spell (default
            ``ceil(rate / 10)``, as the in-process limit).

    A request waits for its slot (reserved in arrival order across every
    process), and again before it starts if a pause began meanwhile. When
    Redis cannot be reached, requests fail with `ClientStateError` and
    nothing is sent: without the shared limit, the account's rate cannot be
    kept.
    """

    def __init__(
        self,
        redis: str | Any,
        *,
        key: str,
        rate: float | None,
        burst: int | None = None,
    ) -> None:
        refuse_trio(*_TRIO)
        module = _import_redis()
        self.key = _KEY.setting(key, "key")
        self.rate = None if rate is None else check_rate(rate)
        self.burst = 1 if self.rate is None else check_burst(burst, self.rate)
        interval = 0.0 if self.rate is None else _MICRO / self.rate
        self._args = (
            str(math.ceil(interval)),
            str(math.floor(interval * (self.burst - 1))),
        )
        self._keys = (f"iprogsms:{{{self.key}}}:tat", f"iprogsms:{{{self.key}}}:pause")
        self._client: Any = None
        self._url: str | None = None
        if isinstance(redis, str):
            self._url = redis
            self._shown = without_password(redis)
        elif isinstance(redis, module.asyncio.Redis):
            self._client = redis
            self._shown = "a redis.asyncio.Redis of yours"
        else:
            raise ConfigurationError(
                "RedisRateLimit needs a redis:// URL or a redis.asyncio.Redis, "
                f"not a {type(redis).__name__}"
            )
        self._module = module
        self._script: Any = None

    async def acquire(self) -> None:
        """Wait until this request may start: no pause in force, a slot taken."""
        refuse_trio(*_TRIO)
        taken = False
        while True:
            wait, paused = await self._run("check" if taken else "take")
            if paused:
                taken = False  # a slot taken before the pause is lost
            else:
                taken = True
                if wait <= 0:
                    return
            await anyio.sleep(wait / _MICRO)

    async def pause(self, seconds: float) -> None:
        """Hold back every process's requests for ``seconds`` from now.

        Never shortens a pause in force. When Redis cannot be reached, the
        pause stays with this process's client, and this is logged.
        """
        if not seconds > 0:
            return
        try:
            await self._run("pause", math.ceil(seconds * _MICRO))
        except ClientStateError as error:
            logger.warning("The 429 pause was not shared: %s", error)

    async def aclose(self) -> None:
        """Close the connection made from the URL (not a client passed in)."""
        client, self._client = self._client, None
        if client is not None and self._url is not None:
            self._script = None  # registered on the client closed here
            await client.aclose()
        elif client is not None:
            self._client = client  # the user's own: theirs to close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, mode: str, length: int = 0) -> tuple[int, int]:
        if self._client is None:
            assert self._url is not None  # noqa: S101 -- one of the two is given
            self._client = self._module.asyncio.Redis.from_url(
                self._url, socket_timeout=10, socket_connect_timeout=10
            )
        if self._script is None:
            self._script = self._client.register_script(_SCRIPT)
        try:
            wait, paused = await self._script(
                keys=self._keys, args=(mode, *self._args, str(length))
            )
        except self._module.RedisError as exc:
            raise ClientStateError(
                f"the shared rate limit {self.key!r} cannot reach Redis at "
                f"{self._shown}: {exc}; nothing was sent"
            ) from exc
        return int(wait), int(paused)

    def __repr__(self) -> str:
        rate = "None" if self.rate is None else f"{self.rate:g}"
        return (
            f"RedisRateLimit(key={self.key!r}, rate={rate}, burst={self.burst}, "
            f"redis={self._shown!r})"
        )


def _import_redis() -> ModuleType:
    try:
        module = importlib.import_module("redis")
        importlib.import_module("redis.asyncio")
    except ImportError as exc:
        raise ConfigurationError(
            "RedisRateLimit needs redis-py: pip install 'iprogsms-async[redis]'"
        ) from exc
    return module
