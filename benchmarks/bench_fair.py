"""A broadcast against the best hand-written loops on the same transport.

The fair comparison of issue 15. In one process, contenders take turns
(A B A B ..., ``--rounds`` times), each texting ``--n`` recipients once and
polling each once, against a stub gateway in a separate process (on uvloop
when it is installed, so the server is never the limit: its CPU share is
printed with every row):

- httpx, ``--concurrency`` workers on one shared ``AsyncClient`` pool, at
  each size of ``--pools``
- httpx, the same workers each with its own ``AsyncClient`` of one
  connection (one shared SSL context), the best httpx loop found so far
- aiohttp, the same workers on one ``ClientSession``
- ``client.broadcast`` on the default backend and on
  ``http_backend="aiohttp"``

Each row gives the median recipients a second and the client's CPU time a
recipient (the process CPU time of this process: the stub runs in another),
and for each contender its ratio, taken per round and then the median, to
the best hand-written loop on its transport in that round (httpx: the
fastest of the httpx loops; aiohttp: the aiohttp loop).

    python benchmarks/bench_fair.py                 # 10,000 recipients, 4 rounds
    python benchmarks/bench_fair.py --n 2000 --concurrency 50 --latency-ms 20

Client on core 0, stub server on core 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
from typing import TYPE_CHECKING, Any

import _harness as h
import httpx

from iprogsms_async import IProgSMS

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

HTTPX = "httpx"
AIOHTTP = "aiohttp"


async def httpx_pool(
    url: str, n: int, concurrency: int, meter: h.Meter, size: int
) -> int:
    """Workers on one shared httpx pool of ``size`` connections."""
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(limits=limits) as http:
        with meter:
            return await h.pulling_workers(
                concurrency, lambda x: h.httpx_recipient(http, url, x), n
            )


async def httpx_per_worker(
    url: str, n: int, concurrency: int, meter: h.Meter, context: ssl.SSLContext
) -> int:
    """Each worker its own httpx client of one connection."""
    numbers = h.numbers(n)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(limits=limits, verify=context) for _ in range(concurrency)
    ]
    delivered = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal delivered
        async with http:
            for number in numbers:
                status = await h.httpx_recipient(http, url, number)
                delivered += status == "delivered"

    with meter:
        await asyncio.gather(*(worker(http) for http in clients))
    return delivered


async def aiohttp_loop(url: str, n: int, concurrency: int, meter: h.Meter) -> int:
    """Workers on one aiohttp ``ClientSession``."""
    import aiohttp  # noqa: PLC0415 -- optional

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def text(number: str) -> str:
            async with session.post(
                url + "/sms_messages",
                json={
                    "api_token": h.TOKEN,
                    "phone_number": number,
                    "message": h.MESSAGE,
                },
            ) as answer:
                answer.raise_for_status()
                message_id = (await answer.json())["message_id"]
            async with session.get(
                url + "/sms_messages/status",
                params={"api_token": h.TOKEN, "message_id": message_id},
            ) as answer:
                answer.raise_for_status()
                status: str = (await answer.json())["message_status"]
                return status

        with meter:
            return await h.pulling_workers(concurrency, text, n)


async def broadcast(
    url: str,
    n: int,
    concurrency: int,
    meter: h.Meter,
    backend: str,
    client_class: type[IProgSMS] = IProgSMS,
) -> int:
    """``client.broadcast`` on one backend, its pool sized to the concurrency.

    As the hand-written loops' pools are, and as the README says to size
    one for a broadcast (its workers are as many as its pool's connections
    at most). Polls come due a millisecond after each send.
    ``client_class`` is another copy's client (`bench_ab.py`).
    """
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with client_class(
        h.TOKEN,
        base_url=url,
        http_backend=backend,
        limits=limits,  # type: ignore[arg-type]
    ) as client:
        with meter:
            report = await client.broadcast(
                h.numbers(n),
                message=h.MESSAGE,
                concurrency=concurrency,
                poll_interval=0.001,
                poll_max_interval=0.01,
            )
    return report.counts["delivered"]


Contender = tuple[
    str, str, bool, "Callable[[str, int, int, h.Meter], Coroutine[Any, Any, int]]"
]
"""Name, transport, whether it is a hand-written loop, and how to run it."""


def contenders(pools: list[int], *, aio: bool) -> list[Contender]:
    """Everyone who runs, in the order they take turns."""
    context = ssl.create_default_context()  # one for every per-worker client
    chosen: list[Contender] = [
        (
            "httpx: one AsyncClient of one connection per worker",
            HTTPX,
            True,
            lambda u, n, c, m: httpx_per_worker(u, n, c, m, context),
        ),
    ]
    chosen += [
        (
            f"httpx: workers on one shared pool of {size}",
            HTTPX,
            True,
            lambda u, n, c, m, size=size: httpx_pool(u, n, c, m, size),  # type: ignore[misc]
        )
        for size in pools
    ]
    chosen.append(
        (
            "broadcast, httpx backend",
            HTTPX,
            False,
            lambda u, n, c, m: broadcast(u, n, c, m, HTTPX),
        )
    )
    if aio:
        chosen += [
            ("aiohttp: workers on one ClientSession", AIOHTTP, True, aiohttp_loop),
            (
                "broadcast, aiohttp backend",
                AIOHTTP,
                False,
                lambda u, n, c, m: broadcast(u, n, c, m, AIOHTTP),
            ),
        ]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10_000, help="recipients")
    parser.add_argument("--concurrency", default="50,200")
    parser.add_argument("--latency-ms", default="20,0")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--pools", default="10,50", help="shared httpx pool sizes (connections)"
    )
    parser.add_argument(
        "--transports", default="httpx,aiohttp", help="whose contenders run"
    )
    args = h.parse_args(
        parser, quick={"n": 200, "rounds": 2, "pools": "10", "concurrency": "50"}
    )
    pinned = h.pin_client()
    pools = [int(x) for x in args.pools.split(",") if x]
    uvloop = h.has_uvloop()
    h.header(
        "A broadcast against the best hand-written loops on the same transport",
        f"{args.n:,} recipients, one send and one status poll each, "
        f"{args.rounds} rounds alternating the contenders, medians, {pinned}, "
        f"stub on {'uvloop' if uvloop else 'asyncio'} in its own process",
    )
    for latency in [float(x) for x in args.latency_ms.split(",")]:
        with h.stub(latency, options=["--uvloop"]) as server:
            for concurrency in [int(x) for x in args.concurrency.split(",")]:
                _case(server, args, pools, latency, concurrency)


def _case(
    server: h.Stub,
    args: argparse.Namespace,
    pools: list[int],
    latency: float,
    concurrency: int,
) -> None:
    transports = set(args.transports.split(","))
    chosen = [
        contender
        for contender in contenders(pools, aio=h.has_aiohttp())
        if contender[1] in transports
    ]
    rates: dict[str, list[float]] = {name: [] for name, *_ in chosen}
    cpus: dict[str, list[float]] = {name: [] for name, *_ in chosen}
    shares: dict[str, list[float]] = {name: [] for name, *_ in chosen}
    rate_ratios: dict[str, list[float]] = {name: [] for name, *_ in chosen}
    cpu_ratios: dict[str, list[float]] = {name: [] for name, *_ in chosen}
    best_names: dict[str, list[str]] = {HTTPX: [], AIOHTTP: []}
    for _ in range(args.rounds):
        this_round: dict[str, tuple[float, float]] = {}
        for name, _transport, _loop, run in chosen:
            meter = h.Meter(server)
            delivered = asyncio.run(run(server.url, args.n, concurrency, meter))
            if delivered != args.n:
                raise RuntimeError(f"{name}: {delivered} of {args.n} delivered")
            rate, cpu = args.n / meter.wall, meter.cpu / args.n * 1e6
            this_round[name] = (rate, cpu)
            rates[name].append(rate)
            cpus[name].append(cpu)
            shares[name].append(meter.stub_cpu / meter.wall)
        for transport in (HTTPX, AIOHTTP):
            loops = [n for n, t, loop, _ in chosen if t == transport and loop]
            if not loops:
                continue
            best = max(loops, key=lambda name: this_round[name][0])
            best_names[transport].append(best)
            for name, t, _loop, _run in chosen:
                if t == transport:
                    rate_ratios[name].append(this_round[name][0] / this_round[best][0])
                    cpu_ratios[name].append(this_round[name][1] / this_round[best][1])
    ceiling = concurrency / (2 * latency / 1000) if latency else float("inf")
    print(
        f"## {latency:g} ms latency, concurrency {concurrency} "
        f"(ceiling {ceiling:,.0f}/s)"
        if latency
        else f"## {latency:g} ms latency, concurrency {concurrency}"
    )
    print()
    for transport, names in best_names.items():
        if names:
            wins = ", ".join(
                f"{name} ({names.count(name)} of {len(names)})"
                for name in dict.fromkeys(names)
            )
            print(f"- best {transport} loop, rounds won: {wins}")
    print()
    h.table(
        [
            "contender",
            "recipients/s",
            "client CPU µs/recipient",
            "rate vs best loop, same transport",
            "CPU vs best loop",
            "stub CPU share (max)",
        ],
        [
            (
                name,
                f"{h.median(rates[name]):,.0f}",
                f"{h.median(cpus[name]):,.0f}",
                f"{h.median(rate_ratios[name]):.2f}x",
                f"{h.median(cpu_ratios[name]):.2f}x",
                f"{h.median(shares[name]):.0%} ({max(shares[name]):.0%})",
            )
            for name, *_ in chosen
        ],
    )


if __name__ == "__main__":
    main()
