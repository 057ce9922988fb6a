"""A broadcast of 2,000 generated recipients against the embedded fake gateway.

No network, no credits: the fake answers in-process with realistic latency, a
few injected faults (server errors, rate limiting, dropped connections), and
delivery after a short delay. Run it with ``scripts/demo``.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING

import anyio

from iprogsms_async.testing import FakeGateway, Faults

if TYPE_CHECKING:
    from iprogsms_async import BroadcastProgress

RECIPIENTS = 2000


def recipients(count: int, seed: int = 8) -> list[str]:
    """Generated numbers in mixed notations, with a few bad ones and repeats."""
    rng = random.Random(seed)  # noqa: S311 -- demo data
    out: list[str] = []
    for i in range(count):
        d = f"{rng.randrange(10**9):09d}"
        notations = (
            f"09{d}",
            f"+63 9{d[:2]} {d[2:5]} {d[5:]}",
            f"639{d}",
            f"09{d[:2]}-{d[2:5]}-{d[5:]}",
        )
        out.append(notations[i % len(notations)])
    for i in range(0, count, 250):
        out[i] = "0917-BAD-NUMBER"  # refused before any request
    for i in range(7, count, 400):
        out[i] = out[i - 1]  # a duplicate: sent once
    return out


def show(progress: BroadcastProgress) -> None:
    counts = progress.counts
    rate = progress.requests / progress.elapsed if progress.elapsed else 0.0
    line = (
        f"\r  read {progress.read:5d}  accepted {progress.accepted:5d}  "
        f"delivered {counts.get('delivered', 0):5d}  "
        f"failed {counts.get('failed', 0):4d}  "
        f"unknown {counts.get('unknown', 0):3d}  {rate:6.0f} req/s"
    )
    sys.stdout.write(line)
    sys.stdout.flush()
    if progress.done:
        sys.stdout.write("\n")


async def main() -> None:
    fake = FakeGateway(
        credits=100_000,
        seed=2026,
        delivery_delay=1.0,
        failure_rate=0.02,
        faults=Faults(
            latency=(0.01, 0.06),
            server_error_before_accept=0.005,
            server_error_after_accept=0.003,
            rate_limit=0.004,
            retry_after=0.25,
            drop_after_accept=0.002,
        ),
    )
    numbers = recipients(RECIPIENTS)
    print(f"Broadcasting to {len(numbers)} recipients through the fake gateway")
    started = time.perf_counter()
    async with fake.client() as client:
        report = await client.broadcast(
            numbers,
            message="Hello from iprogsms-async: your bill is due on the 8th.",
            concurrency=50,
            poll_interval=0.5,
            poll_max_interval=2.0,
            on_progress=show,
        )
    elapsed = time.perf_counter() - started

    print(f"\nDone in {elapsed:.1f} s. One result per recipient:")
    for status, count in report.counts.most_common():
        print(f"  {status:<10} {count:6d}")
    texts_per_number = Counter(m.phone_number for m in fake.messages)
    twice = sum(1 for n in texts_per_number.values() if n > 1)
    print(
        f"\nThe gateway accepted {len(fake.messages)} texts; "
        f"numbers texted twice: {twice}."
    )
    unknown = next(report.with_status("unknown"), None)
    if unknown is not None:
        print(
            f"An 'unknown' result (never re-sent): {unknown.phone_number}: "
            f"{unknown.error}"
        )
    if twice:
        raise SystemExit("a number was texted twice")


if __name__ == "__main__":
    anyio.run(main)
