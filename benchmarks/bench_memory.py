"""Peak memory: a long broadcast streamed, against a hand-written gather loop.

Each client runs in a fresh Python process of its own, and reports its peak
resident set size (``ru_maxrss``): ``--n`` recipients (100,000 by default),
each texted once and polled once, read lazily from a generator by
``client.broadcast_stream``, or gathered at once by the hand-written
semaphore + gather loop. A third process only imports everything, to show
the floor. Target: the stream at most 80 MiB.

Both use the same transport (``--backend``, aiohttp by default when
installed: the httpx backend gives the same memory picture, only slower).

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --n 20000 --backend httpx

Client on core 0, stub server on core 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time

import _harness as h

TARGET_MIB = 80


async def _stream(url: str, n: int, backend: str, concurrency: int) -> int:
    from iprogsms_async import IProgSMS  # noqa: PLC0415 -- measured in the child

    delivered = 0
    async with (
        IProgSMS(h.TOKEN, base_url=url, http_backend=backend) as client,  # type: ignore[arg-type]
        client.broadcast_stream(
            h.numbers(n),
            message=h.MESSAGE,
            concurrency=concurrency,
            poll_interval=0.001,
            poll_max_interval=0.01,
        ) as results,
    ):
        async for result in results:
            delivered += result.status == "delivered"
    return delivered


async def _gather(url: str, n: int, backend: str, concurrency: int) -> int:
    import httpx  # noqa: PLC0415 -- measured in the child

    transport = None
    if backend == "aiohttp":
        from iprogsms_async._aiohttp import AiohttpTransport  # noqa: PLC0415

        transport = AiohttpTransport(limits=httpx.Limits(max_connections=concurrency))
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
    parser.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = h.parse_args(parser, quick={"n": 10_000})
    if args.child:
        child(args.child, args.url, args.n, args.backend, args.concurrency)
        return
    h.header(
        "Peak memory: broadcast_stream against a gather loop",
        f"{args.n:,} recipients, one send and one poll each, concurrency "
        f"{args.concurrency}, {args.backend} transport, each client in a fresh "
        "process (peak RSS)",
    )
    results = {}
    with h.stub() as server:
        for mode in ("floor", "stream", "gather"):
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
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[mode] = json.loads(output.strip().splitlines()[-1])
    floor = results["floor"]["peak_mib"]
    rows = []
    for mode, label in (
        ("floor", "imports only (the floor)"),
        ("stream", "client.broadcast_stream"),
        ("gather", "hand-written httpx semaphore + gather"),
    ):
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
    stream, gather = results["stream"]["peak_mib"], results["gather"]["peak_mib"]
    print(f"gather loop / stream, peak RSS: {h.ratio(gather, stream)}")


if __name__ == "__main__":
    main()
