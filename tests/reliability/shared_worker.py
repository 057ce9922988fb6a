"""One worker process of a shared broadcast, for test_shared_workers.py.

    IPROGSMS_API_TOKEN=... IPROGSMS_BASE_URL=... python shared_worker.py \
        JOURNAL NAME WORKER_ID CONCURRENCY OPTIONS_JSON [COUNT]

With COUNT, it is given the broadcast's recipients (the same ``COUNT``
numbers in every process, see `tests.shared_runs.recipients`) and plans
them, once whichever worker comes first; without, it joins the broadcast
(`IProgSMS.broadcast_work`). OPTIONS_JSON holds more broadcast options
(``lease``, ``poll_interval``, ``batch_size``...) and, as ``redis``, a
``[URL, KEY, RATE, BURST]`` for a `RedisRateLimit`. It prints one JSON
line when it ends: the counts of the recipients it settled. The token comes
from the environment, as in production, not from argv.
"""

from __future__ import annotations

import json
import sys
from contextlib import AsyncExitStack

import anyio

from iprogsms_async import IProgSMS, RedisRateLimit

MESSAGE = "Your bill is due on the 8th"


def recipients(count: int) -> list[str]:
    """The broadcast's recipients (as `tests.shared_runs.recipients`)."""
    return [f"09{180_000_000 + i:09d}" for i in range(count)]


async def work(argv: list[str]) -> dict[str, int]:
    journal, name, worker_id, concurrency, options_json, *count = argv
    options = json.loads(options_json)
    redis = options.pop("redis", None)
    async with AsyncExitStack() as stack:
        limit = None
        if redis is not None:
            url, key, rate, burst = redis
            limit = RedisRateLimit(url, key=key, rate=rate, burst=burst)
            await stack.enter_async_context(limit)
        client = await stack.enter_async_context(IProgSMS(rate_limit=limit))
        common = {
            "journal": journal,
            "name": name,
            "worker_id": worker_id,
            "concurrency": int(concurrency),
            **options,
        }
        if count:
            report = await client.broadcast(
                recipients(int(count[0])), message=MESSAGE, shared=True, **common
            )
        else:
            report = await client.broadcast_work(**common)
    return dict(report.counts)


def main(argv: list[str]) -> None:
    counts = anyio.run(work, argv, backend="asyncio")
    sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
