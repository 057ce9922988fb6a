"""Every attempt ends within a total deadline, whatever a server trickles or refuses.

httpx's timeouts (and aiohttp's) bound each read, each write, each connect:
a server that trickles its answer one byte at a time, each byte in time, or
that never reads a large request, would hold an attempt for ever. The client
bounds the whole attempt by the sum of its timeout's parts (4 s for
``timeout=1.0``), and so a shielded send, a broadcast's drain and ``aclose()``.

Raw loopback servers in threads (tests/loopback.py), under asyncio and trio
for httpx, asyncio for aiohttp. Each call must end within `BOUND`: far above
the 4 s deadline, far below the minutes a trickle would take.
"""

from __future__ import annotations

import anyio
import pytest

from iprogsms_async import APITimeoutError, IProgSMS
from iprogsms_async._request import total_deadline
from iprogsms_async.broadcast import UNKNOWN

from ..loopback import base_url, deaf, serve, trickle
from ..support import TOKEN

pytestmark = pytest.mark.anyio

SEND_OK = {"status": 200, "message": "queued", "message_id": "iSms-1"}
STATUS_OK = {"status": 200, "message_status": "pending"}
NUMBER = "09171251234"
BOUND = 15.0  # seconds, for timeout=1.0 (a deadline of 4 s)
SENDS = "/api/v1/sms_messages"


def client_for(url, backend, **options):
    """A client of ``url`` over ``backend`` with ``timeout=1.0``: a 4 s deadline."""
    return IProgSMS(TOKEN, base_url=url, timeout=1.0, http_backend=backend, **options)


def test_the_deadline_is_the_sum_of_the_timeouts_parts():
    import httpx  # noqa: PLC0415 -- only here

    assert total_deadline(httpx.Timeout(1.0)) == 4.0
    assert total_deadline(httpx.Timeout(30.0, connect=10.0)) == 100.0
    assert total_deadline(httpx.Timeout(5.0, pool=None)) is None


async def test_a_send_whose_answer_trickles_is_maybe_sent_within_the_deadline(
    backend, no_backoff
):
    with serve({"/sms_messages": trickle(SEND_OK)}) as server:
        async with client_for(base_url(server), backend) as client:
            with anyio.fail_after(BOUND), pytest.raises(APITimeoutError) as caught:
                await client.sms.send(NUMBER, "hi")
    assert caught.value.maybe_sent is True
    if backend == "aiohttp":
        # Its read timeout bounds the wait for the answer's head as a whole
        # (httpx's restarts with each byte): it ends first, at 1 s.
        assert "read timeout of 1 s" in str(caught.value)
    else:
        assert "total of 4 s" in str(caught.value)
    assert server.hits[SENDS] == 1  # never repeated


async def test_a_read_whose_answer_trickles_times_out_and_is_retried(
    backend, no_backoff
):
    with serve({"/sms_messages/status": trickle(STATUS_OK)}) as server:
        async with client_for(base_url(server), backend, max_retries=1) as client:
            with anyio.fail_after(2 * BOUND), pytest.raises(APITimeoutError) as caught:
                await client.sms.status("iSms-1")
    assert caught.value.maybe_sent is False
    assert server.hits["/api/v1/sms_messages/status"] == 2


async def test_a_shielded_send_cancelled_during_a_trickle_still_ends(
    backend, no_backoff
):
    # The shield waits for the send on the wire, and the deadline holds inside.
    with serve({"/sms_messages": trickle(SEND_OK)}) as server:
        async with client_for(base_url(server), backend, shield_sends=True) as client:
            with (
                anyio.fail_after(BOUND),
                pytest.raises(APITimeoutError) as caught,
                anyio.move_on_after(0.5),
            ):
                await client.sms.send(NUMBER, "hi")
    # Seen through, the send ends at its deadline: its error reaches the
    # caller before the cancellation does.
    assert caught.value.maybe_sent is True
    assert server.hits[SENDS] == 1


async def test_a_broadcast_cancelled_during_a_trickle_drains_within_the_deadline(
    backend, no_backoff
):
    reported = []
    with serve({"/sms_messages": trickle(SEND_OK)}) as server:
        async with client_for(base_url(server), backend) as client:
            with anyio.fail_after(BOUND), anyio.CancelScope() as scope:
                async with anyio.create_task_group() as group:

                    async def cancel_once_sent():
                        while server.hits[SENDS] < 3:
                            await anyio.sleep(0.01)
                        scope.cancel()

                    group.start_soon(cancel_once_sent)
                    await client.broadcast(
                        [f"0917{i:07d}" for i in range(10)],
                        message="hi",
                        concurrency=3,
                        on_result=reported.append,
                    )
    assert scope.cancelled_caught
    # The three sends on the wire were seen through to their deadline and
    # reported in doubt; nothing else was sent.
    assert server.hits[SENDS] == 3
    assert [r.status for r in reported] == [UNKNOWN] * 3
    assert all(isinstance(r.error, APITimeoutError) for r in reported)


async def test_aclose_during_a_trickle_ends_within_the_deadline(backend, no_backoff):
    errors = []
    with serve({"/sms_messages": trickle(SEND_OK)}) as server:
        client = client_for(base_url(server), backend)

        async def send():
            try:
                await client.sms.send(NUMBER, "hi")
            except APITimeoutError as error:
                errors.append(error)

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as group:
                group.start_soon(send)
                while not server.hits[SENDS]:
                    await anyio.sleep(0.01)
                await client.aclose()  # waits for the send on the wire: bounded
    assert client.is_closed
    [error] = errors
    assert error.maybe_sent is True


# aiohttp advises against a body this large in one piece; a text never is.
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
async def test_a_large_send_to_a_server_that_never_reads_ends_within_the_deadline(
    backend, no_backoff
):
    # A write that never completes: httpx bounds it by its write timeout,
    # aiohttp by nothing of its own; the total deadline bounds both.
    with deaf() as url:
        async with client_for(url, backend) as client:
            with anyio.fail_after(BOUND), pytest.raises(APITimeoutError) as caught:
                await client.sms.send(NUMBER, "x" * 6_000_000)
    assert caught.value.maybe_sent is True
