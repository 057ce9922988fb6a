"""The broadcast engine's own cost a recipient, on a transport that does nothing.

No sockets, no pool, no server: every request goes to an in-process httpx
transport that answers at once with a canned body (``_harness.null_transport``;
it yields to the event loop once a request, as the cheapest real transport
does). Three contenders take turns (A B C A B C ..., ``--rounds`` times),
each texting ``--n`` recipients once and polling each once on ``--concurrency``
workers:

- a minimal hand-written worker loop over raw ``httpx.AsyncClient``
  ``post``/``get`` + ``.json()``
- the same worker loop calling the library (``client.sms.send`` and
  ``client.sms.status``)
- ``client.broadcast``

The CPU time a recipient of each, and the differences: library calls minus
raw httpx is the library's request path (the Requester, response parsing);
broadcast minus library calls is the engine (workers, journal calls,
tallies, result objects).

With ``--profile`` it then runs one broadcast under cProfile and prints its
own CPU time grouped by what it is for, in µs a recipient (the profile's
shares scaled to the unprofiled run), and the costliest functions. cProfile
counts each resumption of a coroutine as a call: an ``async def`` that waits
once is "called" twice.

    python benchmarks/bench_engine.py                # 10,000 recipients, 5 rounds
    python benchmarks/bench_engine.py --profile --top 40

Client on core 0 (when there are two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import _harness as h
import httpx

from iprogsms_async import IProgSMS

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

URL = "http://127.0.0.1:9/api/v1"  # never dialled: the transport answers


async def raw_loop(n: int, concurrency: int, clock: h.Clock) -> int:
    """Workers calling raw httpx over the do-nothing transport."""
    async with httpx.AsyncClient(transport=h.null_transport()) as http:

        async def text(number: str) -> str:
            return await h.httpx_recipient(http, URL, number)

        with clock.measure():
            return await h.pulling_workers(concurrency, text, n)


async def library_loop(
    n: int, concurrency: int, clock: h.Clock, profile: cProfile.Profile | None = None
) -> int:
    """Workers calling ``client.sms.send`` and ``.status``, same transport."""
    async with IProgSMS(h.TOKEN, base_url=URL, transport=h.null_transport()) as client:

        async def text(number: str) -> str:
            sent = await client.sms.send(number, h.MESSAGE)
            status = await client.sms.status(sent.message_id)
            return str(status.status)

        with clock.measure():
            if profile is not None:
                profile.enable()
            delivered = await h.pulling_workers(concurrency, text, n)
            if profile is not None:
                profile.disable()
            return delivered


async def broadcast(
    n: int, concurrency: int, clock: h.Clock, profile: cProfile.Profile | None = None
) -> int:
    """``client.broadcast`` over the same transport; polls come due at once."""
    async with IProgSMS(h.TOKEN, base_url=URL, transport=h.null_transport()) as client:
        with clock.measure():
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
    return report.counts["delivered"]


CONTENDERS: dict[str, Callable[[int, int, h.Clock], Coroutine[Any, Any, int]]] = {
    "hand-written worker loop, raw httpx": raw_loop,
    "hand-written worker loop, library calls": library_loop,
    "client.broadcast": broadcast,
}

ENGINE = "engine: the broadcast package (workers, journal calls, tallies, results)"
HANDOFF = "hand-offs: anyio memory object streams"
ANYIO = "anyio: task groups, cancel scopes, checkpoints, sleeps"
SNIFFIO = "sniffio look-ups (current_async_library)"
LOOP = "asyncio: the event loop, task switches, timers"
REQUESTER = "the library's request path (Requester, validation, response parsing)"
HTTPX_MODELS = "httpx: request and response objects (headers, body)"
HTTPX_URLS = "httpx: URL building and parsing"
HTTPX_CLIENT = "httpx: the client (send, auth, redirects) and the rest"
COOKIES = "httpx: cookie-jar work per response (stdlib http.cookiejar)"
BENCH = "the do-nothing transport and the benchmark's loop"
ATTRS = "attrs and cattrs"

# What each piece of a profile is for, first match wins: (where, function
# name prefix, "" for any; group).
GROUPS = (
    ("iprogsms_async/broadcast/", "", ENGINE),
    ("/anyio/streams/memory", "", HANDOFF),
    ("/anyio/", "", ANYIO),
    ("/sniffio/", "", SNIFFIO),
    ("/asyncio/", "", LOOP),
    ("iprogsms_async/", "", REQUESTER),
    ("/httpx/_models", "", HTTPX_MODELS),
    ("/httpx/_urls", "", HTTPX_URLS),
    ("/httpx/_urlparse", "", HTTPX_URLS),
    ("/httpx/", "", HTTPX_CLIENT),
    ("/httpcore/", "", "the pool (httpcore)"),
    ("/aiohttp/", "", "the pool (aiohttp)"),
    ("bench_engine", "", BENCH),
    ("_harness", "", BENCH),
    ("<attrs generated", "", ATTRS),
    ("/attr/", "", ATTRS),
    ("/cattrs/", "", ATTRS),
    ("<cattrs generated", "", ATTRS),
    ("/json/", "", "json encoding and decoding"),
    ("/http/cookiejar", "", COOKIES),
    ("/urllib/request", "", COOKIES),
    ("~", "<method 'send' of 'coroutine", "coroutine resumption (task switches)"),
    ("~", "<built-in method _asyncio", LOOP),
)
_COOKIES_FROM = min(
    item.__code__.co_firstlineno
    for item in vars(httpx.Cookies).values()
    if hasattr(item, "__code__")
)
"""Where httpx's ``Cookies`` methods start in ``_models.py``: the rest of that
file is cookie-jar work (``Cookies`` is its last class)."""


def group_of(filename: str, line: int, function: str) -> str:
    """The group a profiled function belongs to."""
    if filename.endswith("httpx/_models.py") and line >= _COOKIES_FROM:
        return COOKIES
    for where, name, group in GROUPS:
        if where in filename and function.startswith(name):
            return group
    return "other: builtins and the standard library"


def _profiled(
    run: Callable[..., Coroutine[Any, Any, int]], n: int, concurrency: int
) -> dict[tuple[str, int, str], tuple[Any, ...]]:
    profile = cProfile.Profile()
    delivered = asyncio.run(run(n, concurrency, h.Clock(), profile))
    if delivered != n:
        raise RuntimeError(f"{delivered} of {n} delivered")
    entries: dict[tuple[str, int, str], tuple[Any, ...]]
    entries = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return entries


def _by_group(
    entries: dict[tuple[str, int, str], tuple[Any, ...]], per_recipient: float
) -> dict[str, float]:
    """Own time by group in µs a recipient, scaled to the unprofiled run."""
    total = sum(entry[2] for entry in entries.values()) or 1.0
    by_group: dict[str, float] = defaultdict(float)
    for (filename, line, function), entry in entries.items():
        by_group[group_of(filename, line, function)] += entry[2] / total * per_recipient
    return by_group


def profile_run(
    n: int, concurrency: int, per_recipient: tuple[float, float], top: int
) -> None:
    """Profile the loop of library calls and one broadcast; print where they differ.

    ``per_recipient``: the unprofiled CPU µs a recipient of the two, which
    the profiles' shares are scaled to.
    """
    calls = _by_group(_profiled(library_loop, n, concurrency), per_recipient[0])
    entries = _profiled(broadcast, n, concurrency)
    total = sum(entry[2] for entry in entries.values()) or 1.0
    scale = per_recipient[1] / total  # profiled seconds -> unprofiled µs a recipient
    by_group = _by_group(entries, per_recipient[1])
    print(f"## Where a broadcast's CPU goes ({n:,} recipients, cProfile)")
    print()
    print(
        "Own time by group, in µs a recipient: each group's share of its "
        f"profile times the unprofiled run's CPU ({per_recipient[0]:,.0f} µs "
        f"for the loop of library calls, {per_recipient[1]:,.0f} for the "
        "broadcast). The last column is what the engine adds to each group."
    )
    print()
    h.table(
        ["group", "library calls µs/recipient", "broadcast µs/recipient", "added"],
        [
            (
                group,
                f"{calls.get(group, 0.0):,.0f}",
                f"{value:,.0f}",
                f"{value - calls.get(group, 0.0):+,.0f}",
            )
            for group, value in sorted(
                by_group.items(), key=lambda kv: -(kv[1] - calls.get(kv[0], 0.0))
            )
        ],
    )
    ranked = sorted(entries.items(), key=lambda kv: -kv[1][2])
    engine_side = [
        entry
        for entry in ranked
        if group_of(*entry[0]) in {ENGINE, HANDOFF, ANYIO, SNIFFIO}
    ][:top]
    for title, chosen in (
        ("The costliest functions", ranked[:top]),
        ("The costliest functions of the engine, anyio and sniffio", engine_side),
    ):
        print(f"{title} (own time; calls count coroutine resumptions):")
        print()
        _functions(chosen, n, scale)


def _functions(
    chosen: list[tuple[tuple[str, int, str], tuple[Any, ...]]], n: int, scale: float
) -> None:
    h.table(
        [
            "function",
            "group",
            "calls/recipient",
            "own µs/recipient",
            "with callees µs/recipient",
        ],
        [
            (
                f"{h.short_path(filename)}:{line}({function})",
                group_of(filename, line, function),
                f"{entry[1] / n:.1f}",
                f"{entry[2] * scale:,.1f}",
                f"{entry[3] * scale:,.1f}",
            )
            for (filename, line, function), entry in chosen
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10_000, help="recipients")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--profile", action="store_true", help="then profile one broadcast"
    )
    parser.add_argument("--top", type=int, default=30, help="functions listed")
    args = h.parse_args(parser, quick={"n": 1000, "rounds": 2})
    pinned = h.pin_client()
    h.header(
        "The broadcast engine's own cost, on a transport that does nothing",
        f"{args.n:,} recipients, one send and one status poll each, "
        f"{args.concurrency} workers, {args.rounds} rounds alternating the "
        f"contenders, medians, {pinned}, in-process do-nothing transport",
    )
    cpus: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    walls: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(args.rounds):
        for name, run in CONTENDERS.items():
            clock = h.Clock()
            delivered = asyncio.run(run(args.n, args.concurrency, clock))
            if delivered != args.n:
                raise RuntimeError(f"{name}: {delivered} of {args.n} delivered")
            cpus[name].append(clock.cpu / args.n * 1e6)
            walls[name].append(args.n / clock.wall)
    cpu = {name: h.median(values) for name, values in cpus.items()}
    raw, calls, engine = (cpu[name] for name in CONTENDERS)
    h.table(
        ["contender", "CPU µs/recipient", "recipients/s", "vs raw httpx loop"],
        [
            (
                name,
                f"{cpu[name]:,.0f}",
                f"{h.median(walls[name]):,.0f}",
                h.ratio(cpu[name], raw),
            )
            for name in CONTENDERS
        ],
    )
    h.table(
        ["layer", "CPU µs/recipient (send + poll)"],
        [
            ("raw httpx over the do-nothing transport", f"{raw:,.0f}"),
            ("the library's request path (calls - raw)", f"{calls - raw:,.0f}"),
            ("the broadcast engine (broadcast - calls)", f"{engine - calls:,.0f}"),
        ],
    )
    if args.profile:
        started = time.perf_counter()
        profile_run(args.n, args.concurrency, (calls, engine), args.top)
        print(f"(profiled run: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
