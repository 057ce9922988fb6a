"""Every endpoint answers with the vendor's documented shape (and words, where given).

The examples are copied from ../shared/api/iprogsms-api-docs.txt and the
vendor's blog post on phone number detection.
"""

import json

import httpx
import pytest

from iprogsms_async.testing import FakeGateway, ManualClock

from .helpers import DOC_CREATED, DOC_UPDATED, ISO_MS, MESSAGE_ID, NUMBER, TOKEN, shape
from .helpers import body as with_token

pytestmark = pytest.mark.anyio

SEND_DOC = {
    "status": 200,
    "message": "Your SMS message has been successfully added to the queue and "
    "will be processed shortly.",
    "message_id": "iSms-XHYBk",
}
BULK_DOC = {"status": 200, "message": "...", "message_ids": "iSms-rQZvhq,iSms-tZrk96"}
STATUS_DOC = {"status": 200, "message_status": "pending"}
CREDITS_DOC = {
    "status": "success",
    "message": "Account found.",
    "data": {"load_balance": 10},
}
REMINDER_CREATE_DOC = {
    "status": "success",
    "message": "Message reminder successfully scheduled on March 08, 2025, at "
    "05:00 AM and will be sent to 09171251234.",
    "data": {
        "id": 1,
        "phone_number": "09171251234",
        "message": "Internet Bill.",
        "scheduled_at": "2025-03-08T05:00:00.000+08:00",
        "status": "scheduled",
        "created_at": "2025-03-07T16:11:38.937+08:00",
        "updated_at": "2025-03-07T16:11:38.937+08:00",
    },
}
REMINDER_GET_DOC = {**REMINDER_CREATE_DOC, "message": "Message reminder found."}
REMINDER_UPDATE_DOC = {
    "status": "success",
    "message": "Message reminder updated successfully",
    "data": {
        "scheduled_at": "2025-03-08T06:00:00.000+08:00",
        "id": 1,
        "phone_number": "09171251234",
        "message": "Internet Bill.",
        "status": "scheduled",
        "created_at": "2025-03-07T16:11:38.937+08:00",
        "updated_at": "2025-03-07T16:36:18.090+08:00",
    },
}
REMINDER_DELETE_DOC = {
    "status": "success",
    "message": "Message reminder successfully deleted.",
    "data": {
        "id": 1,
        "phone_number": "09171251234",
        "message": "Internet Bill.",
        "scheduled_at": "2025-03-08T06:00:00.000+08:00",
        "status": "scheduled",
        "created_at": "2025-03-07T16:11:38.937+08:00",
        "updated_at": "2025-03-07T16:36:18.090+08:00",
    },
}
DETECT_DOC = {
    "status": "success",
    "data": {
        "phone_number": "09123456789",
        "is_smart_tnt": False,
        "network": "Globe/TM",
    },
}
DETECT_ERROR_DOC = {
    "status": "error",
    "message": "Invalid phone number format. Philippine mobile numbers must be in "
    "format: 09XXXXXXXXX or +639XXXXXXXXX (11 digits total)",
    "data": {
        "phone_number": "090812123232121323",
        "is_smart_tnt": False,
        "network": "Invalid Format",
    },
}


def assert_json(response, status=200):
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


async def test_send_matches_the_vendor_example(raw, fake):
    answer = assert_json(
        await raw.post(
            "/sms_messages",
            json=with_token(
                phone_number="09345678942", message="Hello, this is a test message."
            ),
        )
    )
    assert shape(answer) == shape(SEND_DOC)
    assert answer["status"] == 200
    assert answer["message"] == SEND_DOC["message"]
    assert MESSAGE_ID.fullmatch(answer["message_id"])
    assert fake.texts_to("09345678942") == ["Hello, this is a test message."]


async def test_send_with_everything_in_the_query_string_as_the_curl_example(raw, fake):
    # curl -X POST ".../sms_messages?api_token=...&message=Test+Message
    #   &phone_number=639109432834"
    response = await raw.post(
        "/sms_messages",
        params={
            "api_token": TOKEN,
            "message": "Test Message",
            "phone_number": "639109432834",
        },
    )
    assert shape(assert_json(response)) == shape(SEND_DOC)
    assert fake.texts_to("09109432834") == ["Test Message"]


async def test_the_query_string_wins_over_the_body_as_in_rails(raw, fake):
    response = await raw.post(
        "/sms_messages",
        params={"message": "from the query"},
        json=with_token(phone_number=NUMBER, message="from the body"),
    )
    assert response.status_code == 200
    assert fake.texts_to(NUMBER) == ["from the query"]


async def test_a_form_body_is_read_too(raw, fake):
    response = await raw.post(
        "/sms_messages",
        data={"api_token": TOKEN, "phone_number": NUMBER, "message": "form"},
    )
    assert response.status_code == 200
    assert fake.texts_to(NUMBER) == ["form"]


async def test_send_bulk_answers_comma_joined_ids_in_number_order(raw, fake):
    numbers = ["09171251234", "639181234567", "+639221234567"]
    answer = assert_json(
        await raw.post(
            "/sms_messages/send_bulk",
            json=with_token(phone_number=",".join(numbers), message="Hi all"),
        )
    )
    assert shape(answer) == shape(BULK_DOC)
    ids = answer["message_ids"].split(",")
    assert len(ids) == 3
    assert all(MESSAGE_ID.fullmatch(one) for one in ids)
    recorded = fake.messages
    assert [m.message_id for m in recorded] == ids
    assert [m.phone_number for m in recorded] == [
        "09171251234",
        "09181234567",
        "09221234567",
    ]
    assert {m.source for m in recorded} == {"send_bulk"}


async def test_status_matches_the_vendor_example():
    fake = FakeGateway(token=TOKEN, delivery_delay=60)
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url
    ) as http:
        sent = await http.post(
            "/sms_messages", json=with_token(phone_number=NUMBER, message="x")
        )
        response = await http.get(
            "/sms_messages/status",
            params={"api_token": TOKEN, "message_id": sent.json()["message_id"]},
        )
    assert assert_json(response) == STATUS_DOC


async def test_credits_match_the_vendor_example():
    fake = FakeGateway(token=TOKEN, credits=10)
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url
    ) as http:
        response = await http.get("/account/sms_credits", params={"api_token": TOKEN})
    assert assert_json(response) == CREDITS_DOC


async def test_reminder_crud_reproduces_the_vendor_examples_exactly():
    clock = ManualClock(DOC_CREATED)
    fake = FakeGateway(token=TOKEN, clock=clock)
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url
    ) as http:
        # The documented request: fields in both the query string and the body.
        fields = {
            "message": "Internet Bill.",
            "phone_number": "09171251234",
            "scheduled_at": "2025-03-08 05:00AM",
        }
        created = await http.post(
            "/message-reminders",
            params={"api_token": TOKEN, **fields},
            json=with_token(**fields),
        )
        assert assert_json(created) == REMINDER_CREATE_DOC

        found = await http.get("/message-reminders/1", params={"api_token": TOKEN})
        assert assert_json(found) == REMINDER_GET_DOC

        clock.advance((DOC_UPDATED - DOC_CREATED).total_seconds())
        updated = await http.patch(
            "/message-reminders/1",
            params={"api_token": TOKEN},
            json=with_token(scheduled_at="2025-03-08 06:00AM"),
        )
        answer = assert_json(updated)
        assert answer == REMINDER_UPDATE_DOC
        # The gateway lists the changed field first; so does the fake.
        assert list(answer["data"]) == list(REMINDER_UPDATE_DOC["data"])

        deleted = await http.delete("/message-reminders/1", params={"api_token": TOKEN})
        assert assert_json(deleted) == REMINDER_DELETE_DOC
        assert fake.reminders == {}


async def test_detect_matches_the_vendor_blog_shape(raw):
    answer = assert_json(
        await raw.post("/phone_numbers/detect", json=with_token(phone_number=NUMBER))
    )
    assert shape(answer) == shape(DETECT_DOC)
    assert answer["data"] == {
        "phone_number": NUMBER,
        "is_smart_tnt": False,
        "network": "Globe/TM",
    }


async def test_detect_of_a_malformed_number_matches_the_vendor_error_exactly(raw):
    response = await raw.post(
        "/phone_numbers/detect", json=with_token(phone_number="090812123232121323")
    )
    assert assert_json(response, 422) == DETECT_ERROR_DOC


async def test_otp_send_answers_the_inferred_shape(raw, fake):
    answer = assert_json(
        await raw.post("/otp/send_otp", json=with_token(phone_number=NUMBER))
    )
    assert answer["status"] == "success"
    assert set(answer["data"]) >= {"otp_code", "otp_code_expires_at"}
    assert answer["data"]["otp_code"].isdigit()
    assert len(answer["data"]["otp_code"]) == 6
    assert ISO_MS.fullmatch(answer["data"]["otp_code_expires_at"])
    assert fake.otp_for(NUMBER) == answer["data"]["otp_code"]


async def test_otp_verify_answers_success(raw, fake):
    await raw.post("/otp/send_otp", json=with_token(phone_number=NUMBER))
    response = await raw.post(
        "/otp/verify_otp",
        json=with_token(phone_number=NUMBER, otp=fake.otp_for(NUMBER)),
    )
    assert assert_json(response) == {
        "status": "success",
        "message": "OTP verified successfully.",
    }


async def test_bodies_are_compact_utf8_json(raw, fake):
    await raw.post("/sms_messages", json=with_token(phone_number=NUMBER, message="ñ€"))
    response = await raw.get(
        "/sms_messages/status",
        params={"api_token": TOKEN, "message_id": fake.messages[0].message_id},
    )
    assert response.content == json.dumps(
        response.json(), separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/sms_messages"),  # right path, wrong method
        ("POST", "/message-reminders/1/extra"),
        ("PUT", "/message-reminders/1"),
    ],
)
async def test_a_wrong_path_or_method_gets_an_html_page(raw, method, path):
    response = await raw.request(method, path, params={"api_token": TOKEN})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert b"<title>" in response.content


async def test_paths_outside_the_api_prefix_are_not_found(fake):
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url="http://127.0.0.1"
    ) as http:
        response = await http.post("/sms_messages", json=with_token())
    assert response.status_code == 404
