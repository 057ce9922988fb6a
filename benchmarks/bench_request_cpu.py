"""Client CPU per request: the library against the raw library it runs on.

For each backend, the same ``--n`` requests go through ``client.sms.send``
(and ``client.sms.status``) and through the raw HTTP library with
``raise_for_status()`` and ``.json()``, with the same pool, against the same
stub server, driven by the same fixed pool of ``--concurrency`` workers, in
the same process. The httpx backend is held to a raw
``httpx.AsyncClient.post`` (``.get``) on the same kind of transport (target:
at most 1.15x), the aiohttp backend to a raw aiohttp ``ClientSession``
(target, issue 15: at most 1.2x). Rounds alternate between the two, and the
table gives medians and the ratio library / raw. A third row prices
``shield_sends=True``, which under asyncio runs each send in a task of its
own. On the aiohttp backend two more rows time the backend's wire alone
(``AiohttpWire.exchange``, nothing of the library above it), to tell what
the wire adds to aiohttp from what the library's layers add.
``--concurrency 1`` makes it one sequential request at a time.

    python benchmarks/bench_request_cpu.py
    python benchmarks/bench_request_cpu.py --n 500 --rounds 3 --backends httpx

Client on core 0, stub server on core 1 (when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import TYPE_CHECKING

import _harness as h
import httpx

from iprogsms_async import IProgSMS
from iprogsms_async._transports import DEFAULT_AIOHTTP_LIMITS, DEFAULT_LIMITS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

TARGET = 1.15
AIOHTTP_TARGET = 1.2  # issue 15: one send on the aiohttp backend against raw aiohttp
_ROWS = (  # (operation, the library's column, the raw column it is held to)
    ("sms.send", 0, 0),
    ("sms.status", 1, 1),
    ("sms.send, shield_sends=True", 2, 0),
)
_TARGETED = {"sms.send", "sms.status"}


async def _drive(
    operation: Callable[[int], Awaitable[object]], n: int, concurrency: int
) -> float:
    """Run ``operation(i)`` for i < n on ``concurrency`` workers; CPU µs each."""
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            await operation(i)

    await operation(-1)  # warm up: connect, import, build caches
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - cpu) / n * 1e6


async def library_round(
    url: str, backend: str, n: int, concurrency: int
) -> tuple[float, float, float]:
    """CPU µs per send, per status read, and per send with ``shield_sends``."""
    async with IProgSMS(h.TOKEN, base_url=url, http_backend=backend) as client:  # type: ignore[arg-type]
        sent = await client.sms.send("09170000000", h.MESSAGE)
        shielded = client.with_options(shield_sends=True)

        async def send(i: int) -> object:
            return await client.sms.send(f"0917{i % 10_000_000:07d}", h.MESSAGE)

        async def status(_: int) -> object:
            return await client.sms.status(sent.message_id)

        async def shielded_send(i: int) -> object:
            return await shielded.sms.send(f"0917{i % 10_000_000:07d}", h.MESSAGE)

        return (
            await _drive(send, n, concurrency),
            await _drive(status, n, concurrency),
            await _drive(shielded_send, n, concurrency),
        )


async def raw_round(url: str, n: int, concurrency: int) -> tuple[float, float]:
    """CPU µs per send and per status read through raw httpx."""
    async with httpx.AsyncClient(limits=DEFAULT_LIMITS) as http:

        async def send(i: int) -> object:
            answer = await http.post(
                url + "/sms_messages",
                json={
                    "api_token": h.TOKEN,
                    "phone_number": f"0917{i % 10_000_000:07d}",
                    "message": h.MESSAGE,
                },
            )
            answer.raise_for_status()
            return answer.json()["message_id"]

        message_id = await send(0)

        async def status(_: int) -> object:
            answer = await http.get(
                url + "/sms_messages/status",
                params={"api_token": h.TOKEN, "message_id": message_id},
            )
            answer.raise_for_status()
            return answer.json()["message_status"]

        return (
            await _drive(send, n, concurrency),
            await _drive(status, n, concurrency),
        )


async def raw_aiohttp_round(url: str, n: int, concurrency: int) -> tuple[float, float]:
    """CPU µs per send and per status read through a raw aiohttp session.

    What the aiohttp backend is held to (issue 15): the same requests with
    ``raise_for_status()`` and ``.json()``, on one ``ClientSession``.
    """
    import aiohttp  # noqa: PLC0415 -- optional

    connector = aiohttp.TCPConnector(limit=DEFAULT_AIOHTTP_LIMITS.max_connections or 0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(i: int) -> object:
            async with session.post(
                url + "/sms_messages",
                json={
                    "api_token": h.TOKEN,
                    "phone_number": f"0917{i % 10_000_000:07d}",
                    "message": h.MESSAGE,
                },
            ) as answer:
                answer.raise_for_status()
                return str((await answer.json())["message_id"])

        message_id = str(await send(0))

        async def status(_: int) -> object:
            async with session.get(
                url + "/sms_messages/status",
                params={"api_token": h.TOKEN, "message_id": message_id},
            ) as answer:
                answer.raise_for_status()
                return (await answer.json())["message_status"]

        return (
            await _drive(send, n, concurrency),
            await _drive(status, n, concurrency),
        )


async def wire_round(url: str, n: int, concurrency: int) -> tuple[float, float]:
    """CPU µs per send and per status read through the aiohttp wire alone.

    A diagnostic: `AiohttpWire.exchange` called as the Requester calls it,
    with nothing of the library above it (no input checks, no retry logic,
    no parsing into a model). The library row minus this row is what those
    layers cost; this row minus raw aiohttp is what the wire adds to aiohttp.
    """
    from iprogsms_async._redact import Secret  # noqa: PLC0415 -- diagnostic
    from iprogsms_async._response import RequestContext  # noqa: PLC0415

    async with IProgSMS(h.TOKEN, base_url=url, http_backend="aiohttp") as client:
        wire = client._shared.wire  # noqa: SLF001 -- a diagnostic of the internals
        timeout = client.timeout
        secret = Secret(h.TOKEN)
        send_url, status_url = url + "/sms_messages", url + "/sms_messages/status"
        sending = RequestContext("POST", send_url, sends_sms=True, secret=secret)
        reading = RequestContext("GET", status_url, sends_sms=False, secret=secret)

        async def send(i: int) -> object:
            body = {
                "api_token": h.TOKEN,
                "phone_number": f"0917{i % 10_000_000:07d}",
                "message": h.MESSAGE,
            }
            answer = await wire.exchange(
                "POST", send_url, None, body, timeout, 100.0, sending
            )
            return answer.content

        async def status(_: int) -> object:
            query = {"message_id": "iSms-1", "api_token": h.TOKEN}
            answer = await wire.exchange(
                "GET", status_url, query, None, timeout, 100.0, reading
            )
            return answer.content

        return (
            await _drive(send, n, concurrency),
            await _drive(status, n, concurrency),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--backends", default="httpx,aiohttp")
    args = h.parse_args(parser, quick={"n": 1000, "rounds": 1})
    backends = [
        b for b in args.backends.split(",") if b != "aiohttp" or h.has_aiohttp()
    ]
    pinned = h.pin_client()
    h.header(
        "Client CPU per request: the library against the raw library it runs on",
        f"{args.n} requests per round and operation, {args.concurrency} workers, "
        f"median of {args.rounds} alternating rounds, {pinned}, 0 ms server latency",
    )
    rows = []
    with h.stub() as server:
        for backend in backends:
            raw: list[tuple[float, float]] = []
            lib: list[tuple[float, float, float]] = []
            wired: list[tuple[float, float]] = []
            for _ in range(args.rounds):
                if backend == "aiohttp":
                    raw_run = raw_aiohttp_round(server.url, args.n, args.concurrency)
                    wired.append(
                        asyncio.run(wire_round(server.url, args.n, args.concurrency))
                    )
                else:
                    raw_run = raw_round(server.url, args.n, args.concurrency)
                raw.append(asyncio.run(raw_run))
                lib.append(
                    asyncio.run(
                        library_round(server.url, backend, args.n, args.concurrency)
                    )
                )
            limit = AIOHTTP_TARGET if backend == "aiohttp" else TARGET
            for operation, column, baseline in _ROWS:
                raw_cpu = h.median([r[baseline] for r in raw])
                lib_cpu = h.median([r[column] for r in lib])
                target = (
                    f"≤ {limit}x: {h.verdict(lib_cpu <= limit * raw_cpu)}"
                    if operation in _TARGETED
                    else "(opt-in; none)"
                )
                rows.append(
                    (
                        backend,
                        operation,
                        f"{raw_cpu:,.0f} (raw {backend})",
                        f"{lib_cpu:,.0f}",
                        h.ratio(lib_cpu, raw_cpu),
                        target,
                    )
                )
            for operation, column in (("sms.send", 0), ("sms.status", 1)):
                if not wired:
                    break
                raw_cpu = h.median([r[column] for r in raw])
                wire_cpu = h.median([r[column] for r in wired])
                rows.append(
                    (
                        backend,
                        f"{operation}: the wire alone, no library above it",
                        f"{raw_cpu:,.0f} (raw {backend})",
                        f"{wire_cpu:,.0f}",
                        h.ratio(wire_cpu, raw_cpu),
                        "(diagnostic; none)",
                    )
                )
    h.table(
        [
            "backend",
            "operation",
            "raw µs/request",
            "library µs/request",
            "library / raw",
            "target",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
