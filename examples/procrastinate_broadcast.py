"""One broadcast shared by the worker processes of procrastinate, a PostgreSQL queue.

procrastinate keeps its jobs in PostgreSQL, the database the shared
broadcast's journal is in already: no broker to run beside it, and its
workers are asyncio, as the client is. Starting a broadcast plans its
recipients into the journal, where they are read (`start_broadcast`: once,
however often it runs), and defers N `work_on_broadcast` jobs on the ``sms``
queue. Whichever worker processes, on whichever machines, pick the jobs up
share the recipients through the journal, and every recipient is texted at
most once: a process that dies with sends on the wire leaves those
recipients ``unknown``, never sent again; what it had claimed but not
started is taken up by the others. So a job may run again (procrastinate
retries a job cut short by a worker's shutdown, or failed, when its task
says so, as this one does): joining a broadcast is always safe, and one
that finds nothing left returns at once.

Setup, once (one database for the queue and the journal)::

    pip install "iprogsms-async[examples]"
    export IPROGSMS_JOURNAL_URL=postgresql://sms@db.internal/sms  # PGPASSWORD too
    procrastinate --app=examples.procrastinate_broadcast.app schema --apply

Workers, on any machines, as many as you like (each runs one job at a time)::

    export IPROGSMS_API_TOKEN=...
    procrastinate --app=examples.procrastinate_broadcast.app worker --queues sms \\
        --shutdown-graceful-timeout 5

On SIGTERM a procrastinate worker waits for its running job, and a job here
lasts as long as the broadcast: ``--shutdown-graceful-timeout 5`` cancels it
after 5 s instead. The broadcast then drains (its sends on the wire finish
and are recorded), hands its claims back to the other workers, and the job
runs again later on a live worker.

A broadcast, to 3 workers (recipients: one number a line; planning them
sends nothing, but the client wants ``IPROGSMS_API_TOKEN`` set)::

    python examples/procrastinate_broadcast.py june-bills numbers.txt \\
        "Your bill is due on the 8th" --workers 3

Progress, from anywhere: ``iprogsms broadcast-status --journal
"$IPROGSMS_JOURNAL_URL" --name june-bills``. More jobs may join later
(``work_on_broadcast.defer(name="june-bills")``), on more workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import anyio
import procrastinate

from iprogsms_async import BroadcastReport, IProgSMS

logger = logging.getLogger("sms-broadcast")

JOURNAL_VARIABLE = "IPROGSMS_JOURNAL_URL"
"""The PostgreSQL database of the journal, and of procrastinate's jobs."""
QUEUE = "sms"
RETRY = procrastinate.RetryStrategy(max_attempts=5, wait=10)
"""A job cut short (a worker stopped, the database away for a moment) runs
again later: it joins the broadcast where it stands."""
CONCURRENCY = 20
"""Requests in flight at most in each worker process."""
TIMEOUT = 10.0
"""Seconds for each step of a request, so 40 s for the whole of one: a
cancelled job's drain (its sends on the wire finishing) takes no longer."""


def journal_url() -> str:
    """The database URL, from ``IPROGSMS_JOURNAL_URL``."""
    url = os.environ.get(JOURNAL_VARIABLE)
    if not url:
        raise RuntimeError(f"set {JOURNAL_VARIABLE} to the postgresql:// URL")
    return url


# It connects when a worker starts or a job is deferred, not on import. Without
# IPROGSMS_JOURNAL_URL, libpq's own PGHOST, PGUSER... say where.
app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=os.environ.get(JOURNAL_VARIABLE, "")
    )
)


def _worker_id(context: procrastinate.JobContext) -> str:
    """The journal's name for this worker: the job's id tells it apart."""
    assert context.job.id is not None  # noqa: S101 -- a job being run has one
    return f"procrastinate-job-{context.job.id}"


@app.task(name="sms.work_on_broadcast", queue=QUEUE, retry=RETRY, pass_context=True)
async def work_on_broadcast(
    context: procrastinate.JobContext, *, name: str
) -> dict[str, int]:
    """Work on the broadcast ``name`` until none of it is left for anyone."""
    async with IProgSMS(timeout=TIMEOUT) as client:  # token: IPROGSMS_API_TOKEN
        report = await client.broadcast_work(
            journal=journal_url(),
            name=name,
            worker_id=_worker_id(context),
            concurrency=CONCURRENCY,
        )
    counts = dict(report.counts)
    logger.info("broadcast %s: this worker settled %s", name, counts)
    return counts


async def start_broadcast(
    name: str, recipients: list[str], message: str, *, workers: int
) -> BroadcastReport:
    """Plan the broadcast, then defer ``workers`` jobs to send it.

    Returns the planning's report: the invalid and duplicate rows, which no
    one will send.
    """
    async with IProgSMS() as client:
        planned = await client.broadcast_plan(
            recipients, message=message, journal=journal_url(), name=name
        )
    async with app.open_async():
        for _ in range(workers):
            await work_on_broadcast.defer_async(name=name)
    return planned


def main(argv: list[str]) -> None:
    """Read the command line and defer a broadcast."""
    parser = argparse.ArgumentParser(description="Defer one shared broadcast.")
    parser.add_argument("name", help="the broadcast's name in the journal")
    parser.add_argument("recipients", type=Path, help="one number a line")
    parser.add_argument("message", help="the text")
    parser.add_argument("--workers", type=int, default=3, help="jobs to share it")
    args = parser.parse_args(argv)
    numbers = [
        line.strip()
        for line in args.recipients.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    planned = anyio.run(
        lambda: start_broadcast(args.name, numbers, args.message, workers=args.workers)
    )
    for result in planned.results:  # invalid and duplicate rows
        print(f"line {result.index + 1}: {result.phone_number!r} {result.status}")
    print(f"planned {args.name!r}; deferred {args.workers} jobs to send it")


if __name__ == "__main__":
    main(sys.argv[1:])
