"""One journaled broadcast, run in its own process by test_crash_resume.py.

The test kills this process with SIGKILL part way and runs it again on the same
journal. Usage::

    IPROGSMS_API_TOKEN=... python crash_runner.py BACKEND BASE_URL JOURNAL \
        RESULTS COUNT CONCURRENCY [BATCH_SIZE]

It writes one JSON object per recipient to RESULTS when the broadcast ends.
The token comes from the environment, as in production, not from argv.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio

from iprogsms_async import IProgSMS

MESSAGE = "Your bill is due on the 8th"


def recipients(count: int) -> list[str]:
    """The broadcast's recipients, the same in every run and in the test."""
    return [f"09{180_000_000 + i:09d}" for i in range(count)]


async def broadcast(
    base_url: str, journal: str, results: Path, count: int, concurrency: int, batch
):
    async with IProgSMS(base_url=base_url) as client:
        report = await client.broadcast(
            recipients(count),
            message=MESSAGE,
            journal=journal,
            concurrency=concurrency,
            batch_size=batch,
            poll=False,
        )
    rows = [
        {
            "index": r.index,
            "phone_number": r.phone_number,
            "status": r.status,
            "message_id": r.message_id,
            "error": type(r.error).__name__ if r.error is not None else None,
            "maybe_sent": r.error.maybe_sent if r.error is not None else None,
        }
        for r in report.results
    ]
    partial = results.with_suffix(".partial")
    partial.write_text(json.dumps(rows))
    partial.replace(results)


def main(argv: list[str]) -> None:
    backend, base_url, journal, results, count, concurrency, *batch = argv
    assert os.environ.get("IPROGSMS_API_TOKEN"), "the token comes from the env"
    anyio.run(
        broadcast,
        base_url,
        journal,
        Path(results),
        int(count),
        int(concurrency),
        int(batch[0]) if batch else None,
        backend=backend,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
