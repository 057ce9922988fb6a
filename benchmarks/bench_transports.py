"""Transport sweep: the same POSTs through each HTTP machinery and pool size.

Sends ``--n`` texts (POST, JSON answer parsed) at a fixed concurrency through:
raw httpx with several pool sizes (keep-alive = maximum), the same behind a
gate that lets only as many requests into the pool as it has connections,
the same again over the library's `ReservingPool` (gate and pool: what the
default backend runs), httpx's own default limits, and raw aiohttp (what
the aiohttp backend runs on). For each server latency and
concurrency it prints requests a second, client CPU per request, and
connections the server saw opened (reconnects show up there). This is what
chose ``DEFAULT_LIMITS``.

    python benchmarks/bench_transports.py                     # 0, 20, 100 ms
    python benchmarks/bench_transports.py --tls               # over HTTPS
    python benchmarks/bench_transports.py --latency-ms 20 --concurrency 200

Client on core 0, stub server on core 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import _harness as h
import httpx

from iprogsms_async._pool import ReservingTransport

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable


def _limits(size: int) -> httpx.Limits:
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


async def _timed(
    run: Callable[[], Awaitable[list[str]]], n: int
) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    statuses = await run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(statuses) == n
    return n / wall, cpu / n * 1e6


async def raw_httpx(
    url: str,
    n: int,
    concurrency: int,
    limits: httpx.Limits | None,
    verify: ssl.SSLContext | bool,
    *,
    gated: bool = False,
    reserving: bool = False,
) -> tuple[float, float]:
    """Raw httpx; ``gated`` holds requests beyond the pool size outside its pool,
    ``reserving`` puts the library's `ReservingPool` under it."""
    options: dict[str, object] = {} if limits is None else {"limits": limits}
    if reserving and limits is not None:
        options["transport"] = ReservingTransport(limits=limits, verify=verify)
    async with httpx.AsyncClient(verify=verify, **options) as http:  # type: ignore[arg-type]
        if not gated or limits is None or limits.max_connections is None:
            return await _timed(
                lambda: h.httpx_loop(http, url, h.numbers(n), concurrency, poll=False),
                n,
            )
        outer = asyncio.Semaphore(concurrency)
        gate = asyncio.Semaphore(limits.max_connections)

        async def one(number: str) -> str:
            async with outer, gate:
                answer = await http.post(
                    url + "/sms_messages",
                    json={
                        "api_token": h.TOKEN,
                        "phone_number": number,
                        "message": h.MESSAGE,
                    },
                )
                answer.raise_for_status()
                message_id: str = answer.json()["message_id"]
                return message_id

        async def run() -> list[str]:
            return await asyncio.gather(*(one(number) for number in h.numbers(n)))

        return await _timed(run, n)


async def raw_aiohttp(
    url: str, n: int, concurrency: int, verify: ssl.SSLContext | bool
) -> tuple[float, float]:
    """Raw aiohttp with a connector limited to the concurrency."""
    import aiohttp  # noqa: PLC0415 -- optional

    connector = aiohttp.TCPConnector(limit=concurrency, ssl=verify)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await _timed(
            lambda: h.aiohttp_loop(session, url, h.numbers(n), concurrency, poll=False),
            n,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=1500, help="requests per case")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-ms", default="0,20,100")
    parser.add_argument("--concurrency", default="50,200")
    parser.add_argument("--limits", default="10,20,30,50", help="httpx pool sizes")
    parser.add_argument("--tls", action="store_true", help="serve over HTTPS")
    args = h.parse_args(parser, quick={"n": 300, "rounds": 1})
    pinned = h.pin_client()
    h.header(
        "Transport sweep",
        f"{args.n} POSTs per case, median of {args.rounds} rounds, {pinned}, "
        f"{'HTTPS (self-signed, loopback)' if args.tls else 'plain HTTP, loopback'}",
    )
    with tempfile.TemporaryDirectory() as folder:
        tls = h.TLS(Path(folder)) if args.tls else None
        verify: ssl.SSLContext | bool = tls.client_context() if tls else True
        for latency in [float(x) for x in args.latency_ms.split(",")]:
            with h.stub(latency, tls) as server:
                for concurrency in [int(x) for x in args.concurrency.split(",")]:
                    _sweep(server, args, latency, concurrency, verify)


def _sweep(
    server: h.Stub,
    args: argparse.Namespace,
    latency: float,
    concurrency: int,
    verify: ssl.SSLContext | bool,
) -> None:
    url, n = server.url, args.n
    cases: list[tuple[str, Callable[[], Awaitable[tuple[float, float]]]]] = []
    for size in [int(x) for x in args.limits.split(",")]:
        cases.append(
            (
                f"httpx {size}/{size}",
                lambda s=size: raw_httpx(url, n, concurrency, _limits(s), verify),
            )
        )
        if size < concurrency:
            cases.append(
                (
                    f"httpx {size}/{size}, gated",
                    lambda s=size: raw_httpx(
                        url, n, concurrency, _limits(s), verify, gated=True
                    ),
                )
            )
            cases.append(
                (
                    f"httpx {size}/{size}, gated, reserving (the library)",
                    lambda s=size: raw_httpx(
                        url,
                        n,
                        concurrency,
                        _limits(s),
                        verify,
                        gated=True,
                        reserving=True,
                    ),
                )
            )
    cases.append(
        (
            "httpx default (100 max / 20 kept)",
            lambda: raw_httpx(url, n, concurrency, None, verify),
        )
    )
    if h.has_aiohttp():
        cases.append(
            (
                f"raw aiohttp, limit={concurrency}",
                lambda: raw_aiohttp(url, n, concurrency, verify),
            )
        )
    rates: dict[str, list[float]] = {name: [] for name, _ in cases}
    cpus: dict[str, list[float]] = {name: [] for name, _ in cases}
    opened: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, case in cases:
            before = server.stats()["connections"]
            rate, cpu = asyncio.run(case())
            opened[name] = server.stats()["connections"] - before - 1  # ours
            rates[name].append(rate)
            cpus[name].append(cpu)
    print(f"## {latency:g} ms server latency, concurrency {concurrency}")
    print()
    h.table(
        ["client", "requests/s", "CPU µs/request", "connections opened (last round)"],
        [
            (
                name,
                f"{h.median(rates[name]):,.0f}",
                f"{h.median(cpus[name]):,.0f}",
                opened[name],
            )
            for name, _ in cases
        ],
    )


if __name__ == "__main__":
    main()
