"""Each fault knob, and how the client reacts: retried or not, maybe_sent, error class.

Every test runs in-process and over loopback HTTP (uvicorn), on asyncio and trio.
"""

import pytest

from iprogsms_async import (
    APIConnectionError,
    APITimeoutError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from iprogsms_async.testing import Faults

from .helpers import NUMBER, OTHER

pytestmark = pytest.mark.anyio

SEND = "POST /sms_messages"
CREDITS = "GET /account/sms_credits"


@pytest.fixture(autouse=True)
def _fast(no_backoff, fake):
    fake.update_faults(retry_after=0.01, slow_seconds=10)


# --- 5xx -----------------------------------------------------------------------------


async def test_a_5xx_after_accept_on_a_send_is_maybe_sent_not_retried_one_text(
    connect, fake
):
    fake.fail_next("server_error_after_accept")
    async with connect() as client:
        with pytest.raises(ServerError) as caught:
            await client.sms.send(NUMBER, "Your order shipped")
    assert caught.value.maybe_sent is True
    assert caught.value.status_code == 500
    assert fake.requests[SEND] == 1
    assert fake.texts_to(NUMBER) == ["Your order shipped"]


async def test_a_5xx_after_accept_at_rate_one_never_duplicates(connect, fake):
    fake.update_faults(server_error_after_accept=1.0, endpoints="sends")
    async with connect() as client:
        for i in range(5):
            with pytest.raises(ServerError):
                await client.sms.send(NUMBER, f"text {i}")
        assert (await client.account.credits()).load_balance == fake.credits
    assert fake.texts_to(NUMBER) == [f"text {i}" for i in range(5)]
    assert fake.requests[SEND] == 5


async def test_a_5xx_after_accept_on_send_bulk_keeps_every_text_once(connect, fake):
    fake.fail_next("server_error_after_accept")
    async with connect() as client:
        with pytest.raises(ServerError) as caught:
            await client.sms.send_bulk([NUMBER, OTHER], "hi")
    assert caught.value.maybe_sent is True
    assert (fake.texts_to(NUMBER), fake.texts_to(OTHER)) == (["hi"], ["hi"])
    assert fake.requests["POST /sms_messages/send_bulk"] == 1


async def test_a_5xx_before_accept_on_a_send_is_still_maybe_sent_but_nothing_went(
    connect, fake
):
    fake.update_faults(server_error_status=503)
    fake.fail_next("server_error_before_accept")
    async with connect() as client:
        with pytest.raises(ServerError) as caught:
            await client.sms.send(NUMBER, "hi")
    # The client cannot tell the two apart; the fake knows nothing went out.
    assert caught.value.maybe_sent is True
    assert caught.value.status_code == 503
    assert fake.requests[SEND] == 1
    assert fake.messages == []


async def test_a_read_is_retried_through_5xx(connect, fake):
    fake.fail_next("server_error_before_accept", 2, endpoints=CREDITS)
    async with connect() as client:
        credits = await client.account.credits()
    assert credits.load_balance == fake.credits
    assert fake.requests[CREDITS] == 3


async def test_a_read_gives_up_after_its_retries(connect, fake):
    fake.fail_next("server_error_after_accept", 3, endpoints=CREDITS)
    async with connect(max_retries=2) as client:
        with pytest.raises(ServerError) as caught:
            await client.account.credits()
    assert caught.value.maybe_sent is False
    assert fake.requests[CREDITS] == 3


async def test_an_otp_check_is_not_retried_after_a_5xx_and_the_code_is_used(
    connect, fake
):
    async with connect() as client:
        sent = await client.otp.send(NUMBER)
        fake.fail_next("server_error_after_accept", endpoints="POST /otp/verify_otp")
        with pytest.raises(ServerError) as caught:
            await client.otp.verify(NUMBER, sent.otp_code)
    assert caught.value.maybe_sent is False  # checking a code texts nobody
    assert fake.requests["POST /otp/verify_otp"] == 1
    assert fake.otp_for(NUMBER) is None


async def test_a_reminder_created_behind_a_5xx_exists_once(connect, fake):
    fake.fail_next("server_error_after_accept")
    async with connect() as client:
        with pytest.raises(ServerError) as caught:
            await client.reminders.create(
                phone_number=NUMBER, message="x", scheduled_at="2025-03-08 05:00AM"
            )
    assert caught.value.maybe_sent is True
    assert list(fake.reminders) == [1]
    assert fake.requests["POST /message-reminders"] == 1


# --- 429 -----------------------------------------------------------------------------


async def test_a_send_refused_with_429_is_retried_and_goes_once(connect, fake):
    fake.fail_next("rate_limit")
    async with connect() as client:
        sent = await client.sms.send(NUMBER, "hi")
    assert fake.requests[SEND] == 2
    assert [m.message_id for m in fake.messages] == [sent.message_id]


async def test_429_to_the_end_is_a_rate_limit_error_with_retry_after(connect, fake):
    fake.update_faults(rate_limit=1.0, retry_after=0.02)
    async with connect(max_retries=2) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.sms.send(NUMBER, "hi")
    assert caught.value.retry_after == 0.02
    assert caught.value.maybe_sent is False
    assert fake.requests[SEND] == 3
    assert fake.messages == []


# --- dropped connections -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "texts"), [("drop_after_accept", ["hi"]), ("drop_before_accept", [])]
)
async def test_a_dropped_send_is_a_connection_error_maybe_sent_not_retried(
    connect, fake, kind, texts
):
    fake.fail_next(kind)
    async with connect() as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.sms.send(NUMBER, "hi")
        # The client (and its pool) still works afterwards.
        await client.sms.send(OTHER, "after")
    assert not isinstance(caught.value, APITimeoutError)
    assert "RemoteProtocolError" in str(caught.value)
    assert caught.value.maybe_sent is True
    assert fake.requests[SEND] == 2
    assert fake.texts_to(NUMBER) == texts


async def test_a_dropped_read_is_retried(connect, fake):
    fake.fail_next("drop_before_accept", endpoints=CREDITS)
    fake.fail_next("drop_after_accept", endpoints=CREDITS)
    async with connect() as client:
        await client.account.credits()
    assert fake.requests[CREDITS] == 3


async def test_a_delete_whose_answer_was_dropped_is_retried_into_not_found(
    connect, fake
):
    async with connect() as client:
        created = await client.reminders.create(
            phone_number=NUMBER, message="x", scheduled_at="2025-03-08 05:00AM"
        )
        fake.fail_next("drop_after_accept")
        with pytest.raises(NotFoundError):
            await client.reminders.delete(created.id)
    assert fake.requests["DELETE /message-reminders/{id}"] == 2
    assert fake.reminders == {}


# --- slow answers and latency --------------------------------------------------------


async def test_a_send_answered_too_late_is_a_timeout_maybe_sent_with_the_text_kept(
    connect, fake
):
    fake.fail_next("slow")
    async with connect(timeout=0.25) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.sms.send(NUMBER, "hi")
    assert caught.value.maybe_sent is True
    assert fake.requests[SEND] == 1
    assert fake.texts_to(NUMBER) == ["hi"]


async def test_a_read_answered_too_late_is_retried(connect, fake):
    fake.fail_next("slow", endpoints=CREDITS)
    async with connect(timeout=0.25) as client:
        await client.account.credits()
    assert fake.requests[CREDITS] == 2


async def test_latency_past_the_timeout_times_out_before_the_gateway_acts(
    connect, fake
):
    fake.faults = Faults(latency=10, endpoints="sends")
    async with connect(timeout=0.25) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.sms.send(NUMBER, "hi")
        await client.account.credits()  # not slowed: only sends are
    assert caught.value.maybe_sent is True
    assert fake.messages == []


async def test_every_operation_works_through_random_latency(connect, fake):
    fake.faults = Faults(latency=(0.0, 0.005))
    async with connect() as client:
        sent = await client.sms.send(NUMBER, "hi")
        await client.sms.send_bulk([NUMBER, OTHER], "all")
        await client.sms.status(sent.message_id)
        await client.account.credits()
        await client.phone_numbers.detect(NUMBER)
        otp = await client.otp.send(NUMBER)
        assert await client.otp.verify(NUMBER, otp.otp_code)
    assert len(fake.messages) == 4


# --- HTML instead of JSON ------------------------------------------------------------


async def test_an_html_page_after_a_send_is_a_format_error_maybe_sent(connect, fake):
    fake.fail_next("html")
    async with connect() as client:
        with pytest.raises(ResponseFormatError) as caught:
            await client.sms.send(NUMBER, "hi")
    assert caught.value.maybe_sent is True
    assert caught.value.status_code == 200
    assert "HTML page" in str(caught.value)
    assert fake.requests[SEND] == 1
    assert fake.messages == []


async def test_an_html_page_on_a_read_is_not_retried(connect, fake):
    fake.fail_next("html", endpoints=CREDITS)
    async with connect() as client:
        with pytest.raises(ResponseFormatError) as caught:
            await client.account.credits()
    assert caught.value.maybe_sent is False
    assert fake.requests[CREDITS] == 1


async def test_an_html_error_page_is_a_server_error_and_a_read_retries(connect, fake):
    fake.update_faults(html_status=502)
    fake.fail_next("html", endpoints=CREDITS)
    async with connect() as client:
        await client.account.credits()
    assert fake.requests[CREDITS] == 2


# --- scope ---------------------------------------------------------------------------


async def test_faults_limited_to_sends_leave_reads_alone(connect, fake):
    fake.faults = Faults(server_error_before_accept=1.0, endpoints="sends")
    async with connect(max_retries=0) as client:
        await client.account.credits()
        await client.phone_numbers.detect(NUMBER)
        with pytest.raises(ServerError):
            await client.sms.send(NUMBER, "hi")
        with pytest.raises(ServerError):
            await client.otp.send(NUMBER)
    assert fake.messages == []
