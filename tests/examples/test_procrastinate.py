"""The procrastinate example: one broadcast over three real worker processes.

Started as its docstring says: procrastinate's own command applies its
schema and runs three workers (``procrastinate --app=... worker``), the
example's command line defers the broadcast, all against a real PostgreSQL
(the journal and the queue in one database) and the fake gateway over
loopback HTTP. Each worker process is given its own base URL path, so the
gateway can tell which of them sent what. One worker is stopped with SIGTERM
mid-broadcast, as a rolling update would: its job drains and runs again.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from iprogsms_async.testing import FakeGateway, Faults
from iprogsms_async.testing.wire import serve_in_thread

from ..reliability._wire_log import WireLog
from ..shared_runs import (
    ROOT,
    Processes,
    clean_environ,
    journal_rows,
    query,
    recipients,
    wait_for,
    worker_url,
)

pytestmark = pytest.mark.slow

APP = "--app=examples.procrastinate_broadcast.app"
WORKERS = 3
COUNT = 2000
SIGTERM_AFTER = 200
"""Texts sent when one worker is stopped: few enough that much is left."""
MESSAGE = "Your bill is due on the 8th"


def procrastinate(*args):
    return ["python", "-m", "procrastinate", APP, *args]


def test_the_docstring_says_how_to_run_it():
    doc = (ROOT / "examples" / "procrastinate_broadcast.py").read_text().split('"""')[1]
    assert f"procrastinate {APP} schema --apply" in doc
    assert f"procrastinate {APP} worker --queues sms" in doc
    assert "--shutdown-graceful-timeout 5\n" in doc
    assert "python examples/procrastinate_broadcast.py june-bills numbers.txt" in doc


def test_three_worker_processes_share_one_broadcast(tmp_path, postgres_url):
    # The stopped worker's job must still be running when its 5 s grace ends,
    # whatever the CPU: stopped with at least SIGTERM_AFTER left to send, the
    # rest takes no less than (COUNT - SIGTERM_AFTER) / (3 * 20) * 0.25 = 7.5 s,
    # a floor set by the gateway's latency, not by how fast the machine is.
    latency = Faults(latency=(0.25, 0.3), endpoints="sends")
    fake = FakeGateway(credits=100_000, seed=3, faults=latency)
    wire = WireLog(fake.app, workers=True)
    numbers = recipients(COUNT)
    listing = tmp_path / "numbers.txt"
    listing.write_text("\n".join(numbers) + "\n")
    runs = Processes(tmp_path)
    env = clean_environ(IPROGSMS_JOURNAL_URL=postgres_url)
    try:
        with serve_in_thread(wire) as base_url:
            runs.start("schema", procrastinate("schema", "--apply"), env)
            assert runs.wait("schema") == 0, runs.output("schema")
            for k in range(1, WORKERS + 1):
                worker_env = {
                    **env,
                    "IPROGSMS_API_TOKEN": fake.token,
                    "IPROGSMS_BASE_URL": worker_url(base_url, f"w{k}"),
                }
                argv = procrastinate("worker", "--queues", "sms",
                                     "--shutdown-graceful-timeout", "5")  # fmt: skip
                runs.start(f"w{k}", argv, worker_env)
            # Every worker waits for jobs before any is deferred: each takes one.
            workers = "SELECT count(*) FROM procrastinate_workers"
            wait_for(
                lambda: query(postgres_url, workers) == [(WORKERS,)],
                "three procrastinate workers",
            )
            defer = ["python", "examples/procrastinate_broadcast.py", "june-bills",
                     str(listing), MESSAGE, "--workers", str(WORKERS)]  # fmt: skip
            runs.start("defer", defer, {**env, "IPROGSMS_API_TOKEN": fake.token})
            assert runs.wait("defer") == 0, runs.output("defer")
            assert "deferred 3 jobs" in runs.output("defer")
            # A rolling update stops one worker mid-broadcast: its job is
            # cancelled after 5 s, drains, and runs again later (on another).
            wait_for(
                lambda: len(fake.messages) >= SIGTERM_AFTER and wire.in_flight("w1"),
                "the first texts sent, and w1 sending",
            )
            runs.started["w1"].send_signal(signal.SIGTERM)
            assert runs.wait("w1") == 0, runs.output("w1")
            wait_for(
                lambda: (
                    query(
                        postgres_url,
                        "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                        "OR status = 'doing'",
                    )
                    == [(0,)]
                ),
                "the broadcast's jobs to end",
            )
            for k in range(2, WORKERS + 1):
                runs.started[f"w{k}"].send_signal(signal.SIGTERM)  # a graceful stop
            for k in range(2, WORKERS + 1):
                assert runs.wait(f"w{k}") == 0, runs.output(f"w{k}")
    finally:
        runs.stop_all()

    jobs = query(
        postgres_url,
        "SELECT task_name, status, attempts FROM procrastinate_jobs ORDER BY id",
    )
    assert {(name, status) for name, status, _ in jobs} == {
        ("sms.work_on_broadcast", "succeeded")
    }
    assert len(jobs) == WORKERS
    # The stopped worker's job ran again (and found nothing, or little, left).
    assert sorted(attempts for _, _, attempts in jobs) == [1, 1, 2]
    rows = journal_rows(postgres_url, "june-bills")
    assert set(rows) == set(numbers)
    # Nobody is unknown: the stopped worker drained its sends on the wire.
    assert Counter(rows.values()) == {("final", "delivered"): COUNT}
    held = Counter(m.phone_number for m in fake.messages)
    assert held == dict.fromkeys(numbers, 1)  # each texted, once
    assert {m.message for m in fake.messages} == {MESSAGE}
    # All three processes sent some of it, and no number went out twice.
    sent = {worker: len(wire.sent_by[worker]) for worker in wire.sent_by}
    assert sorted(sent) == [f"w{k}" for k in range(1, WORKERS + 1)]
    assert all(sent.values())
    assert sum(sent.values()) == COUNT
    print(f"\nprocrastinate, {WORKERS} worker processes: texts sent by each {sent}")  # noqa: T201
