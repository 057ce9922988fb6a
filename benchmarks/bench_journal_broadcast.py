"""What a journal costs a broadcast: no journal, the SQLite file, PostgreSQL.

Issue 14's targets: at concurrency 50 and 20 ms a request, a broadcast with
the PostgreSQL journal reaches at least 0.7x the recipients a second of the
same broadcast with no journal, and with the SQLite journal at least 0.85x.

The same ``client.broadcast`` of ``--n`` recipients (one send each, and one
status poll each unless ``--no-poll``) against the stub gateway in its own
process, with ``--latency-ms`` before each answer, from a client whose pool
has ``--concurrency`` connections, run with no journal, with a fresh SQLite
file and with a fresh PostgreSQL broadcast name, the three taking turns
(A B C, ``--rounds`` times) in one process. Each row gives the
median recipients a second, the median of the per-round ratios to no
journal, the journal's commits and rows a commit, the mean wait in
``intend`` (the write-ahead commit a send waits for), the client's CPU time
a recipient, and the stub's CPU share (it must not be the limit).

The PostgreSQL rows need a server: ``--postgres URL``, or
``IPROGSMS_TEST_POSTGRES_URL`` (``eval "$(scripts/services start --durable)"``
starts one with fsync on); without one they say so. Each round's broadcast
is deleted after it.

    python benchmarks/bench_journal_broadcast.py
    python benchmarks/bench_journal_broadcast.py --quick

Client on core 0, stub server on core 1 (when there are two); the PostgreSQL
server is not pinned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _harness as h
import httpx

import iprogsms_async.broadcast._engine as engine
from iprogsms_async import IProgSMS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from iprogsms_async.broadcast._journal_store import BatchingJournal, Key

NONE, SQLITE, POSTGRES = "no journal", "SQLite file", "PostgreSQL"
TARGETS = {SQLITE: 0.85, POSTGRES: 0.7}
TARGET_CASE = (50, 20.0)  # concurrency, latency ms


class Watch:
    """The journal a broadcast opens, with its commits and time spent in intend."""

    def __init__(self) -> None:
        self.journal: BatchingJournal | None = None
        self.intends = 0
        self.waited = 0.0

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        """Catch the journal the engine opens, and time each ``intend`` on it."""
        real = engine.open_journal

        async def open_and_watch(*args: Any, **kwargs: Any) -> Any:
            journal = await real(*args, **kwargs)
            self.journal = journal
            intend = journal.intend

            async def timed(keys: list[Key]) -> Any:
                started = time.perf_counter()
                try:
                    return await intend(keys)
                finally:
                    self.waited += time.perf_counter() - started
                    self.intends += 1

            journal.intend = timed  # type: ignore[method-assign]
            return journal

        engine.open_journal = open_and_watch  # type: ignore[assignment]
        try:
            yield
        finally:
            engine.open_journal = real


async def run_once(
    url: str,
    n: int,
    concurrency: int,
    meter: h.Meter,
    watch: Watch,
    journal: str | None,
    name: str | None,
    *,
    poll: bool,
    backend: str,
) -> int:
    """One broadcast; the recipients it settled as the run expects.

    The client's pool has ``concurrency`` connections: a broadcast runs no
    more workers than its client has.
    """
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with IProgSMS(
        h.TOKEN,
        base_url=url,
        http_backend=backend,  # type: ignore[arg-type]
        limits=limits,
    ) as client:
        with watch.opened(), meter:
            report = await client.broadcast(
                h.numbers(n),
                message=h.MESSAGE,
                concurrency=concurrency,
                poll=poll,
                poll_interval=0.001,
                poll_max_interval=0.01,
                journal=journal,
                name=name,
            )
    return report.counts["delivered" if poll else "accepted"]


def available(journal: str, url: str | None) -> str | None:
    """Why ``journal`` cannot be measured here, or None."""
    if journal != POSTGRES:
        return None
    if url is None:
        return "no PostgreSQL server (--postgres or IPROGSMS_TEST_POSTGRES_URL)"
    try:
        import psycopg  # noqa: F401, PLC0415 -- only whether it is there
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    return None


class Case:
    """One concurrency and latency: each journal's rounds, and their ratios."""

    def __init__(self, journals: list[str]) -> None:
        self.journals = journals
        self.rates: dict[str, list[float]] = {j: [] for j in journals}
        self.ratios: dict[str, list[float]] = {j: [] for j in journals}
        self.cpus: dict[str, list[float]] = {j: [] for j in journals}
        self.shares: dict[str, list[float]] = {j: [] for j in journals}
        self.commits: dict[str, list[int]] = {j: [] for j in journals}
        self.waits: dict[str, list[float]] = {j: [] for j in journals}


def run_case(
    server: h.Stub,
    args: argparse.Namespace,
    journals: list[str],
    concurrency: int,
    folder: Path,
) -> Case:
    """``--rounds`` rounds of every journal in turn, against one stub."""
    case = Case(journals)
    for _ in range(args.rounds):
        this_round: dict[str, float] = {}
        for journal in journals:
            name = f"bench-{uuid.uuid4().hex[:12]}"
            where = {
                NONE: None,
                SQLITE: str(folder / f"{name}.sqlite"),
                POSTGRES: args.postgres,
            }[journal]
            meter, watch = h.Meter(server), Watch()
            try:
                settled = asyncio.run(
                    run_once(
                        server.url,
                        args.n,
                        concurrency,
                        meter,
                        watch,
                        where,
                        name if journal == POSTGRES else None,
                        poll=args.poll,
                        backend=args.backend,
                    )
                )
            finally:
                if journal == POSTGRES:
                    h.drop_broadcast(args.postgres, name)
            if settled != args.n:
                raise RuntimeError(f"{journal}: {settled} of {args.n} settled")
            rate = args.n / meter.wall
            this_round[journal] = rate
            case.rates[journal].append(rate)
            case.cpus[journal].append(meter.cpu / args.n * 1e6)
            case.shares[journal].append(meter.stub_cpu / meter.wall)
            if watch.journal is not None:
                case.commits[journal].append(watch.journal.commits)
                case.waits[journal].append(watch.waited / max(watch.intends, 1))
        for journal in journals:
            case.ratios[journal].append(this_round[journal] / this_round[NONE])
    return case


def rows_of(
    case: Case, concurrency: int, latency: float, n: int, *, poll: bool
) -> list[list[str]]:
    """The table's rows of one case."""
    rows = []
    rows_a_recipient = 3 if poll else 2  # intent, accepted (, final)
    for journal in case.journals:
        commits = h.median(case.commits[journal]) if case.commits[journal] else None
        ratios, shares = case.ratios[journal], case.shares[journal]
        target = TARGETS.get(journal) if (concurrency, latency) == TARGET_CASE else None
        verdict = (
            f"≥ {target}x: {h.verdict(h.median(ratios) >= target)}"
            if target is not None
            else ""
        )
        rows.append(
            [
                f"{concurrency}",
                f"{latency:g}",
                journal,
                f"{h.median(case.rates[journal]):,.0f}",
                f"{h.median(ratios):.2f}x ({min(ratios):.2f} to {max(ratios):.2f})",
                f"{commits:,.0f}" if commits is not None else "-",
                f"{rows_a_recipient * n / commits:.1f}" if commits else "-",
                f"{h.median(case.waits[journal]) * 1000:.1f}"
                if case.waits[journal]
                else "-",
                f"{h.median(case.cpus[journal]):,.0f}",
                f"{h.median(shares):.0%} ({max(shares):.0%})",
                verdict,
            ]
        )
    return rows


def load() -> str:
    """The machine's load averages over 1, 5 and 15 minutes."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000, help="recipients a broadcast")
    parser.add_argument("--concurrency", default="50,200")
    parser.add_argument("--latency-ms", default="20,0")
    parser.add_argument("--rounds", type=int, default=5, help="median of this many")
    parser.add_argument(
        "--no-poll",
        dest="poll",
        action="store_false",
        help="send only (poll=False): every request then waits for an intent",
    )
    parser.add_argument(
        "--backend",
        default="httpx",
        choices=("httpx", "aiohttp"),
        help="the client's http_backend (aiohttp needs the [aiohttp] extra)",
    )
    parser.add_argument(
        "--journals",
        default="sqlite,postgres",
        help="journals against none: sqlite, postgres (comma-separated)",
    )
    parser.add_argument(
        "--postgres", default=os.environ.get("IPROGSMS_TEST_POSTGRES_URL")
    )
    args = h.parse_args(
        parser, quick={"n": 500, "rounds": 2, "concurrency": "50", "latency_ms": "20"}
    )
    chosen = {"sqlite": SQLITE, "postgres": POSTGRES}
    wanted = [j for j in args.journals.split(",") if j]
    if unknown := set(wanted) - set(chosen):
        parser.error(f"unknown journals {sorted(unknown)}; choose from {set(chosen)}")
    pinned = h.pin_client()
    h.header(
        "What a journal costs a broadcast",
        f"{args.n:,} recipients, one send{' and one status poll' if args.poll else ''}"
        f" each, journals taking turns for {args.rounds} rounds, medians; "
        f"{args.backend} backend; {h.postgres_settings(args.postgres)}; "
        f"{pinned}, stub on asyncio in its own process; load average at the "
        f"start: {load()}",
    )
    rows: list[list[str]] = []
    skipped = []
    journals = [NONE]
    for key in wanted:
        why = available(chosen[key], args.postgres)
        if why is None:
            journals.append(chosen[key])
        else:
            skipped.append(f"{chosen[key]}: {why}")
    with tempfile.TemporaryDirectory() as folder:
        for latency in [float(x) for x in args.latency_ms.split(",")]:
            with h.stub(latency) as server:
                for concurrency in [int(x) for x in args.concurrency.split(",")]:
                    case = run_case(server, args, journals, concurrency, Path(folder))
                    rows += rows_of(case, concurrency, latency, args.n, poll=args.poll)
    for reason in skipped:
        print(f"- not measured: {reason}")
    print(f"- load average at the end: {load()}")
    print()
    h.table(
        [
            "concurrency",
            "latency ms",
            "journal",
            "recipients/s",
            "vs no journal (per round: min to max)",
            "commits",
            "rows/commit",
            "intend wait ms",
            "client CPU µs/recipient",
            "stub CPU share (max)",
            "target",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
