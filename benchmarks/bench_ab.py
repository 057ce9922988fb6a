"""A change against a base revision: both broadcasts in one process, taking turns.

Comparing two runs of `bench_fair.py`, one before a change and one after,
cannot see a change of a few percent: the same code moves by more than that
from one run to the next on a shared machine. Here both versions of the
package run in the same processes: the base revision's taken out of git
(``git archive``) and the working tree's copied as it is (uncommitted
changes too), each imported under a name of its own (``iprogsms_base``,
``iprogsms_new``; their modules import one another relatively). In each
round the two broadcasts and the best hand-written loop on the same
transport run one after another, each of the six orders in turn (six
rounds take each equally often), and what is quoted is the ratio of the
two broadcasts within each round.

One process is not enough either: two identical copies of the package,
imported side by side, run a few percent apart in one process, the same one
faster all through it, and which one changes from process to process (where
each copy's objects land in memory). So ``--processes`` processes each run
``--rounds`` rounds, importing the two in turn in the other order, and the
median is taken over every round of every process; the processes' own
medians are printed beside it, and they are what to read. Run it with no
change (``--base HEAD`` on a clean tree; it says so) for the size of their
spread on your machine: on ours, 0.99x to 1.04x in four processes.

    python benchmarks/bench_ab.py --base HEAD~1           # aiohttp, c=200, 20 ms
    python benchmarks/bench_ab.py --base main --backend httpx --concurrency 50

Each contender texts ``--n`` recipients once and polls each once, against
the stub gateway in its own process (on uvloop when it is installed), as in
`bench_fair.py`. Client on core 0, stub on core 1 (when there are two).
Only the package comes from the base revision: the benchmarks, the loop and
the stub are the working tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import itertools
import json
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _harness as h
import bench_fair

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import ModuleType

CHECKOUT = Path(__file__).resolve().parent.parent
CONTENDERS = ("loop", "base", "new")
ORDERS = tuple(itertools.permutations(CONTENDERS))
"""The orders contenders take in a round, one a round in turn: in six rounds
each goes first, second and last twice, and the base before the new three
times."""

Run = Callable[[str, int, int, h.Meter], "Coroutine[Any, Any, int]"]
Round = tuple[int, dict[str, dict[str, float]]]
"""A round: its process's index, and each contender's rate and CPU a recipient."""


def git(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """A git command in the checkout, its output captured."""
    return subprocess.run(
        ["git", "-C", str(CHECKOUT), *arguments],  # noqa: S607 -- git from PATH, as a developer runs it
        check=check,
        capture_output=True,
    )


def changed(revision: str) -> bool:
    """Whether the working tree's package differs from ``revision``'s."""
    differs = git("diff", "--quiet", revision, "--", "iprogsms_async", check=False)
    untracked = git(
        "ls-files", "--others", "--exclude-standard", "--", "iprogsms_async"
    )
    return differs.returncode != 0 or bool(untracked.stdout.strip())


def take_out(revision: str, into: Path) -> None:
    """Put the base revision's package and the working tree's into ``into``."""
    tar = into / "base.tar"
    tar.write_bytes(git("archive", revision, "iprogsms_async").stdout)
    with tarfile.open(tar) as opened:
        # Our own repository's files; the filter where this Python has one.
        if hasattr(tarfile, "data_filter"):
            opened.extractall(into, filter="data")
        else:  # pragma: no cover -- Pythons before 3.10.12
            opened.extractall(into)  # noqa: S202 -- see above
    shutil.move(into / "iprogsms_async", into / "iprogsms_base")
    shutil.copytree(
        CHECKOUT / "iprogsms_async",
        into / "iprogsms_new",
        ignore=shutil.ignore_patterns("__pycache__"),
    )


def broadcast(package: ModuleType, backend: str) -> Run:
    """`bench_fair.broadcast`, with ``package``'s client."""

    async def run(url: str, n: int, concurrency: int, meter: h.Meter) -> int:
        return await bench_fair.broadcast(
            url, n, concurrency, meter, backend, package.IProgSMS
        )

    return run


def best_loop(backend: str) -> Run:
    """The best hand-written loop on ``backend``'s transport (see `bench_fair`)."""
    if backend == "aiohttp":
        return bench_fair.aiohttp_loop
    context = ssl.create_default_context()

    async def per_worker(url: str, n: int, concurrency: int, meter: h.Meter) -> int:
        return await bench_fair.httpx_per_worker(url, n, concurrency, meter, context)

    return per_worker


def child(args: argparse.Namespace) -> None:
    """One process's rounds: each run's rate and CPU a recipient, as JSON lines."""
    sys.path.insert(0, args.packages)
    order = ("iprogsms_new", "iprogsms_base") if args.new_first else None
    packages = {
        name: importlib.import_module(name)
        for name in order or ("iprogsms_base", "iprogsms_new")
    }
    h.pin_client()
    contenders: dict[str, Run] = {
        "loop": best_loop(args.backend),
        "base": broadcast(packages["iprogsms_base"], args.backend),
        "new": broadcast(packages["iprogsms_new"], args.backend),
    }
    with h.stub(args.latency_ms, options=["--uvloop"]) as server:
        for round_ in range(args.rounds):
            for name in ORDERS[round_ % len(ORDERS)]:
                meter = h.Meter(server)
                delivered = asyncio.run(
                    contenders[name](server.url, args.n, args.concurrency, meter)
                )
                if delivered != args.n:
                    raise RuntimeError(f"{name}: {delivered} of {args.n} delivered")
                rate, cpu = args.n / meter.wall, meter.cpu / args.n * 1e6
                print(
                    json.dumps(
                        {"round": round_, "name": name, "rate": rate, "cpu": cpu}
                    )
                )
                gc.collect()  # each run starts from the same heap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--base", default="HEAD", help="the git revision to compare with"
    )
    parser.add_argument("--backend", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--n", type=int, default=6000, help="recipients a run")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="rounds a process (a multiple of 6 takes every order equally often)",
    )
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--packages", help=argparse.SUPPRESS)
    parser.add_argument("--new-first", action="store_true", help=argparse.SUPPRESS)
    args = h.parse_args(
        parser, quick={"n": 300, "rounds": 6, "processes": 2, "concurrency": 50}
    )
    if args.backend == "aiohttp" and not h.has_aiohttp():
        parser.error("the aiohttp backend is not installed")
    if args.packages:
        child(args)
        return
    revision = git("rev-parse", "--short", args.base).stdout.decode().strip()
    pinned = (
        f"client on core {h.CLIENT_CORE}, stub on core {h.SERVER_CORE}"
        if h.can_pin()
        else "not pinned (fewer than 2 cores or no affinity support)"
    )
    h.header(
        f"The working tree's broadcast against {args.base}'s ({revision})",
        f"{args.backend} backend, {args.n:,} recipients a run, one send and one "
        f"status poll each, concurrency {args.concurrency}, {args.latency_ms:g} ms "
        f"latency; {args.processes} processes of {args.rounds} rounds of the "
        f"three in turn; {pinned}, the stub on "
        f"{'uvloop' if h.has_uvloop() else 'asyncio'} in its own process",
    )
    if not changed(args.base):
        print(
            f"- the package is the same at {args.base} and in the working tree: "
            "this run measures only the noise between two identical copies"
        )
        print()
    runs: list[Round] = []
    with tempfile.TemporaryDirectory() as scratch:
        take_out(args.base, Path(scratch))
        for process in range(args.processes):
            lines = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    *sys.argv[1:],
                    "--packages",
                    scratch,
                    *(["--new-first"] if process % 2 else []),
                ],
                check=True,
                stdout=subprocess.PIPE,  # its errors go where ours do
                text=True,
            ).stdout.splitlines()
            rounds: dict[int, dict[str, dict[str, float]]] = {}
            for line in lines:
                run = json.loads(line)
                rounds.setdefault(run["round"], {})[run["name"]] = run
            runs.extend((process, by_name) for by_name in rounds.values())
    _report(runs, args.processes)


def _report(runs: list[Round], processes: int) -> None:
    def ratios(name: str, of: str, part: str, where: int | None = None) -> list[float]:
        return [
            run[name][part] / run[of][part]
            for process, run in runs
            if where is None or process == where
        ]

    h.table(
        [
            "contender",
            "recipients/s",
            "client CPU µs/recipient",
            "rate vs the loop",
            "CPU vs the loop",
        ],
        [
            (
                name,
                f"{h.median([run[name]['rate'] for _, run in runs]):,.0f}",
                f"{h.median([run[name]['cpu'] for _, run in runs]):,.0f}",
                f"{h.median(ratios(name, 'loop', 'rate')):.3f}x",
                f"{h.median(ratios(name, 'loop', 'cpu')):.3f}x",
            )
            for name in CONTENDERS
        ],
    )
    for part, what in (("rate", "rate"), ("cpu", "CPU a recipient")):
        each = [
            h.median(ratios("new", "base", part, process))
            for process in range(processes)
        ]
        above = sum(x > 1 for x in each)
        print(
            f"- new against base, {what}: "
            f"{h.median(ratios('new', 'base', part)):.3f}x at the median of "
            f"{len(runs)} rounds; each process's median: "
            f"{', '.join(f'{x:.3f}' for x in each)} ({above} of {processes} "
            "above 1)"
        )
    print(
        "- the rounds of a process are not independent of one another (its "
        "copies' places in memory favour one all through it): read the "
        "processes' medians, and compare with a run of no change"
    )


if __name__ == "__main__":
    main()
