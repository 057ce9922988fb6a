"""Bounded concurrency, the rate limit, 429 pauses, laziness, and faults at scale."""

import itertools

import httpx
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async.broadcast import ACCEPTED, UNKNOWN
from iprogsms_async.testing import FakeGateway, Faults

from .conftest import numbers

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def check_accounting(report, fake, recipients):
    """The invariants every broadcast keeps, whatever the gateway did."""
    assert [r.index for r in report.results] == list(range(len(recipients)))
    accepted_by_fake = {m.message_id: m for m in fake.messages}
    per_number = {}
    for message in fake.messages:
        per_number[message.phone_number] = per_number.get(message.phone_number, 0) + 1
    # The gateway holds at most one text per recipient: nothing was sent twice.
    assert max(per_number.values(), default=0) <= 1
    for result in report.results:
        if result.message_id is not None:
            # Nobody the gateway did not accept is reported as accepted.
            assert result.message_id in accepted_by_fake
            assert (
                accepted_by_fake[result.message_id].phone_number == result.phone_number
            )
        elif result.status == UNKNOWN:
            assert result.error is not None
            assert result.error.maybe_sent
        else:
            # Reported as not sent: the gateway holds nothing for it.
            assert result.phone_number not in per_number, result
    reported = {r.message_id for r in report.results if r.message_id}
    unknown_numbers = {r.phone_number for r in report.results if r.status == UNKNOWN}
    for message_id, message in accepted_by_fake.items():
        # Whatever the gateway accepted is either reported or explicitly unknown.
        assert message_id in reported or message.phone_number in unknown_numbers


async def test_five_thousand_recipients_through_faults(no_backoff):
    fake = FakeGateway(
        credits=10_000_000,
        seed=11,
        faults=Faults(
            server_error_before_accept=0.03,
            server_error_after_accept=0.03,
            rate_limit=0.05,
            retry_after=0.01,
            drop_before_accept=0.01,
            drop_after_accept=0.01,
            html=0.01,
            latency=(0.0, 0.002),
        ),
    )
    recipients = numbers(5000)
    async with fake.client() as client:
        report = await client.broadcast(
            recipients,
            message="Your bill is due",
            concurrency=40,
            poll_interval=0.01,
            poll_max_interval=0.02,
            poll_timeout=2.0,
        )
    check_accounting(report, fake, recipients)
    counts = report.counts
    assert counts[UNKNOWN] > 0  # the ambiguous faults did strike
    assert counts["delivered"] > 4000
    assert fake.max_in_flight <= 40


async def test_in_flight_never_exceeds_concurrency(no_backoff):
    fake = FakeGateway(credits=100_000, seed=3, faults=Faults(latency=(0.0, 0.003)))
    async with fake.client() as client:
        await client.broadcast(
            numbers(600), message="Hi", concurrency=7, poll_interval=0.01
        )
    assert 1 < fake.max_in_flight <= 7


async def test_the_rate_limit_holds_across_all_workers(
    fake, recording, recorded_client
):
    rate = 100.0
    await recorded_client.broadcast(
        numbers(150), message="Hi", concurrency=20, rate_limit=rate, poll=False
    )
    starts = sorted(t for t, _, _ in recording.started)
    assert len(starts) == 150
    burst = 10  # ceil(rate / 10): the limiter's allowance for bursts
    # Admissions are spaced exactly; the moment a request reaches the
    # transport can lag its admission on a loaded machine, bunching a few.
    jitter = rate * 0.1
    for i, start in enumerate(starts):
        # Requests started within one second of this one, this one included.
        within = sum(1 for t in starts[i:] if t < start + 1.0)
        assert within <= rate + burst + jitter
    # Without a limit the 150 requests would all start within a fraction of
    # a second; with it they take at least (150 - burst) / rate seconds.
    assert starts[-1] - starts[0] >= (150 - burst - jitter) / rate


async def test_a_429_pauses_every_worker(fake, recording, recorded_client):
    fake.update_faults(retry_after=0.3)
    fake.fail_next("rate_limit", endpoints="sends")
    await recorded_client.broadcast(
        numbers(40), message="Hi", concurrency=8, poll=False, rate_limit=400
    )
    # The first send got the 429. Sends that started after it had answered
    # waited out the pause: none started within 0.3 s of the refusal, except
    # those already on the wire before it answered.
    sends = sorted(recording.sends())
    first = sends[0]
    early = [t for t in sends[1:] if first < t < first + 0.29]
    assert len(early) <= 8
    assert len(sends) == 41  # 40 texts and the one retry
    assert fake.requests["POST /sms_messages"] == 41
    assert len(fake.messages) == 40


async def test_an_infinite_input_is_read_only_as_workers_free_up(
    fake, recording, recorded_client
):
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            # How far reading has run ahead of sending, at each read.
            ahead.append(pulled - len(recording.sends()))
            yield f"0917{i:07d}"

    ahead = []
    async with recorded_client.broadcast_stream(
        endless(), message="Hi", concurrency=10, poll=False
    ) as results:
        async for result in results:
            if result.index >= 300:
                break
    assert max(ahead) <= 10 + 2
    # When the reader stops, the workers may be ahead of it by what the
    # results' stream holds (concurrency) and one recipient a worker: in
    # flight, or its result waiting for room in the stream, or (under trio)
    # read as its cancellation comes in (delivered at its next checkpoint:
    # it is not sent). A worker holds one of these at a time.
    assert pulled <= 300 + 2 * 10 + 2


async def test_over_real_http_with_faults(no_backoff):
    fake = FakeGateway(
        credits=1_000_000,
        seed=5,
        faults=Faults(
            server_error_after_accept=0.05,
            rate_limit=0.05,
            retry_after=0.01,
            drop_before_accept=0.02,
            drop_after_accept=0.02,
            latency=(0.0, 0.002),
        ),
    )
    recipients = numbers(400)
    with fake.serve_in_thread() as base_url:
        async with IProgSMS(fake.token, base_url=base_url) as client:
            report = await client.broadcast(
                recipients, message="Over HTTP", concurrency=16, poll_interval=0.01
            )
    check_accounting(report, fake, recipients)
    assert report.counts[UNKNOWN] > 0
    assert fake.max_in_flight <= 16


async def test_a_batch_whose_ids_do_not_match_is_unknown_as_a_whole(no_backoff):
    def handler(request):
        if request.url.path.endswith("/send_bulk"):
            return httpx.Response(
                200, json={"status": 200, "message_ids": "iSms-a,iSms-b"}
            )
        return httpx.Response(404)

    async with IProgSMS(
        "t", base_url=FakeGateway().base_url, transport=httpx.MockTransport(handler)
    ) as client:
        report = await client.broadcast(
            numbers(3), message="Hi", batch_size=3, poll=False
        )
    assert report.counts == {UNKNOWN: 3}
    assert all(r.message_id is None for r in report.results)
    assert all(r.error.maybe_sent for r in report.results)


async def test_accepted_only_counts_what_the_gateway_accepted(fake, client):
    fake.fail_next("server_error_before_accept", 3, endpoints="sends")
    report = await client.broadcast(numbers(5), message="Hi", poll=False)
    assert report.counts[ACCEPTED] == 2
    assert len(fake.messages) == 2
