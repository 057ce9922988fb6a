"""Crash and resume: a journaled broadcast killed with SIGKILL, then run again.

The broadcast runs in a subprocess (crash_runner.py) against a fake gateway
served by this process over loopback HTTP. It is killed at a chosen point and
rerun on the same journal until it completes. Afterwards no recipient holds
more than one text, everyone not in flight at a kill holds exactly one, and
those in flight (rows the kill left in state ``sending``) are reported
``unknown`` and were never sent again.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from iprogsms_async.testing import FakeGateway, Faults
from iprogsms_async.testing.wire import serve_in_thread

from ._wire_log import WireLog
from .crash_runner import recipients

if TYPE_CHECKING:
    from collections.abc import Callable

RUNNER = Path(__file__).with_name("crash_runner.py")
SENDS = ("POST /sms_messages", "POST /sms_messages/send_bulk")
WAIT = 60.0  # seconds: far more than any run needs; only a hang gets near it

pytestmark = pytest.mark.slow


class Kill(NamedTuple):
    backend: str
    when: Callable[[FakeGateway, WireLog, int], bool]


class Scenario(NamedTuple):
    count: int
    concurrency: int
    batch_size: int | None
    faults: Faults
    kills: list[Kill]
    final_backend: str


def at_the_first_send(fake, wire, count):
    return sum(fake.requests[name] for name in SENDS) >= 1


def texted(share):
    """Once the gateway holds ``share`` of the texts, and one of them is still
    unanswered: it was accepted, but the runner cannot know yet."""

    def when(fake, wire, count):
        messages = fake.messages
        if len(messages) < count * share:
            return False
        answered = wire.snapshot()
        return any(not answered.get(m.phone_number) for m in messages)

    return when


def bulk_sends(n):
    def when(fake, wire, count):
        return fake.requests["POST /sms_messages/send_bulk"] >= n and fake.in_flight

    return when


# A send waits 20-60 ms before the gateway acts on it; a third of them are
# then answered 0.3 s late, so a kill often lands after the text went out.
MIXED = Faults(latency=(0.02, 0.06), slow=0.35, slow_seconds=0.3, endpoints="sends")

SCENARIOS = {
    # Intents are committed, requests are on the wire, no outcome is written.
    "before-the-first-outcome-commit": Scenario(
        150,
        30,
        None,
        Faults(latency=0.3, endpoints="sends"),
        [Kill("asyncio", at_the_first_send)],
        "trio",
    ),
    "mid-run": Scenario(200, 10, None, MIXED, [Kill("trio", texted(0.5))], "asyncio"),
    "mid-batch": Scenario(400, 4, 10, MIXED, [Kill("asyncio", bulk_sends(20))], "trio"),
    "killed-twice": Scenario(
        200,
        10,
        None,
        MIXED,
        [Kill("asyncio", texted(0.3)), Kill("trio", texted(0.7))],
        "asyncio",
    ),
}


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


def read_journal(path):
    """Each number's row as the killed run left it: (state, message_id)."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT phone_number, state, message_id FROM recipients")
        return {number: (state, message_id) for number, state, message_id in rows}


class Runs:
    """Starts crash_runner.py processes for one scenario."""

    def __init__(self, tmp_path, url, token, scenario):
        self.tmp_path = tmp_path
        self.url = url
        self.token = token
        self.scenario = scenario
        self.journal = tmp_path / "broadcast.sqlite"
        self.started = 0

    def start(self, backend):
        self.started += 1
        scenario = self.scenario
        results = self.tmp_path / f"results-{self.started}.json"
        argv = [
            sys.executable,
            str(RUNNER),
            backend,
            self.url,
            str(self.journal),
            str(results),
            str(scenario.count),
            str(scenario.concurrency),
        ]
        if scenario.batch_size is not None:
            argv.append(str(scenario.batch_size))
        stderr = (self.tmp_path / f"stderr-{self.started}.txt").open("w")
        env = {**_environ(), "IPROGSMS_API_TOKEN": self.token}
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
        stderr.close()
        return process, results

    def stderr(self):
        return (self.tmp_path / f"stderr-{self.started}.txt").read_text()


def _environ():
    return {k: v for k, v in os.environ.items() if not k.startswith("IPROGSMS_")}


def kill_at(runs, kill, fake, wire):
    """Start a run, and SIGKILL it once ``kill.when`` holds."""
    process, _ = runs.start(kill.backend)
    count = runs.scenario.count
    try:
        wait_for(
            lambda: kill.when(fake, wire, count) or process.poll() is not None,
            "the kill point",
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, runs.stderr()
    # The server lets go of the dead runner's requests.
    wait_for(lambda: fake.in_flight == 0, "the gateway to settle")


def check_after_kill(runs, kill, fake, numbers):
    """What the kill left: return the numbers whose send was in flight."""
    rows = read_journal(runs.journal)
    held = Counter(m.phone_number for m in fake.messages)
    by_id = {m.message_id: m for m in fake.messages}
    assert {state for state, _ in rows.values()} <= {"sending", "accepted"}
    # The journal knew of every text before it went out.
    assert set(held) <= set(rows)
    for number, (state, message_id) in rows.items():
        if state == "accepted":
            assert by_id[message_id].phone_number == number
    sending = {n for n, (state, _) in rows.items() if state == "sending"}
    if kill.when is at_the_first_send:
        assert set(rows.values()) == {("sending", None)}
        assert fake.messages == []
    size = runs.scenario.batch_size
    if size is not None:
        # A chunk is intended and recorded as a whole.
        chunks = {numbers.index(n) // size for n in sending}
        assert sending == {
            numbers[i] for c in chunks for i in range(c * size, c * size + size)
        }
    return sending, held


@pytest.mark.parametrize("name", SCENARIOS)
def test_killed_and_resumed_nobody_is_texted_twice(tmp_path, name):
    scenario = SCENARIOS[name]
    numbers = recipients(scenario.count)
    fake = FakeGateway(credits=1_000_000, seed=9, faults=scenario.faults)
    wire = WireLog(fake.app)
    in_flight: set[str] = set()
    texted_in_flight = 0
    with serve_in_thread(wire) as url:
        runs = Runs(tmp_path, url, fake.token, scenario)
        for kill in scenario.kills:
            kill_at(runs, kill, fake, wire)
            sending, held = check_after_kill(runs, kill, fake, numbers)
            assert sending - in_flight, "the kill landed with nothing in flight"
            texted_in_flight += sum(1 for n in sending - in_flight if held[n])
            in_flight |= sending
        held_at_kill = Counter(m.phone_number for m in fake.messages)
        sends_at_kill = wire.snapshot()
        process, results_path = runs.start(scenario.final_backend)
        assert process.wait(timeout=WAIT) == 0, runs.stderr()

    results = json.loads(results_path.read_text())
    held = Counter(m.phone_number for m in fake.messages)
    message_of = {m.phone_number: m.message_id for m in fake.messages}
    sends = wire.snapshot()
    assert [r["index"] for r in results] == list(range(scenario.count))
    assert [r["phone_number"] for r in results] == numbers
    assert max(held.values()) == 1  # nobody holds two texts
    assert max(sends.values()) == 1  # nobody's send was even attempted twice
    for result in results:
        number = result["phone_number"]
        if number in in_flight:
            assert result["status"] == "unknown", result
            assert result["error"] == "InterruptedSendError", result
            assert result["maybe_sent"] is True
            assert result["message_id"] is None
            # Never sent again after the kill.
            assert held[number] == held_at_kill[number] <= 1
            assert sends.get(number, 0) == sends_at_kill.get(number, 0)
        else:
            assert held[number] == 1, result
            assert result["status"] == "accepted", result
            assert result["message_id"] == message_of[number]
    assert in_flight < set(numbers)
    if name != "before-the-first-outcome-commit":
        # Some text went out while its send was in flight at a kill: the
        # journal could not know, so it is reported unknown, not resent.
        assert texted_in_flight > 0
