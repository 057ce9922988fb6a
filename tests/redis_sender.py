"""One process of tests/test_redis_ratelimit.py: texts through a shared Redis limit.

    python tests/redis_sender.py BASE_URL REDIS_URL KEY RATE BURST TASKS SENDS

Sends SENDS texts from TASKS concurrent tasks through one client whose
``rate_limit`` is a `RedisRateLimit`, then prints a JSON line: how many were
sent, and the errors met.
"""

import asyncio
import json
import sys

from iprogsms_async import IProgSMS, IProgSMSError, RedisRateLimit

TOKEN = "tok-SECRET-1234567890"


async def main(argv):
    base_url, redis_url, key, rate, burst, tasks, sends = argv
    numbers = iter(range(int(sends)))
    sent, errors = 0, []
    limit = RedisRateLimit(redis_url, key=key, rate=float(rate), burst=int(burst))
    async with limit, IProgSMS(TOKEN, base_url=base_url, rate_limit=limit) as client:

        async def sender():
            nonlocal sent
            for i in numbers:
                try:
                    await client.sms.send(f"0917{i:07d}", "Hi")
                except IProgSMSError as error:
                    errors.append(str(error))
                else:
                    sent += 1

        await asyncio.gather(*(sender() for _ in range(int(tasks))))
    sys.stdout.write(json.dumps({"sent": sent, "errors": errors}) + "\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
