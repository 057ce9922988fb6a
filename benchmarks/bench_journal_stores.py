"""Journal stores: rows a second of write-ahead intents and outcomes, group-committed.

The broadcast engine's journal traffic without the gateway: ``--concurrency``
tasks take recipients from ``--n``; each commits its intent
(``await journal.intend``), waits ``--latency-ms`` (the request it would
send), queues its outcome (``journal.record``) and lets due outcomes flush
(``flush_if_due``), as a broadcast's worker does. Rows a second counts both
rows of each recipient over the wall time, closing flush included.

Stores, all on the same group commit (`BatchingJournal`):

- ``sqlite``: the SQLite file (stdlib sqlite3 in a worker thread);
- ``psycopg-thread``: PostgreSQL, psycopg 3 synchronous in a worker thread
  (the store the package ships: it runs under asyncio and trio alike);
- ``psycopg-async``: the same store writing with psycopg 3's AsyncConnection
  (asyncio only);
- ``asyncpg``: the same store writing with asyncpg (asyncio only).

The PostgreSQL rows need a server: ``--postgres URL``, or
``IPROGSMS_TEST_POSTGRES_URL`` (``eval "$(scripts/services start --durable)"``
starts one with fsync on). Each round uses a broadcast name of its own,
deleted after it.

    python benchmarks/bench_journal_stores.py
    python benchmarks/bench_journal_stores.py --quick
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _harness as h
import anyio

from iprogsms_async.broadcast._journal import Journal
from iprogsms_async.broadcast._journal_store import STATE_ACCEPTED, text_digest
from iprogsms_async.broadcast._postgres import (
    _UPSERT,
    PostgresJournal,
    upsert_parameters,
)

if TYPE_CHECKING:
    from iprogsms_async.broadcast._journal_store import BatchingJournal, Row

STORES = ("sqlite", "psycopg-thread", "psycopg-async", "asyncpg")


class PsycopgAsyncJournal(PostgresJournal):
    """The PostgreSQL store writing through psycopg's AsyncConnection."""

    writer: Any

    async def _write(self, rows: list[Row]) -> None:
        await self.writer.execute(_UPSERT, upsert_parameters(self.name, rows))

    async def _close(self) -> None:
        await self.writer.close()
        await super()._close()


class AsyncpgJournal(PostgresJournal):
    """The PostgreSQL store writing through asyncpg."""

    writer: Any
    upsert = _UPSERT.replace("%s", "{}").format(*(f"${i}" for i in range(1, 9)))

    async def _write(self, rows: list[Row]) -> None:
        await self.writer.execute(self.upsert, *upsert_parameters(self.name, rows))

    async def _close(self) -> None:
        await self.writer.close()
        await super()._close()


async def open_store(store: str, url: str | None, folder: Path) -> BatchingJournal:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    if store == "sqlite":
        return await Journal.open(folder / f"{name}.sqlite")
    assert url is not None
    if store == "psycopg-thread":
        return await PostgresJournal.open(url, name=name)
    if store == "psycopg-async":
        import psycopg  # noqa: PLC0415 -- only for this row

        journal = await PsycopgAsyncJournal.open(url, name=name)
        journal.writer = await psycopg.AsyncConnection.connect(url, autocommit=True)
        return journal
    import asyncpg  # noqa: PLC0415 -- only for this row

    journal = await AsyncpgJournal.open(url, name=name)
    journal.writer = await asyncpg.connect(url)
    return journal


async def run_one(
    store: str, url: str | None, folder: Path, n: int, concurrency: int, latency: float
) -> tuple[float, int]:
    """Rows a second and commits of one round."""
    journal = await open_store(store, url, folder)
    digest = text_digest(h.MESSAGE)
    keys = iter([(number, digest) for number in h.numbers(n)])

    async def worker() -> None:
        for key in keys:
            await journal.intend([key])
            if latency:
                await anyio.sleep(latency)
            journal.record(key, STATE_ACCEPTED, message_id=f"m-{key[0]}")
            await journal.flush_if_due()

    started = time.perf_counter()
    try:
        async with anyio.create_task_group() as tasks:
            for _ in range(concurrency):
                tasks.start_soon(worker)
        await journal.flush()
        elapsed = time.perf_counter() - started
    finally:
        await journal.aclose()
        if isinstance(journal, PostgresJournal):
            h.drop_broadcast(url, journal.name)
    return 2 * n / elapsed, journal.commits


def available(store: str, url: str | None) -> str | None:
    """Why ``store`` cannot be measured here, or None."""
    if store == "sqlite":
        return None
    if url is None:
        return "no PostgreSQL server (--postgres or IPROGSMS_TEST_POSTGRES_URL)"
    module = {"psycopg-thread": "psycopg", "psycopg-async": "psycopg"}.get(store, store)
    try:
        __import__(module)
    except ImportError:
        return f"{module} is not installed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=5000, help="recipients a round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--latency-ms", default="0,20", help="each request's wait, comma-separated"
    )
    parser.add_argument("--rounds", type=int, default=3, help="median of this many")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument(
        "--postgres", default=os.environ.get("IPROGSMS_TEST_POSTGRES_URL")
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small run: --n 500 --rounds 1"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds = 500, 1
    stores = [s for s in args.stores.split(",") if s]
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown stores {sorted(unknown)}; choose from {STORES}")
    latencies = [float(x) / 1000 for x in args.latency_ms.split(",")]
    url = args.postgres

    h.header(
        "Journal stores: rows a second, intend + record, group commit",
        f"{args.n} recipients a round (2 rows each), concurrency "
        f"{args.concurrency}, median of {args.rounds}; {h.postgres_settings(url)}; "
        f"{h.pin_client()}",
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for latency in latencies:
            baseline = None
            for store in stores:
                why = available(store, url)
                if why is not None:
                    rows.append([store, f"{latency * 1000:g}", "-", "-", "-", why])
                    continue
                rates, commits = [], []
                for _ in range(args.rounds):
                    rate, count = anyio.run(
                        run_one,
                        store,
                        url,
                        Path(folder),
                        args.n,
                        args.concurrency,
                        latency,
                    )
                    rates.append(rate)
                    commits.append(count)
                rate = h.median(rates)
                baseline = baseline or (rate if store == "psycopg-thread" else None)
                rows.append(
                    [
                        store,
                        f"{latency * 1000:g}",
                        f"{rate:,.0f}",
                        f"{h.median(commits):,.0f}",
                        f"{2 * args.n / h.median(commits):.1f}",
                        "",
                    ]
                )
            for row in rows:
                if row[1] == f"{latency * 1000:g}" and baseline and row[2] != "-":
                    row[5] = h.ratio(float(row[2].replace(",", "")), baseline)
    h.table(
        [
            "store",
            "latency ms",
            "rows/s",
            "commits",
            "rows/commit",
            "vs psycopg-thread",
        ],
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
