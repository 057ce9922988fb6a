"""The embedded fake gateway from the command line: ``sandbox serve`` and ``demo``."""

from __future__ import annotations

import contextlib
import ipaddress
import random
import threading
from typing import TYPE_CHECKING

from .._validation import TOKEN_VARIABLE
from ..broadcast import BroadcastOptions
from ..testing import FakeGateway, Faults
from ._broadcast import BroadcastView
from ._exit import ExitCode

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

__all__ = ["demo_command", "demo_gateway", "demo_recipients", "serve_command"]

DEMO_MESSAGE = "Hello from iprogsms-async: your bill is due on the 8th."


def serve_command(args: argparse.Namespace, *, errors: Console) -> ExitCode:
    """``iprogsms sandbox serve``: the fake over HTTP on loopback until Ctrl-C."""
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        errors.print(
            f"error: --host {args.host} is not a loopback address", markup=False
        )
        return ExitCode.BAD_INPUT
    fake = FakeGateway(
        token=args.token,
        credits=args.credits,
        delivery_delay=args.delivery_delay,
        failure_rate=args.failure_rate,
        seed=None,
    )
    with contextlib.ExitStack() as stack:
        try:
            base_url = stack.enter_context(
                fake.serve_in_thread(host=args.host, port=args.port)
            )
        except OSError as error:
            errors.print(
                f"error: cannot serve on {args.host} port {args.port}: "
                f"{error.strerror or error}; choose another --port "
                "(0 picks a free one)",
                markup=False,
            )
            return ExitCode.BAD_INPUT
        errors.print(
            f"Fake iProgSMS gateway at {base_url}  (token: {args.token})", markup=False
        )
        errors.print(
            f"Try: IPROGSMS_BASE_URL={base_url} {TOKEN_VARIABLE}={args.token} "
            "iprogsms credits\nCtrl-C to stop.",
            markup=False,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            errors.print("stopped", markup=False)
    return ExitCode.OK


def demo_gateway() -> FakeGateway:
    """A fake with realistic latency, delivery after a second, and a few faults."""
    return FakeGateway(
        credits=1_000_000,
        seed=2026,
        delivery_delay=1.0,
        failure_rate=0.02,
        faults=Faults(
            latency=(0.01, 0.06),
            server_error_before_accept=0.005,
            server_error_after_accept=0.003,
            rate_limit=0.004,
            retry_after=0.25,
            drop_after_accept=0.002,
        ),
    )


def demo_recipients(count: int, seed: int = 8) -> list[str]:
    """Generated numbers in mixed notations, with a few bad ones and repeats."""
    rng = random.Random(seed)  # noqa: S311 -- demo data
    out: list[str] = []
    for i in range(count):
        d = f"{rng.randrange(10**9):09d}"
        notations = (
            f"09{d}",
            f"+63 9{d[:2]} {d[2:5]} {d[5:]}",
            f"639{d}",
            f"09{d[:2]}-{d[2:5]}-{d[5:]}",
        )
        out.append(notations[i % len(notations)])
    for i in range(0, count, 250):
        out[i] = "0917-BAD-NUMBER"  # refused before any request
    for i in range(7, count, 400):
        out[i] = out[i - 1]  # a duplicate: sent once
    return out


async def demo_command(
    args: argparse.Namespace, *, console: Console, errors: Console
) -> ExitCode:
    """``iprogsms demo``: a broadcast against the sandbox, faults and all."""
    fake = demo_gateway()
    numbers = demo_recipients(args.recipients)
    errors.print(
        f"Broadcasting to {len(numbers)} generated recipients through the embedded "
        "fake gateway (latency, a few server errors, rate limits and dropped "
        "connections; nothing is really sent).",
        markup=False,
        soft_wrap=False,
    )
    view = BroadcastView(
        console=console,
        errors=errors,
        as_json=args.json,
        total=len(numbers),
        line_of=lambda index: index + 1,
    )
    async with fake.client() as client:
        await view.run(
            client,
            numbers,
            out=None,
            options=BroadcastOptions(
                message=DEMO_MESSAGE,
                concurrency=args.concurrency,
                poll_interval=0.5,
                poll_max_interval=2.0,
            ),
        )
    code = view.summary([], out=None, resume=None)
    per_number: dict[str, int] = {}
    for message in fake.messages:
        per_number[message.phone_number] = per_number.get(message.phone_number, 0) + 1
    twice = sum(1 for count in per_number.values() if count > 1)
    errors.print(
        f"The gateway accepted {len(fake.messages)} texts; numbers texted twice: "
        f"{twice}. 'unknown' means the gateway may have accepted a text whose "
        "answer was lost: it is never sent again.",
        markup=False,
        soft_wrap=False,
    )
    if twice:  # pragma: no cover - the guarantee this demo shows
        return ExitCode.INTERNAL
    return ExitCode.OK if code in (ExitCode.OK, ExitCode.PARTIAL) else code
