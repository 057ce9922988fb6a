"""The fake remembers: delivery over time, credits per segment, reminders, OTPs."""

import httpx
import pytest

from iprogsms_async.testing import FakeGateway, ManualClock
from iprogsms_async.testing.wire import (
    DITO,
    GLOBE_TM,
    SMART_TNT,
    UNKNOWN_NETWORK,
    network_of,
)

from .helpers import DOC_CREATED, NUMBER, OTHER, TOKEN
from .helpers import body as with_token

pytestmark = pytest.mark.anyio


class Gateway:
    """A fake with a manual clock and raw HTTP helpers."""

    def __init__(self, **options):
        self.clock = ManualClock(DOC_CREATED)
        self.fake = FakeGateway(token=TOKEN, clock=self.clock, **options)
        self.http = httpx.AsyncClient(
            transport=self.fake.transport(), base_url=self.fake.base_url
        )

    async def send(self, message="hello", number=NUMBER, **fields):
        return await self.http.post(
            "/sms_messages",
            json=with_token(phone_number=number, message=message, **fields),
        )

    async def bulk(self, numbers, message="hello"):
        return await self.http.post(
            "/sms_messages/send_bulk",
            json=with_token(phone_number=",".join(numbers), message=message),
        )

    async def status(self, message_id):
        response = await self.http.get(
            "/sms_messages/status",
            params={"api_token": TOKEN, "message_id": message_id},
        )
        return response.json()["message_status"]

    async def post(self, path, **fields):
        return await self.http.post(path, json=with_token(**fields))


@pytest.fixture
async def make():
    made = []

    def factory(**options):
        gateway = Gateway(**options)
        made.append(gateway)
        return gateway

    yield factory
    for gateway in made:
        await gateway.http.aclose()


# --- delivery ------------------------------------------------------------------


async def test_a_text_is_pending_until_the_delay_passes_then_delivered(make):
    gw = make(delivery_delay=60)
    message_id = (await gw.send()).json()["message_id"]
    assert await gw.status(message_id) == "pending"
    gw.clock.advance(59.9)
    assert await gw.status(message_id) == "pending"
    assert gw.fake.message(message_id).status == "pending"
    gw.clock.advance(0.1)
    assert await gw.status(message_id) == "delivered"
    assert gw.fake.message(message_id).status == "delivered"


async def test_without_a_delay_a_text_is_final_at_once(make):
    gw = make()
    message_id = (await gw.send()).json()["message_id"]
    assert await gw.status(message_id) == "delivered"


async def test_the_failed_share_is_decided_at_acceptance_from_the_seed(make):
    numbers = [f"0917{i:07d}" for i in range(1000)]
    first = make(failure_rate=0.3, seed=5, delivery_delay=10)
    second = make(failure_rate=0.3, seed=5, delivery_delay=10)
    await first.bulk(numbers)
    await second.bulk(numbers)
    fates = [m.final_status for m in first.fake.messages]
    assert fates == [m.final_status for m in second.fake.messages]
    assert 250 <= fates.count("failed") <= 350
    # Decided at acceptance, shown once the delay has passed.
    assert {m.status for m in first.fake.messages} == {"pending"}
    first.clock.advance(10)
    failed = [m for m in first.fake.messages if m.final_status == "failed"]
    assert await first.status(failed[0].message_id) == "failed"


async def test_every_text_fails_at_a_failure_rate_of_one(make):
    gw = make(failure_rate=1.0)
    message_id = (await gw.send()).json()["message_id"]
    assert await gw.status(message_id) == "failed"


# --- credits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments", "encoding"),
    [
        ("a" * 160, 1, "GSM-7"),
        ("a" * 161, 2, "GSM-7"),
        ("a" * 306, 2, "GSM-7"),
        ("a" * 307, 3, "GSM-7"),
        ("{" * 80, 1, "GSM-7"),  # extension characters count twice
        ("{" * 81, 2, "GSM-7"),
        ("ā" * 70, 1, "UCS-2"),
        ("ā" * 71, 2, "UCS-2"),
        ("a" * 133 + "ā", 2, "UCS-2"),  # one character makes it all UCS-2
        ("ā" * 135, 3, "UCS-2"),
    ],
)
async def test_credits_are_debited_per_segment(make, text, segments, encoding):
    gw = make(credits=100)
    assert (await gw.send(text)).status_code == 200
    assert gw.fake.credits == 100 - segments
    [message] = gw.fake.messages
    assert (message.segments, message.encoding) == (segments, encoding)


async def test_a_bulk_send_costs_its_segments_times_its_numbers(make):
    gw = make(credits=100)
    await gw.bulk([NUMBER, OTHER, "09221234567"], "ā" * 71)
    assert gw.fake.credits == 100 - 2 * 3


async def test_a_send_the_credits_do_not_cover_is_refused_and_nothing_changes(make):
    gw = make(credits=3)
    refused = await gw.bulk([NUMBER, OTHER], "a" * 200)  # needs 4
    assert refused.status_code == 402
    answer = refused.json()
    assert answer["status"] == "error"
    assert answer["message"].startswith("Insufficient credits")
    assert answer["data"] == {"required": 4, "load_balance": 3}
    assert gw.fake.credits == 3
    assert gw.fake.messages == []
    single = await gw.send("a" * 161)  # needs 2 of 3
    assert single.status_code == 200
    assert (await gw.send("a" * 161)).status_code == 402
    assert gw.fake.credits == 1
    assert len(gw.fake.messages) == 1


async def test_credits_can_be_topped_up_and_drained(make):
    gw = make()
    gw.fake.credits = 1
    assert (await gw.send()).status_code == 200
    assert (await gw.send()).status_code == 402
    gw.fake.credits = 5
    assert (await gw.send()).status_code == 200
    assert gw.fake.credits == 4
    with pytest.raises(ValueError, match="credits"):
        gw.fake.credits = -1


# --- reminders ---------------------------------------------------------------------


async def test_reminders_are_created_read_changed_and_deleted(make):
    gw = make()
    first = await gw.post(
        "/message-reminders",
        phone_number="+639171251234",
        message="Bill",
        scheduled_at="2025-03-08 05:00pm",
    )
    second = await gw.post(
        "/message-reminders",
        phone_number=OTHER,
        message="Rent",
        scheduled_at="2025-04-01 12:00AM",
    )
    assert (first.json()["data"]["id"], second.json()["data"]["id"]) == (1, 2)
    assert first.json()["data"]["phone_number"] == NUMBER
    assert first.json()["data"]["scheduled_at"] == "2025-03-08T17:00:00.000+08:00"
    assert second.json()["data"]["scheduled_at"] == "2025-04-01T00:00:00.000+08:00"
    assert sorted(gw.fake.reminders) == [1, 2]

    gw.clock.advance(30)
    changed = await gw.http.patch(
        "/message-reminders/1",
        params={"api_token": TOKEN},
        json={"message": "Bill due"},
    )
    data = changed.json()["data"]
    assert next(iter(data)) == "message"
    assert data["message"] == "Bill due"
    assert data["scheduled_at"] == "2025-03-08T17:00:00.000+08:00"  # untouched
    assert data["updated_at"] == "2025-03-07T16:12:08.937+08:00"
    assert data["created_at"] == "2025-03-07T16:11:38.937+08:00"
    assert gw.fake.reminders[1].message == "Bill due"

    deleted = await gw.http.delete("/message-reminders/1", params={"api_token": TOKEN})
    assert deleted.json()["data"]["message"] == "Bill due"
    again = await gw.http.get("/message-reminders/1", params={"api_token": TOKEN})
    assert again.status_code == 404
    assert sorted(gw.fake.reminders) == [2]
    # Reminders are not texts: nothing sent, nothing billed.
    assert gw.fake.messages == []


async def test_an_empty_update_changes_nothing(make):
    gw = make()
    await gw.post(
        "/message-reminders",
        phone_number=NUMBER,
        message="x",
        scheduled_at="2025-03-08 05:00AM",
    )
    before = gw.fake.reminders[1]
    gw.clock.advance(60)
    response = await gw.http.patch("/message-reminders/1", params={"api_token": TOKEN})
    assert response.status_code == 200
    assert gw.fake.reminders[1] == before


# --- phone numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "network"),
    [
        ("09171251234", GLOBE_TM),
        ("09051234567", GLOBE_TM),
        ("09951234567", GLOBE_TM),
        ("09181234567", SMART_TNT),
        ("09081234567", SMART_TNT),
        ("09991234567", SMART_TNT),
        ("09221234567", SMART_TNT),  # Sun Cellular counts as Smart/TNT
        ("09401234567", SMART_TNT),
        ("09911234567", DITO),
        ("09921234567", DITO),  # listed as Smart and DITO: DITO since 2020
        ("09941234567", DITO),  # listed as Globe and DITO: DITO since 2020
        ("09001234567", UNKNOWN_NETWORK),
        ("09591234567", UNKNOWN_NETWORK),
    ],
)
async def test_detect_answers_the_network_of_the_prefix(make, number, network):
    gw = make()
    response = await gw.post("/phone_numbers/detect", phone_number="+63" + number[1:])
    assert response.json()["data"] == {
        "phone_number": number,
        "is_smart_tnt": network == SMART_TNT,
        "network": network,
    }


def test_the_08_prefixes_are_in_the_table_though_the_phone_rule_refuses_them():
    assert network_of("08951234567") == DITO
    assert network_of("08131234567") == SMART_TNT
    assert network_of("08171234567") == GLOBE_TM


async def test_detect_of_an_08_number_is_invalid_format(make):
    gw = make()
    response = await gw.post("/phone_numbers/detect", phone_number="08951234567")
    assert response.status_code == 422
    assert response.json()["data"]["network"] == "Invalid Format"


async def test_detect_costs_nothing_and_texts_nobody(make):
    gw = make(credits=5)
    await gw.post("/phone_numbers/detect", phone_number=NUMBER)
    assert gw.fake.credits == 5
    assert gw.fake.messages == []


# --- one-time passwords --------------------------------------------------------------


async def test_an_otp_is_texted_billed_and_expires_after_five_minutes(make):
    gw = make(credits=10)
    answer = (await gw.post("/otp/send_otp", phone_number=NUMBER)).json()
    code = answer["data"]["otp_code"]
    assert answer["data"]["otp_code_expires_at"] == "2025-03-07T16:16:38.937+08:00"
    [text] = gw.fake.texts_to(NUMBER)
    assert code in text
    assert gw.fake.messages[0].source == "otp"
    assert gw.fake.credits == 9
    gw.clock.advance(299)
    assert gw.fake.otp_for(NUMBER) == code
    gw.clock.advance(1)
    assert gw.fake.otp_for(NUMBER) is None
    expired = await gw.post("/otp/verify_otp", phone_number=NUMBER, otp=code)
    assert expired.status_code == 400
    assert expired.json() == {
        "status": "error",
        "message": "OTP code has expired. Please request a new one.",
    }


async def test_a_custom_message_and_expiry(make):
    gw = make()
    answer = await gw.post(
        "/otp/send_otp",
        phone_number=NUMBER,
        message="Code :otp for Shop",
        expires_in_minutes="1",
        sms_provider=2,
    )
    code = answer.json()["data"]["otp_code"]
    assert gw.fake.texts_to(NUMBER) == [f"Code {code} for Shop"]
    assert gw.fake.messages[0].sms_provider == 2
    assert (
        answer.json()["data"]["otp_code_expires_at"] == "2025-03-07T16:12:38.937+08:00"
    )


async def test_a_right_code_is_accepted_once(make):
    gw = make()
    code = (await gw.post("/otp/send_otp", phone_number=NUMBER)).json()["data"][
        "otp_code"
    ]
    ok = await gw.post("/otp/verify_otp", phone_number="+639171251234", otp=code)
    assert ok.status_code == 200
    reused = await gw.post("/otp/verify_otp", phone_number=NUMBER, otp=code)
    assert reused.status_code == 400
    assert reused.json()["message"] == "Invalid OTP code."


async def test_a_wrong_code_is_refused_and_the_right_one_still_works(make):
    gw = make()
    code = (await gw.post("/otp/send_otp", phone_number=NUMBER)).json()["data"][
        "otp_code"
    ]
    wrong = "000000" if code != "000000" else "111111"
    assert (
        await gw.post("/otp/verify_otp", phone_number=NUMBER, otp=wrong)
    ).status_code == 400
    assert (
        await gw.post("/otp/verify_otp", phone_number=OTHER, otp=code)
    ).status_code == 400
    assert (
        await gw.post("/otp/verify_otp", phone_number=NUMBER, otp=code)
    ).status_code == 200


async def test_a_new_otp_replaces_the_old_one(make):
    gw = make()
    first = (await gw.post("/otp/send_otp", phone_number=NUMBER)).json()["data"][
        "otp_code"
    ]
    second = (await gw.post("/otp/send_otp", phone_number=NUMBER)).json()["data"][
        "otp_code"
    ]
    assert first != second
    assert (
        await gw.post("/otp/verify_otp", phone_number=NUMBER, otp=first)
    ).status_code == 400
    assert (
        await gw.post("/otp/verify_otp", phone_number=NUMBER, otp=second)
    ).status_code == 200


async def test_an_otp_the_credits_do_not_cover_is_not_issued(make):
    gw = make(credits=0)
    response = await gw.post("/otp/send_otp", phone_number=NUMBER)
    assert response.status_code == 402
    assert gw.fake.otp_for(NUMBER) is None
    assert gw.fake.messages == []
