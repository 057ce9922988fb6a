"""Chaos: a big broadcast over real HTTP while the gateway misbehaves in every way.

The fake gateway is served by uvicorn on 127.0.0.1 and answers 10% of requests
with a 5xx (half before it acted, half after), 5% with 429 and Retry-After,
drops 2% of connections (half before acting, half after) and answers 1% later
than the client's timeout. A wrapper notes what went back on the wire for each
send, and the broadcast's report is checked against it and against the texts
the gateway holds.

A request can also be lost before the gateway reads it: written on a kept-
alive connection just as the server closes it (uvicorn closes connections
idle for 5 s), or still unread when the client gives up waiting. The client
cannot tell that from a request read and then cut off, so such a send is
rightly ``unknown``, and the wire log has nothing for it. The test accepts
exactly that: a send the gateway never read is ``unknown`` with a lost
connection or a timeout as its error, or reported not sent. It used to
demand that every send be read, and failed on a loaded machine (2 runs in
3), where the client's pool reused connections idle near uvicorn's timeout.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from iprogsms_async import APIConnectionError, APITimeoutError, IProgSMS
from iprogsms_async.broadcast import ACCEPTED, ERROR, REJECTED, UNKNOWN
from iprogsms_async.testing import FakeGateway, Faults
from iprogsms_async.testing.wire import serve_in_thread

from ._wire_log import DROPPED, NO_ANSWER, WireLog

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHAOS = Faults(
    server_error_before_accept=0.05,
    server_error_after_accept=0.05,
    rate_limit=0.05,
    retry_after=0.01,
    drop_before_accept=0.01,
    drop_after_accept=0.01,
    slow=0.01,
    slow_seconds=3.0,
)
CLIENT_TIMEOUT = httpx.Timeout(1.0)  # shorter than slow_seconds
SENT = frozenset({"delivered", "failed", "pending", ACCEPTED})
# How a request the server never read can fail: the connection was closed
# under it (no answer, or a reset), or no answer came in time.
LOST_ON_THE_WAY = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def ambiguous(answer):
    """Whether the client could not tell from this answer if the text went out."""
    return answer in (DROPPED, NO_ANSWER) or (isinstance(answer, int) and answer >= 500)


def lost_on_the_way(error):
    """Whether ``error`` says the request may have been lost before it was read."""
    if isinstance(error, APITimeoutError):
        return True
    return isinstance(error, APIConnectionError) and isinstance(
        error.__cause__, LOST_ON_THE_WAY
    )


def recipients(count):
    return [f"09{170_000_000 + i:09d}" for i in range(count)]


async def run_chaos(count, *, concurrency, poll):
    fake = FakeGateway(credits=10_000_000, seed=2024, faults=CHAOS)
    wire = WireLog(fake.app)
    numbers = recipients(count)
    started = time.monotonic()
    with serve_in_thread(wire) as url:
        async with IProgSMS(fake.token, base_url=url, timeout=CLIENT_TIMEOUT) as client:
            report = await client.broadcast(
                numbers,
                message="Your bill is due on the 8th",
                concurrency=concurrency,
                poll=poll,
                poll_interval=0.05,
                poll_max_interval=0.1,
                poll_timeout=5.0,
            )
    elapsed = time.monotonic() - started
    return fake, wire, numbers, report, elapsed


def check_report(fake, wire, numbers, report):
    """Everything the chaos run must keep; returns the figures in the docs."""
    results = report.results
    # Every recipient has exactly one result.
    assert [r.index for r in results] == list(range(len(numbers)))
    assert [r.phone_number for r in results] == numbers

    held = Counter(m.phone_number for m in fake.messages)
    by_id = {m.message_id: m for m in fake.messages}
    # The gateway holds at most one text per recipient.
    duplicates = sum(n - 1 for n in held.values() if n > 1)
    assert duplicates == 0, held.most_common(5)

    never_read = 0
    for result in results:
        answers = wire.answers[result.phone_number]
        # The gateway never read the client's last send for this recipient
        # (see the module's docstring): none on the wire, or only 429s, each
        # of which the client retried (a 429 never ends in unknown).
        if not answers or (result.status == UNKNOWN and answers[-1] == 429):
            never_read += 1
            assert all(a == 429 for a in answers), (result, answers)
            assert held[result.phone_number] == 0, result
            assert result.message_id is None, result
            if result.status == UNKNOWN:
                # In doubt, as it may have been on its way: the connection
                # was lost under it, or no answer came in time.
                assert result.error.maybe_sent, result
                assert lost_on_the_way(result.error), result
            else:
                assert result.status == ERROR, result  # certainly not sent
                assert not result.error.maybe_sent, result
            continue
        last = answers[-1]
        # A send is repeated only after a 429: nothing else is ever retried.
        assert all(a == 429 for a in answers[:-1]), (result, answers)
        if result.status == UNKNOWN:
            assert result.message_id is None
            assert result.error is not None
            assert result.error.maybe_sent
            # Unknown only when the answer was lost or ambiguous: a 5xx, a
            # dropped connection, no answer in time.
            assert ambiguous(last) or isinstance(result.error, APITimeoutError), (
                result,
                answers,
            )
        else:
            # The client knew: it must not say unknown, and what it says is true.
            assert not ambiguous(last), (result, answers)
            if result.message_id is not None:
                assert result.status in SENT, result
                assert last == 200, (result, answers)
                message = by_id[result.message_id]  # the gateway holds this text
                assert message.phone_number == result.phone_number
            else:
                # Refused (4xx) or rate-limited past retries: nothing went out.
                assert result.status in (REJECTED, ERROR), result
                assert last == 429 or 400 <= last < 500, (result, answers)
                assert held[result.phone_number] == 0, result

    reported = {r.message_id for r in results if r.message_id is not None}
    unknown = {r.phone_number for r in results if r.status == UNKNOWN}
    for message in fake.messages:
        # Every text the gateway accepted is reported with its id, or in doubt.
        assert message.message_id in reported or message.phone_number in unknown

    requests = fake.requests["POST /sms_messages"]
    return {
        "recipients": len(numbers),
        "send requests": requests,
        "retried (429)": requests - len(numbers),
        "accepted and reported": len(reported),
        "delivered": report.counts["delivered"],
        "unknown": len(unknown),
        "unknown that went out": sum(1 for n in unknown if held[n]),
        "sends the gateway never read": never_read,
        "error (429 past retries)": report.counts[ERROR],
        "status polls": fake.requests["GET /sms_messages/status"],
        "texts held by the gateway": len(fake.messages),
        "duplicates texted": duplicates,
    }


# A hang guard only: on a loaded machine the run takes several times its
# usual 30 s, and nothing here depends on how long it takes.
@pytest.mark.timeout(600)
async def test_chaos_broadcast(anyio_backend):
    # uvicorn serves about 500 requests a second here: the full 10,000 sends
    # under asyncio; under trio a smaller crowd, polled to delivery through the
    # same faults.
    count, poll = (10_000, False) if anyio_backend == "asyncio" else (2_000, True)
    fake, wire, numbers, report, elapsed = await run_chaos(
        count, concurrency=32, poll=poll
    )
    figures = check_report(fake, wire, numbers, report)
    print(f"\nchaos broadcast ({anyio_backend}, {elapsed:.1f} s):")  # noqa: T201
    for name, value in figures.items():
        print(f"  {name:28} {value}")  # noqa: T201
    # The faults did strike, every kind of them.
    assert figures["retried (429)"] > 0
    assert figures["unknown"] > 0
    assert figures["unknown that went out"] > 0
    assert figures["unknown"] > figures["unknown that went out"]
    seen = Counter(a for answers in wire.answers.values() for a in answers)
    assert seen[DROPPED] > 0
    assert seen[NO_ANSWER] > 0
    assert seen[500] > 0
    assert seen[429] > 0
