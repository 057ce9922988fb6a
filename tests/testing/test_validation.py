"""The fake refuses what the real gateway refuses, with the documented error shape."""

import pytest

from iprogsms_async.testing import FakeGateway
from iprogsms_async.testing.wire import ENDPOINTS

from .helpers import NUMBER, OTHER, TOKEN
from .helpers import body as with_token

pytestmark = pytest.mark.anyio

UNAUTHORIZED = {"status": "error", "message": "Invalid API token."}


def request_for(endpoint):
    method, path = endpoint.split(" ", 1)
    return method, path.replace("{id}", "1")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_endpoint_refuses_a_missing_token(raw, endpoint):
    method, path = request_for(endpoint)
    response = await raw.request(method, path)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_endpoint_refuses_a_wrong_token_without_echoing_it(raw, endpoint):
    method, path = request_for(endpoint)
    wrong = "wrong-token-98765"
    if method in ("GET", "DELETE"):
        response = await raw.request(method, path, params={"api_token": wrong})
    else:
        response = await raw.request(method, path, json=with_token(wrong))
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert wrong.encode() not in response.content
    assert TOKEN.encode() not in response.content


async def test_a_non_string_token_is_refused(raw):
    response = await raw.post("/sms_messages", json=with_token(12345))
    assert response.status_code == 401


async def test_a_refused_token_stores_and_debits_nothing(raw, fake):
    before = fake.credits
    await raw.post(
        "/sms_messages", json=with_token("nope", phone_number=NUMBER, message="x")
    )
    assert fake.messages == []
    assert fake.credits == before


@pytest.mark.parametrize(
    "notation",
    [
        "09171251234",
        "639171251234",
        "+639171251234",
        "+63 917 125 1234",
        "0917-125-1234",
    ],
)
async def test_every_notation_the_gateway_takes_is_stored_canonically(
    raw, fake, notation
):
    response = await raw.post(
        "/sms_messages", json=with_token(phone_number=notation, message="x")
    )
    assert response.status_code == 200
    assert fake.messages[0].phone_number == "09171251234"


@pytest.mark.parametrize(
    "number", ["0917125123", "091712512345", "08171251234", "+09171251234", "hello"]
)
async def test_a_malformed_number_is_refused_with_the_documented_shape(
    raw, fake, number
):
    response = await raw.post(
        "/sms_messages", json=with_token(phone_number=number, message="x")
    )
    assert response.status_code == 422
    answer = response.json()
    assert answer["status"] == "error"
    assert "Invalid phone number format" in answer["message"]
    assert answer["data"] == {"phone_number": number}
    assert fake.messages == []


@pytest.mark.parametrize("message", [None, "", "   \n"])
async def test_a_missing_or_blank_message_is_refused(raw, fake, message):
    fields = {"phone_number": NUMBER}
    if message is not None:
        fields["message"] = message
    response = await raw.post("/sms_messages", json=with_token(**fields))
    assert response.status_code == 422
    assert response.json() == {"status": "error", "message": "Message is required."}
    assert fake.messages == []
    assert fake.credits == FakeGateway().credits


async def test_a_missing_number_is_refused(raw):
    response = await raw.post("/sms_messages", json=with_token(message="x"))
    assert response.status_code == 422
    assert response.json()["message"] == "Phone number is required."


@pytest.mark.parametrize("provider", [3, -1, "x", "1.5", True, 1.0])
async def test_an_sms_provider_outside_0_1_2_is_refused(raw, fake, provider):
    response = await raw.post(
        "/sms_messages",
        json=with_token(phone_number=NUMBER, message="x", sms_provider=provider),
    )
    assert response.status_code == 422
    assert response.json()["status"] == "error"
    assert "provider" in response.json()["message"]
    assert fake.messages == []


@pytest.mark.parametrize(
    ("given", "stored"), [(None, 0), (0, 0), (1, 1), (2, 2), ("2", 2)]
)
async def test_sms_provider_0_1_2_is_accepted_and_kept(raw, fake, given, stored):
    fields = {"phone_number": NUMBER, "message": "x"}
    if given is not None:
        fields["sms_provider"] = given
    response = await raw.post("/sms_messages", json=with_token(**fields))
    assert response.status_code == 200
    assert fake.messages[0].sms_provider == stored


async def test_an_unknown_message_id_is_404(raw):
    response = await raw.get(
        "/sms_messages/status", params={"api_token": TOKEN, "message_id": "iSms-nope"}
    )
    assert response.status_code == 404
    assert response.json()["status"] == "error"


async def test_a_missing_message_id_is_refused(raw):
    response = await raw.get("/sms_messages/status", params={"api_token": TOKEN})
    assert response.status_code == 422


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("ident", ["1", "999", "abc", "-1"])
async def test_an_unknown_reminder_id_is_404(raw, method, ident):
    kwargs = {"params": {"api_token": TOKEN}}
    if method == "PATCH":
        kwargs["json"] = {"message": "x"}
    response = await raw.request(method, f"/message-reminders/{ident}", **kwargs)
    assert response.status_code == 404
    assert response.json() == {
        "status": "error",
        "message": "Message reminder not found.",
    }


async def test_send_bulk_refuses_the_whole_list_for_one_bad_number(raw, fake):
    before = fake.credits
    response = await raw.post(
        "/sms_messages/send_bulk",
        json=with_token(phone_number=f"{NUMBER},0917,{OTHER},abc", message="x"),
    )
    assert response.status_code == 422
    answer = response.json()
    assert answer["status"] == "error"
    assert answer["data"] == {"invalid_phone_numbers": ["0917", "abc"]}
    assert fake.messages == []
    assert fake.credits == before


async def test_send_bulk_refuses_an_empty_list_and_a_blank_message(raw, fake):
    empty = await raw.post(
        "/sms_messages/send_bulk", json=with_token(phone_number=" , ", message="x")
    )
    blank = await raw.post(
        "/sms_messages/send_bulk", json=with_token(phone_number=NUMBER, message=" ")
    )
    not_text = await raw.post(
        "/sms_messages/send_bulk", json=with_token(phone_number=[NUMBER], message="x")
    )
    assert (empty.status_code, blank.status_code, not_text.status_code) == (
        422,
        422,
        422,
    )
    assert fake.messages == []


async def test_send_bulk_keeps_duplicates_as_separate_texts(raw, fake):
    response = await raw.post(
        "/sms_messages/send_bulk",
        json=with_token(phone_number=f"{NUMBER}, {NUMBER}", message="x"),
    )
    assert len(response.json()["message_ids"].split(",")) == 2
    assert fake.texts_to(NUMBER) == ["x", "x"]


@pytest.mark.parametrize(
    "when", ["2025-03-08 05:00", "2025-03-08T05:00:00", "2025-02-30 05:00AM", "", 5]
)
async def test_a_reminder_time_not_in_the_api_form_is_refused(raw, fake, when):
    response = await raw.post(
        "/message-reminders",
        json=with_token(phone_number=NUMBER, message="x", scheduled_at=when),
    )
    assert response.status_code == 422
    assert response.json()["status"] == "error"
    assert fake.reminders == {}


async def test_a_reminder_update_validates_what_it_changes(raw):
    await raw.post(
        "/message-reminders",
        json=with_token(
            phone_number=NUMBER, message="x", scheduled_at="2025-03-08 05:00AM"
        ),
    )
    bad_time = await raw.patch(
        "/message-reminders/1", json=with_token(scheduled_at="soon")
    )
    bad_number = await raw.patch(
        "/message-reminders/1", json=with_token(phone_number="1")
    )
    blank = await raw.patch("/message-reminders/1", json=with_token(message=""))
    assert [r.status_code for r in (bad_time, bad_number, blank)] == [422, 422, 422]


async def test_malformed_json_is_a_400(raw):
    response = await raw.post(
        "/sms_messages",
        content=b'{"api_token": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    array = await raw.post("/sms_messages", json=[1, 2])
    assert array.status_code == 400


async def test_an_otp_message_without_the_placeholder_is_refused(raw, fake):
    response = await raw.post(
        "/otp/send_otp", json=with_token(phone_number=NUMBER, message="no code here")
    )
    assert response.status_code == 422
    assert fake.messages == []
    assert fake.otp_for(NUMBER) is None


@pytest.mark.parametrize("minutes", [0, -5, "x"])
async def test_otp_expiry_must_be_a_positive_whole_number(raw, minutes):
    response = await raw.post(
        "/otp/send_otp",
        json=with_token(phone_number=NUMBER, expires_in_minutes=minutes),
    )
    assert response.status_code == 422


async def test_otp_verify_needs_a_code(raw):
    response = await raw.post("/otp/verify_otp", json=with_token(phone_number=NUMBER))
    assert response.status_code == 422
