"""Every benchmark script runs, at a tiny size, and prints its table.

So the benchmarks cannot rot. Nothing here looks at a number: timings on a
shared machine prove nothing in a test. Each script starts its own stub
server on 127.0.0.1.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

pytestmark = pytest.mark.slow

RUNS = {
    "bench_ab.py": [
        "--n", "20", "--rounds", "1", "--processes", "2", "--concurrency", "4",
        "--latency-ms", "0",
    ],
    "bench_request_cpu.py": ["--n", "30", "--rounds", "1", "--concurrency", "3"],
    "bench_cli_startup.py": ["--runs", "1"],
    "bench_broadcast.py": ["--n", "40", "--concurrency", "4", "--latency-ms", "0,5"],
    "bench_memory.py": ["--n", "60", "--concurrency", "4"],
    "bench_fair.py": [
        "--n", "20", "--rounds", "1", "--concurrency", "4", "--latency-ms", "0",
        "--pools", "2",
    ],
    "bench_engine.py": [
        "--n", "20", "--rounds", "1", "--concurrency", "4", "--profile", "--top", "5",
    ],
    # Their PostgreSQL rows run when IPROGSMS_TEST_POSTGRES_URL names a server.
    "bench_journal_stores.py": [
        "--n", "40", "--rounds", "1", "--latency-ms", "0,2", "--concurrency", "4",
    ],
    "bench_journal_broadcast.py": [
        "--n", "30", "--rounds", "1", "--latency-ms", "0", "--concurrency", "4",
    ],
    "profile_broadcast.py": ["--n", "40", "--concurrency", "4", "--top", "5"],
    "bench_stale_connections.py": ["--n", "40", "--batches", "2", "--batch-size", "4"],
    "bench_transports.py": [
        "--n", "30", "--rounds", "1", "--latency-ms", "0", "--concurrency", "4",
        "--limits", "2",
    ],
}  # fmt: skip


# Scripts with PostgreSQL rows: in CI (`CI=true`), where .ci/run starts a
# server, they must measure it rather than say there is none.
POSTGRES = {"bench_journal_stores.py", "bench_journal_broadcast.py"}


# More runs of a script that has several paths, each a list of arguments.
EXTRA_RUNS = [
    (
        "bench_memory.py",
        ["--n", "60", "--checkpoint", "20", "--transport", "null",
         "--no-deduplicate", "--modes", "floor,stream"],
    ),
    (
        "bench_request_cpu.py",
        ["--n", "20", "--rounds", "1", "--concurrency", "1", "--backends", "aiohttp"],
    ),
    (
        "bench_journal_broadcast.py",
        ["--n", "20", "--rounds", "1", "--latency-ms", "0", "--concurrency", "4",
         "--no-poll", "--journals", "sqlite"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "arguments"),
    [*sorted(RUNS.items()), *EXTRA_RUNS],
    ids=[*sorted(RUNS), *(f"{name}-extra" for name, _ in EXTRA_RUNS)],
)
def test_the_benchmark_runs_and_prints_its_table(script, arguments):
    result = subprocess.run(
        [sys.executable, "-W", "error", str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# ")
    assert any(line.startswith("| --- |") for line in lines), result.stdout
    assert "machine:" in result.stdout
    if script in POSTGRES and os.environ.get("CI") == "true":
        assert "no PostgreSQL server" not in result.stdout, result.stdout


def test_every_script_is_smoke_tested():
    scripts = {
        path.name
        for path in BENCHMARKS.glob("*.py")
        if path.name not in {"_harness.py", "stub_gateway.py"}
    }
    assert scripts == set(RUNS)


@pytest.mark.parametrize("script", sorted(RUNS))
def test_every_script_has_a_quick_size(script):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--quick" in result.stdout
