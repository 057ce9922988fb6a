"""A broadcast, end to end: the library against hand-written loops.

``--n`` recipients, each texted once and its status polled once (the stub
answers "delivered"), through four clients in one run:

- a hand-written httpx loop: ``asyncio.Semaphore`` + ``gather``, httpx with
  its default limits (the baseline for the default backend)
- ``client.broadcast`` with the default backend (httpx)
- a hand-written raw aiohttp loop, connector limited to the concurrency
  (the baseline for the aiohttp backend)
- ``client.broadcast`` with ``http_backend="aiohttp"``

for each concurrency and server latency. Targets: the default backend at
least 1.2x the httpx loop; the aiohttp backend at least 0.8x raw aiohttp.

    python benchmarks/bench_broadcast.py              # 10,000 recipients; minutes
    python benchmarks/bench_broadcast.py --n 2000 --concurrency 50 --latency-ms 20

Client on core 0, stub server on core 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING

import _harness as h
import httpx

from iprogsms_async import IProgSMS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

DEFAULT_TARGET = 1.2
AIOHTTP_TARGET = 0.8


async def httpx_loop(url: str, n: int, concurrency: int) -> int:
    """The hand-written loop over httpx with its default limits."""
    async with httpx.AsyncClient() as http:
        statuses = await h.httpx_loop(http, url, h.numbers(n), concurrency)
    return statuses.count("delivered")


async def aiohttp_loop(url: str, n: int, concurrency: int) -> int:
    """The hand-written loop over raw aiohttp."""
    import aiohttp  # noqa: PLC0415 -- optional

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        statuses = await h.aiohttp_loop(session, url, h.numbers(n), concurrency)
    return statuses.count("delivered")


async def library(url: str, n: int, concurrency: int, backend: str) -> int:
    """``client.broadcast`` with one backend; polls come due at once."""
    async with IProgSMS(h.TOKEN, base_url=url, http_backend=backend) as client:  # type: ignore[arg-type]
        report = await client.broadcast(
            h.numbers(n),
            message=h.MESSAGE,
            concurrency=concurrency,
            poll_interval=0.001,
            poll_max_interval=0.01,
        )
    return report.counts["delivered"]


async def _timed(run: Awaitable[int], n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    delivered = await run
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if delivered != n:
        raise RuntimeError(f"{delivered} of {n} delivered")
    return n / wall, cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10_000, help="recipients")
    parser.add_argument("--concurrency", default="50,200")
    parser.add_argument("--latency-ms", default="0,20")
    parser.add_argument("--rounds", type=int, default=1)
    args = h.parse_args(parser, quick={"n": 1000})
    pinned = h.pin_client()
    aio = h.has_aiohttp()
    h.header(
        "A broadcast: the library against hand-written loops",
        f"{args.n:,} recipients, one send and one status poll each, "
        f"median of {args.rounds} round(s), {pinned}",
    )
    rows: list[list[str]] = []
    for latency in [float(x) for x in args.latency_ms.split(",")]:
        with h.stub(latency) as server:
            for concurrency in [int(x) for x in args.concurrency.split(",")]:
                rows += _case(server.url, args, latency, concurrency, aio=aio)
    h.table(
        [
            "latency",
            "concurrency",
            "client",
            "recipients/s",
            "CPU µs/recipient",
            "vs its baseline",
            "target",
            "vs httpx loop",
        ],
        rows,
    )


def _case(
    url: str,
    args: argparse.Namespace,
    latency: float,
    concurrency: int,
    *,
    aio: bool,
) -> list[list[str]]:
    n = args.n
    cases: dict[str, Callable[[], Awaitable[int]]] = {
        "httpx loop": lambda: httpx_loop(url, n, concurrency),
        "broadcast, httpx": lambda: library(url, n, concurrency, "httpx"),
    }
    if aio:
        cases["raw aiohttp loop"] = lambda: aiohttp_loop(url, n, concurrency)
        cases["broadcast, aiohttp"] = lambda: library(url, n, concurrency, "aiohttp")
    rates: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, run in cases.items():
            rate, cpu = asyncio.run(_timed(run(), n))
            rates[name].append(rate)
            cpus[name].append(cpu)
    rate = {name: h.median(values) for name, values in rates.items()}
    # Each library row is judged against the hand-written loop on its transport.
    judged = {
        "broadcast, httpx": ("httpx loop", DEFAULT_TARGET),
        "broadcast, aiohttp": ("raw aiohttp loop", AIOHTTP_TARGET),
    }
    rows = []
    for name in cases:
        baseline, target = judged.get(name, (None, None))
        against = ratio = ""
        if baseline is not None and target is not None:
            value = rate[name] / rate[baseline]
            against = f"{value:.2f}x {baseline}"
            ratio = f"≥ {target}x: {h.verdict(value >= target)}"
        rows.append(
            [
                f"{latency:g} ms",
                str(concurrency),
                name,
                f"{rate[name]:,.0f}",
                f"{h.median(cpus[name]):,.0f}",
                against,
                ratio,
                h.ratio(rate[name], rate["httpx loop"]),
            ]
        )
    return rows


if __name__ == "__main__":
    main()
