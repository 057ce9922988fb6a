"""Running out of credits: the broadcast stops sending, reports the rest, resumes."""

from __future__ import annotations

import httpx
import pytest

from iprogsms_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    IProgSMS,
    RateLimitError,
    ServerError,
)
from iprogsms_async._response import says_out_of_credits
from iprogsms_async.broadcast import ACCEPTED, NOT_SENT
from iprogsms_async.testing import FakeGateway, Faults

from ..support import TOKEN
from .conftest import numbers

pytestmark = pytest.mark.anyio

FAST_POLL = {"poll_interval": 0.01, "poll_max_interval": 0.02}


class Log(httpx.AsyncBaseTransport):
    """Wraps a transport and writes each request's start into a shared log."""

    def __init__(self, inner: httpx.AsyncBaseTransport, log: list[tuple[str, str]]):
        self.inner = inner
        self.log = log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def logged_client(fake: FakeGateway, log: list[tuple[str, str]]) -> IProgSMS:
    return IProgSMS(
        fake.token, base_url=fake.base_url, transport=Log(fake.transport(), log)
    )


# --- the refusal and its class ------------------------------------------------------


async def test_sms_send_without_credits_raises_insufficient_credits(no_backoff):
    fake = FakeGateway(credits=0)
    async with fake.client() as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.sms.send("09171251234", "Hi")
    error = caught.value
    assert isinstance(error, APIError)
    assert error.status_code == 402
    assert error.maybe_sent is False
    assert error.unsent == 0
    assert "Insufficient credits" in str(error)
    assert fake.messages == []


REFUSALS = [
    (402, {"message": "Payment required."}, InsufficientCreditsError),
    (400, {"status": "error", "message": "Insufficient load balance."}, None),
    (200, {"status": "error", "message": "Not enough credits to send."}, None),
    (403, {"message": "Your SMS credits are exhausted."}, None),
    (422, {"errors": {"message": ["Insufficient balance."]}}, None),
    (400, {"status": "error", "message": "Insufficient permissions."}, BadRequestError),
    (422, {"message": "The credits field is required."}, BadRequestError),
    (400, {"message": "Message contains a suspicious link."}, BadRequestError),
    (401, {"message": "Invalid token: no credits for you."}, AuthenticationError),
    (403, {"message": "Forbidden."}, AuthenticationError),
    (429, {"message": "Not enough credits per minute."}, RateLimitError),
    (502, {"message": "Insufficient load balancer capacity."}, ServerError),
    (500, {"message": "Insufficient credits."}, ServerError),
]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    REFUSALS,
    ids=[f"{status} {body}" for status, body, _ in REFUSALS],
)
async def test_a_refusal_for_credits_is_recognised_by_status_or_words(
    gateway, status, body, expected
):
    gateway.post("/sms_messages").respond(status, json=body)
    async with IProgSMS(TOKEN, max_retries=0) as client:
        with pytest.raises(APIError) as caught:
            await client.sms.send("09171251234", "Hi")
    assert type(caught.value) is (expected or InsufficientCreditsError)
    if expected is None:
        assert caught.value.maybe_sent is False


@pytest.mark.parametrize(
    "message",
    [
        "Insufficient credits. This request needs 1 credits and your account has 0.",
        "insufficient SMS credits",
        "You have no remaining credits",
        "Out of load",
        "Your balance is too low",
        "Zero balance",
    ],
)
def test_words_that_say_the_credits_ran_out(message):
    assert says_out_of_credits(message)


@pytest.mark.parametrize(
    "message",
    [
        "Insufficient permissions",
        "Not enough parameters",
        "load balancer timeout",
        "no load balancing",
        "Balance inquiry failed",
        "Daily load limit reached",
        "no credits-related problem",
        "Invalid phone number",
        None,
    ],
)
def test_words_that_do_not(message):
    assert not says_out_of_credits(message)


# --- a broadcast stops sending -------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 10])
async def test_a_broadcast_stops_sending_when_the_credits_run_out(
    concurrency, no_backoff
):
    fake = FakeGateway(credits=3, seed=5, faults=Faults(latency=0.02))
    log: list[tuple[str, str]] = []
    recipients = numbers(40)

    def on_result(result):
        log.append(("result", result.status))

    async with logged_client(fake, log) as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.broadcast(
                recipients, message="Hi", concurrency=concurrency, on_result=on_result
            )
    error = caught.value
    assert error.unsent == 37
    assert "37 recipients were not sent" in str(error)
    assert error.maybe_sent is False
    assert isinstance(error.__cause__, InsufficientCreditsError)
    report = error.report
    assert report is not None
    assert [r.index for r in report.results] == list(range(40))
    assert report.counts == {"delivered": 3, NOT_SENT: 37}  # polled to the end
    assert all(r.message_id is None for r in report.with_status(NOT_SENT))
    assert all(
        isinstance(r.error, InsufficientCreditsError)
        for r in report.with_status(NOT_SENT)
    )
    # on_result saw every recipient, and no send started once the broadcast
    # knew: sends already on the wire then were answered and reported.
    assert [entry for entry in log if entry[0] == "result"].__len__() == 40
    first = log.index(("result", NOT_SENT))
    assert not [entry for entry in log[first:] if entry[0] == "POST"]
    posts = sum(1 for method, _ in log if method == "POST")
    assert posts <= 3 + concurrency
    assert len(fake.messages) == 3


async def test_a_rerun_after_a_top_up_sends_exactly_the_rest(tmp_path, no_backoff):
    fake = FakeGateway(credits=3, seed=6, faults=Faults(latency=0.01))
    journal = tmp_path / "j.sqlite"
    recipients = numbers(40)
    async with fake.client() as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.broadcast(
                recipients, message="Hi", journal=journal, concurrency=8, poll=False
            )
        assert "run the broadcast again with the same journal" in str(caught.value)
        first_posts = fake.requests["POST /sms_messages"]
        fake.credits = 100
        again = await client.broadcast(
            recipients, message="Hi", journal=journal, concurrency=8, poll=False
        )
    assert again.counts == {ACCEPTED: 40}
    assert fake.requests["POST /sms_messages"] - first_posts == caught.value.unsent
    for result in again.results:
        assert fake.texts_to(result.phone_number) == ["Hi"]
    assert len(fake.messages) == 40


async def test_bulk_chunks_stop_too_and_resume(tmp_path, no_backoff):
    fake = FakeGateway(credits=25, seed=7)
    journal = tmp_path / "j.sqlite"
    recipients = numbers(40)
    options = {"message": "Hi", "journal": journal, "batch_size": 10, "poll": False}
    async with fake.client() as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.broadcast(recipients, concurrency=1, **options)
        assert caught.value.report.counts == {ACCEPTED: 20, NOT_SENT: 20}
        assert caught.value.unsent == 20
        # Two chunks went out, the third was refused whole, the fourth never sent.
        assert fake.requests == {"POST /sms_messages/send_bulk": 3}
        fake.credits = 100
        again = await client.broadcast(recipients, concurrency=1, **options)
    assert again.counts == {ACCEPTED: 40}
    assert fake.requests == {"POST /sms_messages/send_bulk": 5}
    for result in again.results:
        assert fake.texts_to(result.phone_number) == ["Hi"]


async def test_the_stream_gives_every_result_then_raises(no_backoff):
    fake = FakeGateway(credits=3, seed=8)
    seen = []
    async with fake.client() as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            async with client.broadcast_stream(
                numbers(40), message="Hi", poll=False
            ) as results:
                seen.extend([result async for result in results])
    assert sorted(r.index for r in seen) == list(range(40))
    assert sum(r.status == NOT_SENT for r in seen) == 37 == caught.value.unsent
    assert "send them again" in str(caught.value)  # no journal to rerun with


async def test_a_refusal_worded_as_out_of_credits_stops_a_broadcast_too(no_backoff):
    sent = 0

    def gateway(request):
        nonlocal sent
        if sent == 2:
            body = {"status": "error", "message": "Insufficient load balance."}
            return httpx.Response(400, json=body)
        sent += 1
        return httpx.Response(200, json={"status": 200, "message_id": f"iSms-{sent}"})

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.broadcast(numbers(10), message="Hi", concurrency=1, poll=False)
    assert caught.value.status_code == 400
    assert caught.value.report.counts == {ACCEPTED: 2, NOT_SENT: 8}


async def test_the_credit_check_still_refuses_before_sending(fake, client):
    fake.credits = 3
    with pytest.raises(InsufficientCreditsError) as caught:
        await client.broadcast(numbers(4), message="Hi", check_credits=True)
    error = caught.value
    assert (error.needed, error.available, error.unsent) == (4, 3, 0)
    assert error.url.endswith("/account/sms_credits")
    assert error.report is not None
    assert error.report.results == []
    assert error.report.estimate.valid == 4
    assert fake.requests == {"GET /account/sms_credits": 1}
