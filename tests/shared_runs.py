"""Helpers for the tests that run one shared broadcast in several processes.

The processes are real (subprocess), their journal a real PostgreSQL, the
gateway a `FakeGateway` served over loopback HTTP and wrapped in a
`WireLog` that tells the processes apart by the path prefix of their base
URL (``.../w1/api/v1``). Used by tests/examples/test_procrastinate.py and
tests/reliability/test_shared_workers.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ROOT = Path(__file__).resolve().parents[1]
FINAL_STATES = frozenset({"final", "unknown"})


def recipients(count: int) -> list[str]:
    """The broadcast's recipients: ``count`` distinct valid numbers, in order."""
    return [f"09{180_000_000 + i:09d}" for i in range(count)]


def worker_url(base_url: str, worker: str) -> str:
    """The base URL ``.../WORKER/api/v1`` for one process, on the same server."""
    root = base_url.removesuffix("/api/v1")
    return f"{root}/{worker}/api/v1"


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without IPROGSMS_ settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPROGSMS_")}
    return {**env, **extra}


def wait_for(condition: Callable[[], object], what: str, timeout: float = 90) -> None:
    """Poll ``condition`` until true; fail the test, naming ``what``, at ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def journal_rows(url: str, name: str) -> dict[str, tuple[str, str | None]]:
    """Each number's row of the broadcast ``name``: (state, status)."""
    import psycopg  # noqa: PLC0415 -- only with a PostgreSQL server

    with closing(psycopg.connect(url, autocommit=True)) as db:
        rows = db.execute(
            "SELECT phone_number, state, status FROM iprogsms_recipients "
            "WHERE broadcast = %s",
            (name,),
        ).fetchall()
    return {number: (state, status) for number, state, status in rows}


def query(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    """The rows of one query on ``url``."""
    import psycopg  # noqa: PLC0415 -- only with a PostgreSQL server

    with closing(psycopg.connect(url, autocommit=True)) as db:
        return db.execute(sql, params).fetchall()


class Processes:
    """Started processes, each with its stderr in a file; all ended at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        label: str,
        argv: list[str],
        env: Mapping[str, str],
        cwd: Path = ROOT,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` (``python`` is this interpreter) as ``label``."""
        if argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        with (self.folder / f"{label}.stderr").open("wb") as stderr:
            process = subprocess.Popen(
                argv, cwd=cwd, env=dict(env), stdout=stderr, stderr=stderr
            )
        self.started[label] = process
        return process

    def output(self, label: str) -> str:
        """What ``label`` wrote so far (stdout and stderr)."""
        return (self.folder / f"{label}.stderr").read_text(errors="replace")

    def wait(self, label: str, timeout: float = 90) -> int:
        """Wait for ``label`` to end; its exit code."""
        try:
            return self.started[label].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{label} did not end within {timeout:g} s")

    def stop_all(self) -> None:
        """Kill whatever still runs (a failed test's leftovers)."""
        for process in self.started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
