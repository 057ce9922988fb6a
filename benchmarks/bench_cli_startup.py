"""How long the iprogsms command takes to start: --help, a mistake, a sandbox call.

Each case runs the command in a fresh process ``--runs`` times and reports
the median wall time, beside a bare ``python -c pass`` for the interpreter's
own start. The target: ``iprogsms --help`` under 300 ms. No network: the
sandbox case talks to the embedded fake gateway in-process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _harness as h

TARGET_MS = 300.0


def _command() -> list[str]:
    """The installed console script beside this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("iprogsms")
    if script.exists():
        return [str(script)]
    found = shutil.which("iprogsms")
    return [found] if found else [sys.executable, "-m", "iprogsms_async.cli"]


def _time(argv: list[str], runs: int) -> list[float]:
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("IPROGSMS_API_TOKEN", None)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False, env=env, timeout=120)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each case")
    args = h.parse_args(parser, quick={"runs": 5})
    cli = _command()
    cases = [
        ("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
        ("import iprogsms_async", [sys.executable, "-c", "import iprogsms_async"]),
        ("iprogsms --help", [*cli, "--help"]),
        ("iprogsms broadcast --help", [*cli, "broadcast", "--help"]),
        (
            "iprogsms demo --recipients -5 (refused)",
            [*cli, "demo", "--recipients", "-5"],
        ),
        ("iprogsms --sandbox credits", [*cli, "--sandbox", "credits"]),
    ]
    h.header(
        "Start-up of the iprogsms command",
        f"median wall time of {args.runs} fresh processes per case, "
        f"load average {os.getloadavg()[0]:.1f} at the start, command: "
        f"{' '.join(Path(part).name for part in cli)}",
    )
    rows = []
    for name, argv in cases:
        times = _time(argv, args.runs)
        median = h.median(times)
        target = (
            f"< {TARGET_MS:.0f} ms: {h.verdict(median < TARGET_MS)}"
            if name == "iprogsms --help"
            else ""
        )
        rows.append((name, f"{median:.0f}", f"{min(times):.0f}", target))
    h.table(["case", "median ms", "fastest ms", "target"], rows)


if __name__ == "__main__":
    main()
