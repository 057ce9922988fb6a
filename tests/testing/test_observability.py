"""What a test can see of the fake: its log, texts per number, counts, concurrency."""

import anyio
import attrs
import httpx
import pytest

from iprogsms_async import InvalidPhoneNumber
from iprogsms_async.testing import FakeGateway, Faults, RecordedMessage

from .helpers import NUMBER, OTHER, TOKEN
from .helpers import body as with_token

pytestmark = pytest.mark.anyio


async def send(http, number=NUMBER, message="hello"):
    return await http.post(
        "/sms_messages", json=with_token(phone_number=number, message=message)
    )


async def test_the_log_keeps_every_accepted_text_as_a_frozen_record(raw, fake):
    await send(raw, NUMBER, "one")
    await send(raw, "+639181234567", "two")
    await send(raw, "bad", "refused")
    log = fake.messages
    assert [(m.phone_number, m.message) for m in log] == [
        (NUMBER, "one"),
        (OTHER, "two"),
    ]
    record = log[0]
    assert isinstance(record, RecordedMessage)
    assert record.segments == 1
    assert record.sms_provider == 0
    assert record.source == "send"
    assert record.accepted_at.utcoffset().total_seconds() == 8 * 3600
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.message = "changed"
    # A copy: changing the list does not change the fake.
    log.clear()
    assert len(fake.messages) == 2


async def test_texts_to_accepts_any_notation(raw, fake):
    await send(raw, NUMBER, "a")
    await send(raw, OTHER, "b")
    await send(raw, "639171251234", "c")
    for notation in ("09171251234", "639171251234", "+63 917 125 1234"):
        assert fake.texts_to(notation) == ["a", "c"]
    assert [m.message for m in fake.messages_to(OTHER)] == ["b"]
    assert fake.texts_to("09991234567") == []
    with pytest.raises(InvalidPhoneNumber):
        fake.texts_to("12345")


async def test_a_message_is_found_by_id(raw, fake):
    message_id = (await send(raw)).json()["message_id"]
    assert fake.message(message_id).message_id == message_id
    assert fake.message("iSms-none") is None


async def test_requests_are_counted_per_endpoint_refused_or_not(raw, fake):
    await send(raw)
    await send(raw, "bad")
    await raw.get("/account/sms_credits", params={"api_token": "wrong"})
    await raw.get("/message-reminders/7", params={"api_token": TOKEN})
    await raw.get("/nowhere")
    assert fake.requests == {
        "POST /sms_messages": 2,
        "GET /account/sms_credits": 1,
        "GET /message-reminders/{id}": 1,
        "GET /api/v1/nowhere": 1,
    }
    fake.reset_counters()
    assert fake.requests == {}
    assert fake.max_in_flight == 0
    assert len(fake.messages) == 1  # state stays


async def test_max_in_flight_counts_concurrent_requests(raw, fake):
    fake.faults = Faults(latency=0.25)

    async with anyio.create_task_group() as group:
        for i in range(30):
            group.start_soon(send, raw, f"0917{i:07d}")
    assert fake.max_in_flight == 30
    assert fake.in_flight == 0
    assert len(fake.messages) == 30


async def test_sequential_requests_are_one_in_flight(raw, fake):
    for _ in range(3):
        await send(raw)
    assert fake.max_in_flight == 1


async def run_script(fake):
    """The same requests, faults included, against a fake."""
    fake.faults = Faults(
        server_error_before_accept=0.2, rate_limit=0.1, latency=(0.0, 0.001)
    )
    answers = []
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url
    ) as http:
        for i in range(40):
            response = await send(http, f"0917{i:07d}", f"text {i}")
            answers.append((response.status_code, response.json().get("message_id")))
        otp = await http.post("/otp/send_otp", json=with_token(phone_number=NUMBER))
        answers.append((otp.status_code, otp.json().get("data")))
    return answers, [(m.message_id, m.final_status) for m in fake.messages]


async def test_the_same_seed_gives_the_same_ids_codes_fates_and_faults():
    first = await run_script(FakeGateway(token=TOKEN, seed=42, failure_rate=0.5))
    second = await run_script(FakeGateway(token=TOKEN, seed=42, failure_rate=0.5))
    other = await run_script(FakeGateway(token=TOKEN, seed=43, failure_rate=0.5))
    assert first == second
    assert first != other
    statuses = [status for status, _ in first[0]]
    assert {200, 500, 429} <= set(statuses)


async def test_the_repr_shows_state_and_never_the_token(fake):
    assert repr(fake) == "<FakeGateway texts=0 credits=1000000>"
    assert TOKEN not in repr(fake)
    assert fake.token == TOKEN
