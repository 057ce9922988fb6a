"""Each operation sends the documented request and reads the documented answer.

(The vendor examples are copied from ../shared/api/iprogsms-api-docs.txt.)
"""

import json
from datetime import datetime, timezone

import pytest

from iprogsms_async import (
    MANILA,
    APIError,
    Credits,
    InvalidPhoneNumber,
    MessageStatus,
    NetworkInfo,
    Reminder,
    SentMessage,
    ValidationError,
)
from iprogsms_async.resources.sms import checked_send_call, send_call

from .support import TOKEN

pytestmark = pytest.mark.anyio

# The vendor's documented answers, as given in ../shared/api/iprogsms-api-docs.txt.
SEND_OK = {
    "status": 200,
    "message": "Your SMS message has been successfully added to the queue and "
    "will be processed shortly.",
    "message_id": "iSms-XHYBk",
}
REMINDER = {
    "id": 1,
    "phone_number": "09171251234",
    "message": "Internet Bill.",
    "scheduled_at": "2025-03-08T05:00:00.000+08:00",
    "status": "scheduled",
    "created_at": "2025-03-07T16:11:38.937+08:00",
    "updated_at": "2025-03-07T16:11:38.937+08:00",
}


def body_of(route):
    return json.loads(route.calls.last.request.content)


def query_of(route):
    return dict(route.calls.last.request.url.params)


async def test_send(client, gateway):
    route = gateway.post("/sms_messages").respond(json=SEND_OK)
    sent = await client.sms.send("0917 125 1234", "Your bill is due", sms_provider=2)
    assert sent == SentMessage("iSms-XHYBk", "09171251234")
    assert sent.raw == SEND_OK
    assert body_of(route) == {
        "api_token": TOKEN,
        "phone_number": "09171251234",
        "message": "Your bill is due",
        "sms_provider": 2,
    }
    request = route.calls.last.request
    assert "api_token" not in str(request.url)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("iprogsms-async/")


@pytest.mark.parametrize("provider", [None, 0, 2])
def test_the_broadcasts_send_is_the_clients_of_checked_input(provider):
    # A broadcast checks each recipient once, as it reads it, and sends it
    # with checked_send_call: the same request as sms.send's.
    call, parse = send_call("0917 125 1234", "Your bill is due", provider)
    checked, checked_parse = checked_send_call(
        "09171251234", "Your bill is due", provider
    )
    assert checked == call
    assert (
        checked_parse(SEND_OK)
        == parse(SEND_OK)
        == SentMessage("iSms-XHYBk", "09171251234")
    )


async def test_send_leaves_out_the_provider_when_not_given(client, gateway):
    route = gateway.post("/sms_messages").respond(json=SEND_OK)
    await client.sms.send("+639171251234", "Hi")
    assert "sms_provider" not in body_of(route)


async def test_send_bulk_is_one_request_with_comma_joined_numbers(client, gateway):
    route = gateway.post("/sms_messages/send_bulk").respond(
        json={
            "status": 200,
            "message": "Your SMS messages have been successfully added to the queue.",
            "message_ids": "iSms-rQZvhq,iSms-tZrk96",
        }
    )
    many = await client.sms.send_bulk(["09171251234", "+63 918 123 4567"], "Hello")
    assert route.call_count == 1
    assert body_of(route) == {
        "api_token": TOKEN,
        "phone_number": "09171251234,09181234567",
        "message": "Hello",
    }
    assert many == [
        SentMessage("iSms-rQZvhq", "09171251234"),
        SentMessage("iSms-tZrk96", "09181234567"),
    ]


async def test_status(client, gateway):
    route = gateway.get("/sms_messages/status").respond(
        json={"status": 200, "message_status": "pending"}
    )
    status = await client.sms.status("iSms-XHYBk0")
    assert status == MessageStatus("iSms-XHYBk0", "pending")
    assert query_of(route) == {"api_token": TOKEN, "message_id": "iSms-XHYBk0"}
    assert route.calls.last.request.content == b""


async def test_credits(client, gateway):
    route = gateway.get("/account/sms_credits").respond(
        json={
            "status": "success",
            "message": "Account found.",
            "data": {"load_balance": 10},
        }
    )
    credits = await client.account.credits()
    assert credits == Credits(10)
    assert query_of(route) == {"api_token": TOKEN}


async def test_reminders_create(client, gateway):
    route = gateway.post("/message-reminders").respond(
        json={
            "status": "success",
            "message": "Message reminder successfully scheduled on March 08, 2025, "
            "at 05:00 AM and will be sent to 09171251234.",
            "data": REMINDER,
        }
    )
    reminder = await client.reminders.create(
        phone_number="09171251234",
        message="Internet Bill.",
        scheduled_at=datetime(2025, 3, 7, 21, 0, tzinfo=timezone.utc),
    )
    assert body_of(route) == {
        "api_token": TOKEN,
        "phone_number": "09171251234",
        "message": "Internet Bill.",
        "scheduled_at": "2025-03-08 05:00AM",
    }
    assert reminder == Reminder(
        id=1,
        phone_number="09171251234",
        message="Internet Bill.",
        scheduled_at=datetime(2025, 3, 8, 5, 0, tzinfo=MANILA),
        status="scheduled",
        created_at=datetime(2025, 3, 7, 16, 11, 38, 937000, tzinfo=MANILA),
        updated_at=datetime(2025, 3, 7, 16, 11, 38, 937000, tzinfo=MANILA),
    )


async def test_reminders_create_takes_the_api_string_form(client, gateway):
    route = gateway.post("/message-reminders").respond(
        json={"status": "success", "data": REMINDER}
    )
    await client.reminders.create(
        phone_number="09171251234",
        message="Internet Bill.",
        scheduled_at="2025-03-08 05:00AM",
    )
    assert body_of(route)["scheduled_at"] == "2025-03-08 05:00AM"


async def test_reminders_get(client, gateway):
    route = gateway.get("/message-reminders/1").respond(
        json={
            "status": "success",
            "message": "Message reminder found.",
            "data": REMINDER,
        }
    )
    reminder = await client.reminders.get(1)
    assert reminder.id == 1
    assert query_of(route) == {"api_token": TOKEN}


async def test_reminders_update_sends_only_the_changed_fields(client, gateway):
    updated = {**REMINDER, "scheduled_at": "2025-03-08T06:00:00.000+08:00"}
    route = gateway.patch("/message-reminders/1").respond(
        json={
            "status": "success",
            "message": "Message reminder updated successfully",
            "data": updated,
        }
    )
    reminder = await client.reminders.update(1, scheduled_at="2025-03-08 06:00AM")
    assert body_of(route) == {"api_token": TOKEN, "scheduled_at": "2025-03-08 06:00AM"}
    assert reminder.scheduled_at == datetime(2025, 3, 8, 6, 0, tzinfo=MANILA)


async def test_reminders_delete(client, gateway):
    route = gateway.delete("/message-reminders/1").respond(
        json={
            "status": "success",
            "message": "Message reminder successfully deleted.",
            "data": REMINDER,
        }
    )
    reminder = await client.reminders.delete(1)
    assert reminder.id == 1
    assert query_of(route) == {"api_token": TOKEN}


async def test_detect(client, gateway):
    route = gateway.post("/phone_numbers/detect").respond(
        json={
            "status": "success",
            "data": {
                "phone_number": "09123456789",
                "is_smart_tnt": False,
                "network": "Globe/TM",
            },
        }
    )
    info = await client.phone_numbers.detect("+639123456789")
    assert info == NetworkInfo("09123456789", is_smart_tnt=False, network="Globe/TM")
    assert body_of(route) == {"api_token": TOKEN, "phone_number": "09123456789"}


async def test_otp_send(client, gateway):
    route = gateway.post("/otp/send_otp").respond(
        json={
            "status": "success",
            "message": "OTP sent.",
            "data": {
                "otp_code": "123456",
                "otp_code_expires_at": "2025-03-08T05:05:00.000+08:00",
            },
        }
    )
    otp = await client.otp.send(
        "09171251234",
        expires_in_minutes=5,
        message="Your code is :otp",
        sms_provider=1,
    )
    assert otp.phone_number == "09171251234"
    assert otp.otp_code == "123456"
    assert otp.expires_at == datetime(2025, 3, 8, 5, 5, tzinfo=MANILA)
    assert body_of(route) == {
        "api_token": TOKEN,
        "phone_number": "09171251234",
        "message": "Your code is :otp",
        "expires_in_minutes": 5,
        "sms_provider": 1,
    }


async def test_otp_verify_true(client, gateway):
    route = gateway.post("/otp/verify_otp").respond(
        json={"status": "success", "message": "OTP verified."}
    )
    assert await client.otp.verify("09171251234", "123456") is True
    assert body_of(route) == {
        "api_token": TOKEN,
        "phone_number": "09171251234",
        "otp": "123456",
    }


@pytest.mark.parametrize(
    ("status_code", "body"),
    [
        (400, {"status": "error", "message": "Invalid OTP."}),
        (422, {"message": "The otp has expired."}),
        (404, {"message": "No OTP found."}),
        (200, {"status": "error", "message": "Invalid OTP."}),
    ],
)
async def test_otp_verify_false_when_the_code_is_refused(
    client, gateway, status_code, body
):
    gateway.post("/otp/verify_otp").respond(status_code, json=body)
    assert await client.otp.verify("09171251234", "000000") is False


# --- input is checked before any request ------------------------------------

BAD_CALLS = [
    ("sms.send", lambda c: c.sms.send("12345", "hi"), InvalidPhoneNumber),
    ("sms.send message", lambda c: c.sms.send("09171251234", "   "), ValidationError),
    ("sms.send type", lambda c: c.sms.send("09171251234", None), ValidationError),
    (
        "sms.send provider",
        lambda c: c.sms.send("09171251234", "hi", sms_provider=3),
        ValidationError,
    ),
    (
        "sms.send provider bool",
        lambda c: c.sms.send("09171251234", "hi", sms_provider=True),
        ValidationError,
    ),
    (
        "sms.send_bulk one bad",
        lambda c: c.sms.send_bulk(["09171251234", "0917"], "hi"),
        InvalidPhoneNumber,
    ),
    ("sms.send_bulk empty", lambda c: c.sms.send_bulk([], "hi"), ValidationError),
    (
        "sms.send_bulk string",
        lambda c: c.sms.send_bulk("09171251234,09181234567", "hi"),
        ValidationError,
    ),
    ("sms.status", lambda c: c.sms.status(""), ValidationError),
    ("sms.status slash", lambda c: c.sms.status("../account"), ValidationError),
    (
        "reminders.create time",
        lambda c: c.reminders.create(
            phone_number="09171251234", message="x", scheduled_at="2025-03-08 5AM"
        ),
        ValidationError,
    ),
    ("reminders.get", lambda c: c.reminders.get(0), ValidationError),
    ("reminders.get str", lambda c: c.reminders.get("1"), ValidationError),
    ("reminders.update nothing", lambda c: c.reminders.update(1), ValidationError),
    ("detect", lambda c: c.phone_numbers.detect("+1 415 555 0100"), InvalidPhoneNumber),
    (
        "otp.send placeholder",
        lambda c: c.otp.send("09171251234", message="no code here"),
        ValidationError,
    ),
    (
        "otp.send expiry",
        lambda c: c.otp.send("09171251234", expires_in_minutes=0),
        ValidationError,
    ),
    ("otp.verify", lambda c: c.otp.verify("09171251234", ""), ValidationError),
]


@pytest.mark.parametrize(
    ("name", "call", "error"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS]
)
async def test_bad_input_is_refused_before_any_request(
    client, gateway, name, call, error
):
    with pytest.raises(error) as caught:
        await call(client)
    assert isinstance(caught.value, ValueError)
    assert caught.value.maybe_sent is False
    assert gateway.calls.call_count == 0


@pytest.mark.parametrize("status_code", [402, 405, 409, 302])
async def test_otp_verify_raises_for_answers_that_are_not_about_the_code(
    client, gateway, status_code
):
    gateway.post("/otp/verify_otp").respond(status_code, json={"message": "no"})
    with pytest.raises(APIError):
        await client.otp.verify("09171251234", "000000")
