"""Stale keep-alive connections: sends reported in doubt that the server never read.

A server that closes idle kept-alive connections races the client's next
request on them: a send written on a connection just closed is lost, and
the client must report it ``unknown`` (``maybe_sent=True``), so that
recipient is never texted. This counts such *false unknowns*: sends the
client reported ``unknown`` that the stub never read (the stub counts the
texts it read; every recipient is sent once, so false unknowns = unknown -
(read - accepted)). Three servers, each against both backends, as the
library is and as it was before (httpx: `ReservingPool` without its
connection checks, aiohttp: a plain ``TCPConnector``; both with the 30 s
keep-alive expiry it had):

- **5 ms idle**: the stub closes a connection idle 5 ms; one broadcast of
  ``--n`` recipients, at concurrency 50, with no pause (the shape of the
  report that found the problem).
- **deliberate race**: the stub closes a connection idle ``--idle-timeout``
  (1 s); the broadcast sends ``--batches`` batches of ``--batch-size``
  recipients, pausing between batches a time drawn uniformly within 2% of
  the timeout, so that connections are reused about when the stub closes
  them. With and without ``Keep-Alive: timeout=1`` in the answers.
- **idle gaps**: the same with pauses of 1.5 times the timeout: every
  connection is closed well before its reuse.

A send found stale before it was written fails as not sent and is retried
(up to ``max_retries``); "not sent" counts the recipients whose retries
all met stale connections (reported ``error``: safe to send again).

    python benchmarks/bench_stale_connections.py            # about 5 minutes
    python benchmarks/bench_stale_connections.py --quick    # about 1 minute

Client on core 0, stub server on core 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
from typing import TYPE_CHECKING

import _harness as h
import httpcore

from iprogsms_async import IProgSMS
from iprogsms_async._pool import ReservingPool
from iprogsms_async.broadcast import ACCEPTED, ERROR, UNKNOWN

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

BEFORE_EXPIRY = 30.0
"""The keep-alive expiry of both backends before the checks came."""


class _ReservingPoolBefore(ReservingPool):
    """`ReservingPool` as it was: httpcore's own connections, no checks."""

    create_connection = httpcore.AsyncConnectionPool.create_connection


def _as_before(client: IProgSMS, backend: str) -> None:
    """Make ``client``'s pool what it was before the keep-alive checks.

    Call it inside the running loop (the aiohttp session is made there).
    """
    wire = client._shared.wire  # noqa: SLF001 -- benchmark
    if backend == "httpx":
        pool = wire.http._transport._pool  # type: ignore[attr-defined]  # noqa: SLF001
        pool.__class__ = _ReservingPoolBefore
        pool._keepalive_expiry = BEFORE_EXPIRY  # noqa: SLF001
    else:
        wire.session = _plain_session(wire.limits.max_connections)  # type: ignore[attr-defined]


def _plain_session(limit: int | None) -> object:
    """An aiohttp session on a plain ``TCPConnector``: no keep-alive checks."""
    import aiohttp  # noqa: PLC0415 -- optional

    connector = aiohttp.TCPConnector(limit=limit or 0, keepalive_timeout=BEFORE_EXPIRY)
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    )


async def _batches(
    count: int, size: int, pause: Callable[[], float]
) -> AsyncIterator[str]:
    """``count`` numbers, ``size`` at a time, with ``pause()`` seconds between."""
    for index, number in enumerate(h.numbers(count)):
        if index and index % size == 0:
            await asyncio.sleep(pause())
        yield number


async def _broadcast(
    url: str,
    backend: str,
    *,
    before: bool,
    count: int,
    size: int,
    pause: Callable[[], float],
    concurrency: int,
) -> tuple[int, int, int]:
    """Run one broadcast; return (accepted, unknown, not sent)."""
    async with IProgSMS(h.TOKEN, base_url=url, http_backend=backend) as client:  # type: ignore[arg-type]
        if before:
            _as_before(client, backend)
        report = await client.broadcast(
            _batches(count, size, pause),
            message=h.MESSAGE,
            concurrency=concurrency,
            poll=False,
        )
    return report.counts[ACCEPTED], report.counts[UNKNOWN], report.counts[ERROR]


def _row(
    server: h.Stub, label: str, backend: str, *, before: bool, **run: object
) -> list[object]:
    start = server.stats()
    broadcast = _broadcast(server.url, backend, before=before, **run)  # type: ignore[arg-type]
    accepted, unknown, not_sent = asyncio.run(broadcast)
    end = server.stats()
    read = end["sends"] - start["sends"]
    false = unknown - (read - accepted)
    recipients = accepted + unknown + not_sent
    return [
        label,
        backend,
        "before" if before else "library",
        recipients,
        unknown,
        false,
        f"{false / recipients * 1000:.1f}" if recipients else "n/a",
        not_sent,
        end["connections"] - start["connections"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=1500, help="recipients at 5 ms idle")
    parser.add_argument("--batches", type=int, default=20, help="batches per race")
    parser.add_argument("--batch-size", type=int, default=20, help="= concurrency")
    parser.add_argument("--idle-timeout", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="n 500, 6 batches")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    if args.quick:
        args.n, args.batches = 500, 6
    random.seed(args.seed)
    pinned = h.pin_client()
    backends = ["httpx", "aiohttp"] if h.has_aiohttp() else ["httpx"]
    timeout = args.idle_timeout
    h.header(
        "Stale keep-alive connections: sends in doubt that the server never read",
        f"{args.n:,} recipients at 5 ms idle (concurrency 50); "
        f"{args.batches} batches of {args.batch_size} at {timeout:g} s idle; "
        f"{pinned}",
    )
    race = {
        "count": args.batches * args.batch_size,
        "size": args.batch_size,
        "concurrency": args.batch_size,
    }
    near = functools.partial(random.uniform, timeout * 0.98, timeout * 1.02)
    rows: list[list[object]] = []
    servers: list[tuple[str, list[str], dict[str, object]]] = [
        (
            "5 ms idle",
            ["--idle-timeout", "0.005"],
            {"count": args.n, "size": args.n, "concurrency": 50, "pause": lambda: 0.0},
        ),
        (
            f"race at {timeout:g} s, no header",
            ["--idle-timeout", str(timeout)],
            {**race, "pause": near},
        ),
        (
            f"race at {timeout:g} s, Keep-Alive header",
            ["--idle-timeout", str(timeout), "--keep-alive-header"],
            {**race, "pause": near},
        ),
        (
            f"gaps of {timeout * 1.5:g} s, no header",
            ["--idle-timeout", str(timeout)],
            {**race, "pause": lambda: timeout * 1.5},
        ),
    ]
    for label, options, run in servers:
        with h.stub(0.0, options=options) as server:
            rows.extend(
                _row(server, label, backend, before=before, **run)
                for backend in backends
                for before in (True, False)
            )
    h.table(
        [
            "server",
            "backend",
            "client",
            "recipients",
            "unknown",
            "false unknown",
            "false per 1,000",
            "not sent",
            "connections",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
