"""Many worker processes on one broadcast: a SIGKILL, a late joiner, another
machine, and one rate limit for them all.

The issue's proofs, end to end: every worker is a process of its own
(shared_worker.py, or the ``iprogsms`` command), the journal a real
PostgreSQL, the gateway a `FakeGateway` served over loopback HTTP with
latency, which tells the workers apart by the path prefix of their base URL
(`WireLog` with ``workers=True``); the rate limit a real Redis, measured at a
gateway that stamps each arrival with its own clock (tests/stamping.py).
Each test prints its figures (run with ``-s`` to see them); README.md and
docs/scaling.md quote them.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import pytest

from iprogsms_async.testing import FakeGateway, Faults
from iprogsms_async.testing.wire import serve_in_thread

from ..loopback import Forwarder, base_url, serve
from ..shared_runs import (
    FINAL_STATES,
    Processes,
    clean_environ,
    journal_rows,
    query,
    recipients,
    wait_for,
    worker_url,
)
from ..stamping import Arrivals, busiest_second
from ._wire_log import WireLog

pytestmark = pytest.mark.slow
needs_proc = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

WORKER = "tests/reliability/shared_worker.py"
# A send waits 20-60 ms at the gateway before it is accepted: a kill finds
# some on the wire.
LATENCY = Faults(latency=(0.02, 0.06), endpoints="sends")
# Short leases, so that a dead worker's claims and sends are taken up soon.
OPTIONS = {"lease": 3.0, "poll_interval": 0.5}


class Workers:
    """Starts shared_worker.py processes of one broadcast, each as ``wN``."""

    def __init__(self, runs, url, token, journal, name, options=OPTIONS):
        self.runs = runs
        self.base_url = url
        self.token = token
        self.journal = journal
        self.name = name
        self.options = options

    def start(self, worker, *, concurrency, count=None):
        argv = ["python", WORKER, self.journal, self.name, worker, str(concurrency),
                json.dumps(self.options)]  # fmt: skip
        if count is not None:
            argv.append(str(count))
        env = clean_environ(
            IPROGSMS_API_TOKEN=self.token,
            IPROGSMS_BASE_URL=worker_url(self.base_url, worker),
        )
        return self.runs.start(worker, argv, env)

    def report(self, worker):
        """The counts the worker printed as it ended (exit code 0 checked)."""
        assert self.runs.wait(worker) == 0, self.runs.output(worker)
        return json.loads(self.runs.output(worker).strip().splitlines()[-1])


class Stopped(NamedTuple):
    """What the gateway had of a worker frozen with SIGSTOP."""

    sent: set[str]
    unanswered: set[str]


def stop_with_sends_on_the_wire(runs, wire, fake, worker, count):
    """Freeze ``worker`` (SIGSTOP) with sends on the wire, ``count`` texts in.

    Frozen, it reads no answer and records nothing more, so what the gateway
    has not answered by then is certainly unknown to its journal. If the
    gateway had answered them all by the time the signal landed, it runs on
    (SIGCONT) and is stopped again a moment later.
    """
    process = runs.started[worker]
    while True:
        wait_for(
            lambda: len(fake.messages) >= count and wire.in_flight(worker),
            f"{count} texts sent, and the worker's sends on the wire",
        )
        process.send_signal(signal.SIGSTOP)
        wait_for(lambda: _state(process.pid) == "T", "the worker to stop")
        unanswered = wire.in_flight(worker)
        if unanswered:
            return Stopped(set(wire.sent_by[worker]), unanswered)
        process.send_signal(signal.SIGCONT)


def check_settled_once(rows, numbers, texts, attempts, unknown, interrupted):
    """Every recipient has one final result, and nobody was texted twice.

    ``unknown`` may hold only sends of the ``interrupted`` workers (on the
    wire, or sent with the outcome not yet recorded, when they stopped), or
    sends started that never reached the gateway; every other recipient is
    delivered, with one text.
    """
    assert set(rows) == set(numbers)
    assert {state for state, _ in rows.values()} <= FINAL_STATES
    assert max(texts.values()) == 1  # nobody holds two texts
    assert max(attempts.values()) == 1  # nobody's send was even tried twice
    assert unknown <= interrupted | (set(numbers) - set(attempts))
    for number, (state, status) in rows.items():
        if number not in unknown:
            assert (state, status) == ("final", "delivered"), number
            assert texts[number] == 1, number


def _state(pid):
    """A process's state letter from /proc (``T``: stopped by a signal)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def held(fake):
    return Counter(m.phone_number for m in fake.messages)


# --- a worker killed, another joining ----------------------------------------------


COUNT = 20_000
CONCURRENCY = 10
BATCH = 20


@needs_proc
@pytest.mark.timeout(300)
def test_four_workers_one_killed_one_joining_text_everyone_once(tmp_path, postgres_url):
    fake = FakeGateway(credits=10_000_000, seed=14, faults=LATENCY)
    wire = WireLog(fake.app, workers=True)
    numbers = recipients(COUNT)
    runs = Processes(tmp_path)
    started = time.monotonic()
    try:
        with serve_in_thread(wire) as url:
            workers = Workers(runs, url, fake.token, postgres_url, "june-bills",
                              options={**OPTIONS, "batch_size": BATCH})  # fmt: skip
            # Two are given the input (it is planned once), two join without.
            for worker, count in (("w1", COUNT), ("w2", COUNT), ("w3", None),
                                  ("w4", None)):  # fmt: skip
                workers.start(worker, concurrency=CONCURRENCY, count=count)
            victim = "w2"
            stopped = stop_with_sends_on_the_wire(runs, wire, fake, victim, COUNT // 3)
            runs.started[victim].send_signal(signal.SIGKILL)
            assert runs.wait(victim) == -signal.SIGKILL
            killed_at = time.monotonic() - started
            texted_at_kill = len(fake.messages)
            workers.start("w5", concurrency=CONCURRENCY)  # joins late
            reports = {w: workers.report(w) for w in ("w1", "w3", "w4", "w5")}
    finally:
        runs.stop_all()
    elapsed = time.monotonic() - started
    cpu = _cpu_seconds()

    rows = journal_rows(postgres_url, "june-bills")
    unknown = {n for n, (state, _) in rows.items() if state == "unknown"}
    texts = held(fake)
    attempts = wire.snapshot()
    # On the wire at the kill: unanswered when the victim was stopped, or
    # written by it before the stop and read by the gateway only after it.
    sent_by_victim = set(wire.sent_by[victim])
    on_the_wire = stopped.unanswered | (sent_by_victim - stopped.sent)
    sent = {w: len(wire.sent_by[w]) for w in sorted(wire.sent_by)}
    figures = {
        "recipients": COUNT,
        "texts sent by each worker": sent,
        "texted when w2 was killed": texted_at_kill,
        "w2's sends on the wire at the kill": len(on_the_wire),
        "unknown (w2's, never resent)": len(unknown),
        "  of which reached the gateway": len(unknown & set(texts)),
        "  of which never left w2": len(unknown - set(attempts)),
        "delivered": sum(1 for _, status in rows.values() if status == "delivered"),
        "numbers texted twice": sum(1 for v in texts.values() if v > 1),
        "seconds to the kill, in all": (round(killed_at, 1), round(elapsed, 1)),
        "CPU seconds: workers, gateway and test": cpu,
        "largest worker's peak memory (MiB)": _peak_mib(),
    }
    _print("4 workers, one SIGKILLed, one joining late", figures)

    check_settled_once(rows, numbers, texts, attempts, unknown, sent_by_victim)
    # The victim's sends on the wire at the kill are unknown, never resent.
    assert on_the_wire
    assert on_the_wire <= unknown
    settled = Counter()
    for report in reports.values():
        settled.update(report)
    # The live workers reported the rest (the victim's own reports died with
    # it), the unknown ones included: they reaped them.
    assert sum(settled.values()) <= COUNT
    assert settled["unknown"] == len(unknown)
    assert sent["w5"] > 0  # the late joiner took its share


def _cpu_seconds():
    """CPU seconds used so far by the processes this test waited for, and by it."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return (
        round(children.ru_utime + children.ru_stime, 1),
        round(own.ru_utime + own.ru_stime, 1),
    )


def _peak_mib():
    """The peak resident memory of the largest process this test waited for."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def _print(title, figures):
    print(f"\n{title}:")  # noqa: T201
    for name, value in figures.items():
        print(f"  {name:48} {value}")  # noqa: T201


# --- one rate limit for the four ------------------------------------------------------


RATE, BURST = 20, 2
JITTER = 0.2
"""Seconds of arrival jitter the windows tolerate: RATE * JITTER requests
(as tests/test_redis_ratelimit.py)."""
LIMITED = 160
REFUSED = 40
"""The index of the send the gateway refuses with 429 and Retry-After: 2."""


def test_four_workers_share_one_rate_limit_and_one_pause(
    tmp_path, postgres_url, redis_url, redis_key
):
    arrivals = Arrivals(refuse={REFUSED}, retry_after=2)
    names = [f"w{k}" for k in range(1, 5)]
    routes = {f"/{w}/api/v1/sms_messages": arrivals for w in names}
    runs = Processes(tmp_path)
    limit = [redis_url, redis_key, RATE, BURST]
    options = {"lease": 3.0, "poll": False, "redis": limit}
    try:
        with serve(routes, root="") as server:
            workers = Workers(runs, base_url(server), "tok-rate-1234567890",
                              postgres_url, "limited", options)  # fmt: skip
            for worker in names:
                workers.start(worker, concurrency=4, count=LIMITED)
            reports = {w: workers.report(w) for w in names}
    finally:
        runs.stop_all()

    numbers = recipients(LIMITED)
    [refused_at] = arrivals.refused
    after = sorted(a.time - refused_at for a in arrivals.log if a.time > refused_at)
    by_worker = Counter(a.worker for a in arrivals.log if not a.refused)
    before_pause = {a.worker for a in arrivals.log if a.time < refused_at}
    after_pause = {a.worker for a in arrivals.log if a.time > refused_at + 1.8}
    figures = {
        "recipients, rate limit": (LIMITED, f"{RATE}/s + burst {BURST}"),
        "sends answered 200, by worker": dict(sorted(by_worker.items())),
        "busiest one-second window": busiest_second(arrivals.times),
        "arrivals 0.5-1.8 s after the 429": sum(1 for t in after if 0.5 < t < 1.8),
        "next arrival after the 429 (s)": round(min(t for t in after if t > 0.5), 3),
        "workers sending before / after it": (len(before_pause), len(after_pause)),
    }
    _print("4 workers, one shared rate limit over Redis", figures)

    assert arrivals.texts() == dict.fromkeys(numbers, 1)  # each once, the 429 retried
    assert sum(sum(r.values()) for r in reports.values()) == LIMITED
    # Together, never more than the rate (plus the burst) in any second.
    assert busiest_second(arrivals.times) <= RATE + BURST + RATE * JITTER
    # The 429 paused all four: sends already past the limit may arrive just
    # after it; then nothing from any worker until the pause is nearly over.
    assert [t for t in after if 0.5 < t < 1.8] == []
    assert before_pause == after_pause == set(names)
    rows = journal_rows(postgres_url, "limited")
    assert set(rows) == set(numbers)


# --- resumed on "another machine" ---------------------------------------------


RESUMED = 1_500


@needs_proc
def test_a_new_process_in_an_empty_directory_resumes_from_postgresql(
    tmp_path, postgres_url
):
    fake = FakeGateway(credits=10_000_000, seed=15, faults=LATENCY)
    wire = WireLog(fake.app, workers=True)
    numbers = recipients(RESUMED)
    runs = Processes(tmp_path)
    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    try:
        with serve_in_thread(wire) as url:
            workers = Workers(runs, url, fake.token, postgres_url, "resumed")
            workers.start("w1", concurrency=10, count=RESUMED)
            stopped = stop_with_sends_on_the_wire(runs, wire, fake, "w1", RESUMED // 3)
            runs.started["w1"].send_signal(signal.SIGKILL)
            assert runs.wait("w1") == -signal.SIGKILL
            texted_at_kill = len(fake.messages)
            # Nothing of the first run's: no file, no input, a home of its own.
            command = [str(Path(sys.executable).with_name("iprogsms")),
                       "broadcast", "work", "--journal", postgres_url,
                       "--name", "resumed", "--concurrency", "10"]  # fmt: skip
            env = clean_environ(
                IPROGSMS_API_TOKEN=fake.token,
                IPROGSMS_BASE_URL=worker_url(url, "w2"),
                HOME=str(elsewhere),
            )
            runs.start("w2", command, env, cwd=elsewhere)
            code = runs.wait("w2")
    finally:
        runs.stop_all()

    rows = journal_rows(postgres_url, "resumed")
    unknown = {n for n, (state, _) in rows.items() if state == "unknown"}
    texts = held(fake)
    attempts = wire.snapshot()
    sent_by_first = set(wire.sent_by["w1"])
    on_the_wire = stopped.unanswered | (sent_by_first - stopped.sent)
    figures = {
        "recipients": RESUMED,
        "texted by the first process before its SIGKILL": texted_at_kill,
        "its sends on the wire at the kill": len(on_the_wire),
        "texted by the new process (empty directory)": len(wire.sent_by["w2"]),
        "unknown (never resent)": len(unknown),
        "delivered": sum(1 for _, status in rows.values() if status == "delivered"),
        "numbers texted twice": sum(1 for v in texts.values() if v > 1),
        "files the new process left in its directory": len(list(elsewhere.iterdir())),
    }
    _print("a broadcast resumed by a new process in an empty directory", figures)

    # Exit 4: finished, with recipients not delivered (the unknown ones).
    assert code == 4, runs.output("w2")
    assert list(elsewhere.iterdir()) == []
    check_settled_once(rows, numbers, texts, attempts, unknown, sent_by_first)
    assert wire.sent_by["w2"]  # it continued the broadcast
    assert not set(wire.sent_by["w2"]) & sent_by_first
    assert on_the_wire
    assert on_the_wire <= unknown


# --- PostgreSQL lost mid-run ------------------------------------------------------


LOST = 1_200
TERMINATE = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'iprogsms'
  AND pid <> pg_backend_pid()
"""


def test_postgresql_lost_mid_run_stops_the_workers_and_new_ones_continue(
    tmp_path, postgres_url
):
    fake = FakeGateway(credits=10_000_000, seed=16, faults=LATENCY)
    wire = WireLog(fake.app, workers=True)
    numbers = recipients(LOST)
    runs = Processes(tmp_path)
    try:
        with serve_in_thread(wire) as url:
            workers = Workers(runs, url, fake.token, postgres_url, "lost")
            workers.start("w1", concurrency=10, count=LOST)
            workers.start("w2", concurrency=10)
            wait_for(lambda: len(fake.messages) >= LOST // 3, "a third texted")
            # Every session of the workers ends, as when the server goes away.
            query(postgres_url, TERMINATE)
            codes = [runs.wait("w1"), runs.wait("w2")]
            texted_at_loss = len(fake.messages)
            sent_before = {n for w in ("w1", "w2") for n in wire.sent_by[w]}
            workers.start("w3", concurrency=10)
            workers.start("w4", concurrency=10)
            reports = [workers.report("w3"), workers.report("w4")]
    finally:
        runs.stop_all()

    rows = journal_rows(postgres_url, "lost")
    unknown = {n for n, (state, _) in rows.items() if state == "unknown"}
    texts = held(fake)
    attempts = wire.snapshot()
    figures = {
        "recipients": LOST,
        "texted when PostgreSQL was lost": texted_at_loss,
        "texted by the workers started after": len(texts) - texted_at_loss,
        "unknown (in flight at the loss, never resent)": len(unknown),
        "delivered": sum(1 for _, status in rows.values() if status == "delivered"),
        "numbers texted twice": sum(1 for v in texts.values() if v > 1),
    }
    _print("PostgreSQL lost mid-run, then new workers", figures)

    # Both stopped with the journal's error, rather than sending unrecorded.
    assert all(code != 0 for code in codes)
    for worker in ("w1", "w2"):
        assert "JournalError" in runs.output(worker)
    assert sum(sum(r.values()) for r in reports) > 0
    # Only sends of the first workers may be unknown: what was on the wire,
    # or sent and not yet recorded, when their sessions ended.
    check_settled_once(rows, numbers, texts, attempts, unknown, sent_before)


# --- Redis lost mid-run -------------------------------------------------------------


def test_redis_lost_mid_run_stops_the_workers_sending_nothing_in_doubt(
    tmp_path, postgres_url, redis_url, redis_key
):
    fake = FakeGateway(credits=10_000_000, seed=17, faults=LATENCY)
    wire = WireLog(fake.app, workers=True)
    numbers = recipients(LOST)
    runs = Processes(tmp_path)
    redis = Forwarder(urlsplit(redis_url).port)
    through = redis_url.replace(f":{redis.target}", f":{redis.port}")
    # A limit the workers seldom wait for: what matters is that each request
    # asks Redis first.
    options = {**OPTIONS, "redis": [through, redis_key, 2000, 200]}
    try:
        with serve_in_thread(wire) as url:
            workers = Workers(runs, url, fake.token, postgres_url, "no-redis", options)
            workers.start("w1", concurrency=10, count=LOST)
            workers.start("w2", concurrency=10)
            wait_for(lambda: len(fake.messages) >= LOST // 3, "a third texted")
            redis.cut()
            codes = [runs.wait("w1"), runs.wait("w2")]
            texted_at_loss = len(fake.messages)
            left = Counter(
                s for s, _ in journal_rows(postgres_url, "no-redis").values()
            )
            redis.mend()
            workers.start("w3", concurrency=10)
            workers.start("w4", concurrency=10)
            reports = [workers.report("w3"), workers.report("w4")]
    finally:
        runs.stop_all()
        redis.close()

    rows = journal_rows(postgres_url, "no-redis")
    texts = held(fake)
    figures = {
        "recipients": LOST,
        "texted when Redis was lost": texted_at_loss,
        "rows then, by state": dict(sorted(left.items())),
        "texted by the workers started after": len(texts) - texted_at_loss,
        "unknown at the end": sum(1 for s, _ in rows.values() if s == "unknown"),
        "numbers texted twice": sum(1 for v in texts.values() if v > 1),
    }
    _print("Redis lost mid-run, then new workers", figures)

    assert all(code != 0 for code in codes)
    for worker in ("w1", "w2"):
        assert "cannot reach Redis" in runs.output(worker)
    # A send waits for the shared limit before it goes out: without Redis,
    # none went out, none is in doubt, and the stopped workers handed what
    # they held back to be sent (planned) or polled (accepted, let go).
    assert set(left) <= {"planned", "accepted", "final"}
    assert left["planned"] > 0
    assert sum(sum(r.values()) for r in reports) > 0
    assert Counter(rows.values()) == {("final", "delivered"): LOST}
    assert texts == dict.fromkeys(numbers, 1)
