"""One place decides retries: reads retry on blips; a maybe-sent send never repeats."""

import logging

import anyio
import httpx
import pytest

from iprogsms_async import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConfigurationError,
    IProgSMS,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from iprogsms_async._retry import RetryPolicy, parse_retry_after
from iprogsms_async.testing import is_testing, set_testing

from .support import BASE, TOKEN

pytestmark = pytest.mark.anyio

OK_STATUS = httpx.Response(200, json={"status": 200, "message_status": "pending"})
OK_SEND = httpx.Response(200, json={"status": 200, "message_id": "iSms-1"})


@pytest.fixture
def sleeps(monkeypatch):
    """Record every wait the client asks for (still sleeping for real, briefly)."""
    recorded = []
    real_sleep = anyio.sleep

    async def recording_sleep(delay):
        recorded.append(delay)
        await real_sleep(min(delay, 0.5))

    monkeypatch.setattr(anyio, "sleep", recording_sleep)
    return recorded


# --- reads --------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503),
        httpx.Response(500, json={"message": "oops"}),
        httpx.Response(408),
        httpx.Response(429),
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow answer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
    ],
    ids=lambda f: getattr(f, "status_code", None) or type(f).__name__,
)
async def test_reads_are_retried_on_transient_failures(client, gateway, failure):
    route = gateway.get("/sms_messages/status").mock(
        side_effect=[failure, failure, OK_STATUS]
    )
    status = await client.sms.status("iSms-1")
    assert status.status == "pending"
    assert route.call_count == 3


async def test_reads_give_up_after_max_retries(client, gateway):
    route = gateway.get("/sms_messages/status").respond(503)
    with pytest.raises(ServerError):
        await client.sms.status("iSms-1")
    assert route.call_count == 3  # the first attempt and max_retries=2


async def test_max_retries_zero_disables_retrying(client, gateway):
    route = gateway.get("/sms_messages/status").respond(503)
    with pytest.raises(ServerError):
        await client.with_options(max_retries=0).sms.status("iSms-1")
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(400, json={"message": "bad"}), BadRequestError),
        (httpx.Response(404, json={"message": "no such message"}), NotFoundError),
        (httpx.Response(200, json={"status": 200}), ResponseFormatError),
        (httpx.Response(200, text="<html>hi</html>"), ResponseFormatError),
    ],
)
async def test_reads_are_not_retried_on_definite_answers(
    client, gateway, response, error
):
    route = gateway.get("/sms_messages/status").mock(return_value=response)
    with pytest.raises(error):
        await client.sms.status("iSms-1")
    assert route.call_count == 1


async def test_idempotent_writes_retry_like_reads(client, gateway):
    ok = httpx.Response(
        200,
        json={
            "status": "success",
            "data": {
                "id": 1,
                "phone_number": "09171251234",
                "message": "m",
                "scheduled_at": "2025-03-08T06:00:00+08:00",
                "status": "scheduled",
            },
        },
    )
    patch = gateway.patch("/message-reminders/1").mock(
        side_effect=[httpx.Response(502), ok]
    )
    delete = gateway.delete("/message-reminders/1").mock(
        side_effect=[httpx.ReadTimeout("slow"), ok]
    )
    await client.reminders.update(1, message="m")
    await client.reminders.delete(1)
    assert (patch.call_count, delete.call_count) == (2, 2)


# --- sends ------------------------------------------------------------------------

SENDS = {
    "sms.send": ("/sms_messages", lambda c: c.sms.send("09171251234", "hi")),
    "sms.send_bulk": (
        "/sms_messages/send_bulk",
        lambda c: c.sms.send_bulk(["09171251234"], "hi"),
    ),
    "otp.send": ("/otp/send_otp", lambda c: c.otp.send("09171251234")),
    "reminders.create": (
        "/message-reminders",
        lambda c: c.reminders.create(
            phone_number="09171251234", message="hi", scheduled_at="2030-01-01 09:00AM"
        ),
    ),
}


@pytest.mark.parametrize("name", SENDS)
@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.Response(500), ServerError),
        (httpx.Response(503, text="<html>busy</html>"), ServerError),
        (httpx.ReadTimeout("slow answer"), APITimeoutError),
        (httpx.WriteTimeout("slow write"), APITimeoutError),
        (httpx.RemoteProtocolError("Server disconnected"), APIConnectionError),
        (httpx.ReadError("connection reset"), APIConnectionError),
        (httpx.WriteError("broken pipe"), APIConnectionError),
        (httpx.Response(200, text="<html>ok?</html>"), ResponseFormatError),
    ],
    ids=lambda f: getattr(f, "status_code", None) or type(f).__name__,
)
async def test_a_send_that_may_have_arrived_is_never_repeated(
    client, gateway, name, failure, error
):
    path, call = SENDS[name]
    route = gateway.post(path).mock(side_effect=[failure, OK_SEND])
    with pytest.raises(error) as caught:
        await call(client)
    assert caught.value.maybe_sent is True
    assert route.call_count == 1


@pytest.mark.parametrize("name", SENDS)
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.PoolTimeout("no free connection"),
        httpx.Response(429, headers={"Retry-After": "0"}),
    ],
    ids=lambda f: getattr(f, "status_code", None) or type(f).__name__,
)
async def test_a_send_that_certainly_did_not_arrive_is_retried(
    client, gateway, name, failure
):
    path, call = SENDS[name]
    ok = httpx.Response(
        200,
        json={
            "status": 200,
            "message_id": "iSms-1",
            "message_ids": "iSms-1",
            "data": {
                "id": 1,
                "phone_number": "09171251234",
                "message": "hi",
                "scheduled_at": "2030-01-01T09:00:00+08:00",
                "status": "scheduled",
            },
        },
    )
    route = gateway.post(path).mock(side_effect=[failure, ok])
    await call(client)
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.Response(429)],
    ids=["ConnectError", "429"],
)
async def test_a_send_that_never_arrives_fails_as_not_sent(client, gateway, failure):
    route = gateway.post("/sms_messages")
    if isinstance(failure, Exception):
        route.mock(side_effect=failure)
    else:
        route.mock(return_value=failure)
    with pytest.raises((APIConnectionError, RateLimitError)) as caught:
        await client.sms.send("09171251234", "hi")
    assert caught.value.maybe_sent is False
    assert route.call_count == 3


async def test_otp_verify_is_not_repeated_after_it_may_have_arrived(client, gateway):
    route = gateway.post("/otp/verify_otp").respond(503)
    with pytest.raises(ServerError) as caught:
        await client.otp.verify("09171251234", "123456")
    assert route.call_count == 1
    assert caught.value.maybe_sent is False  # it texts nobody


# --- waiting ------------------------------------------------------------------


async def test_retry_after_is_honoured(client, gateway, sleeps):
    route = gateway.post("/sms_messages").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "0.05"}), OK_SEND]
    )
    await client.sms.send("09171251234", "hi")
    assert route.call_count == 2
    assert 0.05 in sleeps


async def test_a_retry_after_beyond_the_cap_is_not_waited_for(client, gateway, sleeps):
    route = gateway.get("/sms_messages/status").respond(
        429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(RateLimitError) as caught:
        await client.sms.status("iSms-1")
    assert caught.value.retry_after == 3600
    assert route.call_count == 1
    assert all(delay <= 60 for delay in sleeps)


async def test_a_429_holds_back_every_request_of_the_client(client, gateway, sleeps):
    gateway.get("/sms_messages/status").respond(429, headers={"Retry-After": "0.2"})
    credits = gateway.get("/account/sms_credits").respond(
        json={"status": "success", "data": {"load_balance": 5}}
    )
    with pytest.raises(RateLimitError):
        await client.with_options(max_retries=0).sms.status("iSms-1")
    assert client._shared.pause.remaining() > 0
    # A different call, on a copy sharing the pool, waits out the pause first.
    await client.with_options(timeout=5).account.credits()
    assert credits.call_count == 1
    assert sleeps
    assert 0 < sleeps[0] <= 0.2


async def test_retries_are_logged_at_info(client, gateway, caplog):
    gateway.get("/sms_messages/status").mock(
        side_effect=[httpx.Response(503), OK_STATUS]
    )
    with caplog.at_level(logging.INFO, logger="iprogsms_async"):
        await client.sms.status("iSms-1")
    retries = [r for r in caplog.records if r.name == "iprogsms_async"]
    assert len(retries) == 1
    assert retries[0].levelno == logging.INFO
    assert "Retrying GET /sms_messages/status" in retries[0].getMessage()
    assert "retry 1 of 2" in retries[0].getMessage()


def test_backoff_grows_exponentially_up_to_the_cap():
    policy = RetryPolicy(max_retries=10)
    assert [policy.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert all(0 <= policy.delay(n) <= policy.ceiling(n) for n in range(6))
    assert policy.delay(10) is None
    assert RetryPolicy(max_retries=0).delay(0) is None


def test_backoff_is_jittered():
    policy = RetryPolicy(max_retries=5)
    delays = {policy.delay(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(0 <= d <= 4.0 for d in delays)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("5", 5.0),
        ("0.25", 0.25),
        ("-3", 0.0),
        ("soon", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
    ],
)
def test_parse_retry_after(header, expected):
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after(header, now=now) == expected


async def test_max_retries_is_validated():
    with pytest.raises(ConfigurationError):
        IProgSMS(TOKEN, max_retries=-1)


def test_testing_mode_skips_computed_waits_and_restores_the_mode():
    policy = RetryPolicy(max_retries=3)
    assert not is_testing()
    with set_testing(True) as mode:
        assert mode.testing
        assert [policy.delay(n) for n in range(3)] == [0.0, 0.0, 0.0]
        assert policy.delay(3) is None  # retries still end where they would
    assert not is_testing()
    assert 0 <= policy.delay(2) <= policy.ceiling(2)


def test_testing_mode_waits_for_retry_after_up_to_its_cap():
    policy = RetryPolicy(max_retries=3)
    with set_testing(True):
        assert policy.delay(0, retry_after=5.0) == 5.0
        assert policy.pause(5.0, 5.0) == 5.0
    with set_testing(True, retry_after_cap=0.1):
        assert policy.delay(0, retry_after=5.0) == 0.1
        assert policy.pause(5.0, 5.0) == 0.1
        assert policy.delay(0, retry_after=120.0) is None  # over max_retry_after
    assert policy.pause(5.0, None) == 5.0


def test_set_testing_works_as_a_plain_call():
    set_testing(True)
    try:
        assert RetryPolicy().delay(0) == 0.0
    finally:
        set_testing(False)
    assert not is_testing()


@pytest.mark.parametrize("cap", [-1.0, float("inf"), float("nan")])
def test_set_testing_refuses_a_bad_cap(cap):
    with pytest.raises(ValueError, match="retry_after_cap"):
        set_testing(True, retry_after_cap=cap)
    assert not is_testing()


async def test_a_client_in_testing_mode_retries_without_waiting(gateway, caplog):
    route = gateway.get("/sms_messages/status").mock(
        side_effect=[httpx.Response(503), httpx.Response(503), OK_STATUS]
    )
    with set_testing(True), caplog.at_level(logging.INFO, logger="iprogsms_async"):
        async with IProgSMS(TOKEN, base_url=BASE, max_retries=2) as client:
            status = await client.sms.status("iSms-1")
    assert status.status == "pending"
    assert route.call_count == 3
    retries = [r.getMessage() for r in caplog.records if "Retrying" in r.getMessage()]
    assert len(retries) == 2
    assert all(" in 0.00 s " in message for message in retries)
