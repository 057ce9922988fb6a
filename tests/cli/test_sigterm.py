"""SIGTERM stops a broadcast as Ctrl-C does: it drains, and nothing is in doubt.

It is how Kubernetes, systemd and ``docker stop`` stop a process; the
recipes of docs/scaling.md count on it. Run as separate processes of the
console command, against the fake gateway over loopback HTTP.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing

import pytest

from iprogsms_async.cli import ExitCode
from iprogsms_async.testing import FakeGateway, Faults

from ..shared_runs import journal_rows

CLI = [sys.executable, "-m", "iprogsms_async.cli"]
WAIT = 60.0

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGTERM to a child")


def start(argv, base_url, token):
    env = {
        **os.environ,
        "IPROGSMS_BASE_URL": base_url,
        "IPROGSMS_API_TOKEN": token,
        "COLUMNS": "200",
    }
    pipe = subprocess.PIPE
    return subprocess.Popen([*CLI, *argv], env=env, stdout=pipe, stderr=pipe, text=True)


def terminate_after(process, fake, texts):
    """SIGTERM ``process`` once the gateway holds ``texts`` texts; its stderr."""
    deadline = time.monotonic() + WAIT
    while len(fake.messages) < texts and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=WAIT)
    return err


def test_sigterm_drains_a_broadcast_and_the_resume_sends_the_rest(tmp_path):
    fake = FakeGateway(seed=11, faults=Faults(latency=0.03, endpoints="sends"))
    numbers = [f"0917600{i:04d}" for i in range(300)]
    recipients = tmp_path / "r.txt"
    recipients.write_text("".join(f"{n}\n" for n in numbers))
    journal = tmp_path / "j.sqlite"
    argv = ["broadcast", str(recipients), "-m", "Hi", "--journal", str(journal),
            "--concurrency", "4", "--no-poll"]  # fmt: skip
    with fake.serve_in_thread() as base_url:
        err = terminate_after(start(argv, base_url, fake.token), fake, 40)
        with closing(sqlite3.connect(journal)) as db:
            states = Counter(s for (s,) in db.execute("SELECT state FROM recipients"))
        resumed = start(argv, base_url, fake.token)
        _, resumed_err = resumed.communicate(timeout=WAIT)
    assert "Stopping (SIGTERM)" in err
    assert "none is in doubt" in err
    assert states["sending"] == 0  # drained: every send on the wire recorded
    assert 40 <= states["accepted"] < 300
    assert resumed.returncode == ExitCode.OK, resumed_err
    assert Counter(m.phone_number for m in fake.messages) == dict.fromkeys(numbers, 1)


def test_sigterm_stops_a_shared_worker_and_hands_its_rows_back(tmp_path, postgres_url):
    fake = FakeGateway(seed=12, faults=Faults(latency=0.03, endpoints="sends"))
    numbers = [f"0917700{i:04d}" for i in range(300)]
    recipients = tmp_path / "july.txt"
    recipients.write_text("".join(f"{n}\n" for n in numbers))
    # A lease of ten minutes: had the stopped worker not handed its claims
    # and polls back, the next one would wait that long for them.
    common = ["--journal", postgres_url, "--name", "july", "--concurrency", "4",
              "--lease", "600"]  # fmt: skip
    with fake.serve_in_thread() as base_url:
        first = start(
            ["broadcast", str(recipients), "-m", "Hi", "--shared", *common],
            base_url,
            fake.token,
        )
        err = terminate_after(first, fake, 40)
        rows = journal_rows(postgres_url, "july")
        left = Counter(state for state, _ in rows.values())
        second = start(["broadcast", "work", *common], base_url, fake.token)
        _, second_err = second.communicate(timeout=WAIT)
    assert first.returncode == ExitCode.INTERRUPTED, err
    assert "Stopping (SIGTERM)" in err
    assert left["sending"] == left["claimed"] == 0
    assert second.returncode == ExitCode.OK, second_err
    rows = journal_rows(postgres_url, "july")
    assert Counter(rows.values()) == {("final", "delivered"): 300}
    assert Counter(m.phone_number for m in fake.messages) == dict.fromkeys(numbers, 1)
