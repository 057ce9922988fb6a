"""Profile a broadcast with cProfile: where does the client's CPU go?

Runs ``client.broadcast`` of ``--n`` recipients (one send, one poll each)
against the stub gateway under cProfile, and prints the functions that cost
the most CPU of their own, and the share of the run spent in the library's
own code, httpx, the transport and the event loop. This is how the hot-path
changes were chosen.

    python benchmarks/profile_broadcast.py
    python benchmarks/profile_broadcast.py --backend httpx --n 2000 --top 40

For a flame graph, run the same under py-spy (``pip install py-spy``):
``py-spy record -o profile.svg -- python benchmarks/profile_broadcast.py
--no-cprofile``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from collections import defaultdict

import _harness as h

from iprogsms_async import IProgSMS

AREAS = (
    ("iprogsms_async", "the library"),
    ("<cattrs generated", "cattrs"),
    ("<attrs generated", "attrs"),
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpcore"),
    ("/h11/", "h11"),
    ("/aiohttp/", "aiohttp"),
    ("/anyio/", "anyio"),
    ("/cattrs/", "cattrs"),
    ("/asyncio/", "asyncio"),
    ("/json/", "json"),
)


async def broadcast(
    url: str, n: int, backend: str, concurrency: int, profile: cProfile.Profile | None
) -> None:
    """The broadcast; only it is profiled, not the client's creation."""
    async with IProgSMS(h.TOKEN, base_url=url, http_backend=backend) as client:  # type: ignore[arg-type]
        await client.sms.send("09170000000", h.MESSAGE)  # connect, warm caches
        if profile is not None:
            profile.enable()
        report = await client.broadcast(
            h.numbers(n),
            message=h.MESSAGE,
            concurrency=concurrency,
            poll_interval=0.001,
            poll_max_interval=0.01,
        )
        if profile is not None:
            profile.disable()
    if report.counts["delivered"] != n:
        raise RuntimeError(f"not all delivered: {report.counts}")


def _area(filename: str) -> str:
    for needle, name in AREAS:
        if needle in filename:
            return name
    return "other (builtins, sockets, ...)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=4000, help="recipients")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--backend",
        choices=("httpx", "aiohttp"),
        default="aiohttp" if h.has_aiohttp() else "httpx",
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--no-cprofile", action="store_true", help="run only (for py-spy)"
    )
    args = h.parse_args(parser, quick={"n": 400})
    pinned = h.pin_client()
    with h.stub() as server:
        profile = None if args.no_cprofile else cProfile.Profile()
        asyncio.run(
            broadcast(server.url, args.n, args.backend, args.concurrency, profile)
        )
    if profile is None:
        return
    h.header(
        "Profile of a broadcast",
        f"{args.n:,} recipients, one send and one poll each, {args.backend} "
        f"backend, concurrency {args.concurrency}, {pinned}, cProfile",
    )
    stats = pstats.Stats(profile)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values()) or 1.0
    by_area: dict[str, float] = defaultdict(float)
    for (filename, _, _), entry in entries.items():
        by_area[_area(filename)] += entry[2]
    h.table(
        ["where", "own CPU share"],
        [
            (area, f"{seconds / total:.1%}")
            for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1])
        ],
    )
    top = sorted(entries.items(), key=lambda kv: -kv[1][2])[: args.top]
    h.table(
        ["function", "calls", "own s", "own share", "with callees s"],
        [
            (
                f"{h.short_path(filename)}:{line}({name})",
                entry[1],
                f"{entry[2]:.3f}",
                f"{entry[2] / total:.1%}",
                f"{entry[3]:.3f}",
            )
            for (filename, line, name), entry in top
        ],
    )


if __name__ == "__main__":
    main()
