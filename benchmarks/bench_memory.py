"""Peak memory: a long broadcast streamed, against a hand-written gather loop.

Each client runs in a fresh Python process of its own, and reports its peak
resident set size (``ru_maxrss``): ``--n`` recipients (100,000 by default),
each texted once and polled once, read lazily from a generator by
``client.broadcast_stream``, or gathered at once by the hand-written
semaphore + gather loop. A third process only imports everything, to show
the floor. Target (issue 15): the stream at most 64 MiB peak, at 1,000,000
recipients too, and its RSS not growing from ``--checkpoint`` to ``--n``
with ``--no-deduplicate``. For 1,000,000 use the in-process do-nothing
transport, which is fast, and leave the gather loop out::

    python benchmarks/bench_memory.py --n 1000000 --transport null \\
        --no-deduplicate --modes floor,stream

Both use the same machinery (``--backend``, aiohttp by default when
installed: the stream on the aiohttp backend, the gather loop on a raw
aiohttp session; the httpx backend gives the same memory picture, only
slower).

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --n 20000 --backend httpx

Client on core 0, stub server on core 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _harness as h

TARGET_MIB = 64


async def _stream(url: str, n: int, backend: str, concurrency: int) -> int:
    from iprogsms_async import IProgSMS  # noqa: PLC0415 -- measured in the child

    delivered = 0
    null = _SETTINGS["transport"] == "null"
    checkpoint = _SETTINGS["checkpoint"]
    async with (
        IProgSMS(
            h.TOKEN,
            base_url=NULL_URL if null else url,
            http_backend="httpx" if null else backend,  # type: ignore[arg-type]
            transport=h.null_transport() if null else None,
        ) as client,
        client.broadcast_stream(
            h.numbers(n),
            message=h.MESSAGE,
            concurrency=concurrency,
            poll_interval=0.001,
            poll_max_interval=0.01,
            deduplicate=_SETTINGS["deduplicate"],
        ) as results,
    ):
        seen = 0
        async for result in results:
            delivered += result.status == "delivered"
            seen += 1
            if seen == checkpoint:
                _SAMPLES["at_checkpoint_mib"] = _current_rss_mib()
    _SAMPLES["at_end_mib"] = _current_rss_mib()
    return delivered


def _current_rss_mib() -> float:
    """This process's resident set size now (not its peak), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


NULL_URL = "http://127.0.0.1:9/api/v1"  # never dialled: the transport answers
_SETTINGS: dict[str, Any] = {"transport": "stub", "checkpoint": 0, "deduplicate": True}
_SAMPLES: dict[str, float] = {}


async def _gather(url: str, n: int, backend: str, concurrency: int) -> int:
    import httpx  # noqa: PLC0415 -- measured in the child

    transport: httpx.AsyncBaseTransport | None = None
    if _SETTINGS["transport"] == "null":
        transport, url = h.null_transport(), NULL_URL
    elif backend == "aiohttp":
        import aiohttp  # noqa: PLC0415 -- optional

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            statuses = await h.aiohttp_loop(
                session, url, list(h.numbers(n)), concurrency
            )
        return statuses.count("delivered")
    async with httpx.AsyncClient(transport=transport) as http:
        # What such loops usually do: a list of numbers in, a list out.
        statuses = await h.httpx_loop(http, url, list(h.numbers(n)), concurrency)
    return statuses.count("delivered")


async def _floor(url: str, n: int, backend: str, concurrency: int) -> int:
    del url, n, backend, concurrency
    import httpx  # noqa: F401, PLC0415

    import iprogsms_async  # noqa: PLC0415

    if h.has_aiohttp():
        import iprogsms_async._aiohttp  # noqa: F401, PLC0415
    return 0


CHILDREN = {"stream": _stream, "gather": _gather, "floor": _floor}


def child(mode: str, url: str, n: int, backend: str, concurrency: int) -> None:
    """Run one client and print its peak RSS and time as JSON."""
    h.pin_client()
    started = time.perf_counter()
    delivered = asyncio.run(CHILDREN[mode](url, n, backend, concurrency))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "peak_mib": peak_kib / 1024,
                "seconds": time.perf_counter() - started,
                "delivered": delivered,
                **_SAMPLES,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="recipients")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--backend",
        choices=("httpx", "aiohttp"),
        default="aiohttp" if h.has_aiohttp() else "httpx",
    )
    parser.add_argument(
        "--transport",
        choices=("stub", "null"),
        default="stub",
        help="null: the in-process do-nothing transport (fast; for 1,000,000)",
    )
    parser.add_argument(
        "--no-deduplicate",
        dest="deduplicate",
        action="store_false",
        help="broadcast_stream with deduplicate=False (no set of numbers seen)",
    )
    parser.add_argument(
        "--checkpoint",
        type=int,
        default=100_000,
        help="also sample the stream's RSS after this many results, to see "
        "whether it grows from there to --n",
    )
    parser.add_argument(
        "--modes",
        default="floor,stream,gather",
        help="which clients run (the gather loop holds every recipient: "
        "leave it out at 1,000,000)",
    )
    parser.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = h.parse_args(parser, quick={"n": 10_000})
    _SETTINGS.update(
        transport=args.transport,
        checkpoint=args.checkpoint,
        deduplicate=args.deduplicate,
    )
    if args.child:
        child(args.child, args.url, args.n, args.backend, args.concurrency)
        return
    h.header(
        "Peak memory: broadcast_stream against a gather loop",
        f"{args.n:,} recipients, one send and one poll each, concurrency "
        f"{args.concurrency}, "
        + (
            "the in-process do-nothing transport"
            if args.transport == "null"
            else f"{args.backend} transport"
        )
        + f", deduplicate={args.deduplicate}, each client in a fresh process "
        "(peak RSS)",
    )
    results = {}
    with h.stub() as server:
        for mode in args.modes.split(","):
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    "--url",
                    server.url,
                    "--n",
                    str(args.n),
                    "--backend",
                    args.backend,
                    "--concurrency",
                    str(args.concurrency),
                    "--transport",
                    args.transport,
                    "--checkpoint",
                    str(args.checkpoint),
                    *([] if args.deduplicate else ["--no-deduplicate"]),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[mode] = json.loads(output.strip().splitlines()[-1])
    floor = results["floor"]["peak_mib"] if "floor" in results else float("nan")
    rows = []
    for mode, label in (
        ("floor", "imports only (the floor)"),
        ("stream", "client.broadcast_stream"),
        ("gather", "hand-written httpx semaphore + gather"),
    ):
        if mode not in results:
            continue
        result = results[mode]
        expected = 0 if mode == "floor" else args.n
        if result["delivered"] != expected:
            raise RuntimeError(f"{mode}: {result['delivered']} of {expected} delivered")
        peak = result["peak_mib"]
        rows.append(
            (
                label,
                f"{peak:.1f}",
                f"{peak - floor:.1f}" if mode != "floor" else "",
                f"{result['seconds']:.1f}",
                f"≤ {TARGET_MIB} MiB: {h.verdict(peak <= TARGET_MIB)}"
                if mode == "stream"
                else "",
            )
        )
    h.table(
        ["client", "peak RSS MiB", "above the floor MiB", "seconds", "target"], rows
    )
    if "stream" in results and "gather" in results:
        stream, gather = results["stream"]["peak_mib"], results["gather"]["peak_mib"]
        print(f"gather loop / stream, peak RSS: {h.ratio(gather, stream)}")
        print()
    stream_result = results.get("stream", {})
    if "at_checkpoint_mib" in stream_result and args.n > args.checkpoint:
        at, end = stream_result["at_checkpoint_mib"], stream_result["at_end_mib"]
        grown = (end - at) * 2**20 / (args.n - args.checkpoint)
        h.table(
            [
                "broadcast_stream",
                f"RSS after {args.checkpoint:,}",
                f"RSS after {args.n:,}",
                "growth",
            ],
            [
                (
                    f"deduplicate={args.deduplicate}",
                    f"{at:.1f} MiB",
                    f"{end:.1f} MiB",
                    f"{end - at:+.1f} MiB ({grown:+.0f} bytes a recipient)",
                )
            ],
        )


if __name__ == "__main__":
    main()
