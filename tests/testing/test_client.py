"""Every client operation against the fake, in-process and over loopback HTTP."""

from datetime import datetime

import pytest

from iprogsms_async import (
    MANILA,
    APIError,
    AuthenticationError,
    InsufficientCreditsError,
    NotFoundError,
)

from .helpers import NUMBER, OTHER

pytestmark = pytest.mark.anyio


async def test_send(connect, fake):
    async with connect() as client:
        sent = await client.sms.send(
            "+63 917 125 1234", "Your bill is due", sms_provider=1
        )
    assert sent.phone_number == NUMBER
    [record] = fake.messages
    assert record.message_id == sent.message_id
    assert (record.message, record.sms_provider) == ("Your bill is due", 1)
    assert fake.requests == {"POST /sms_messages": 1}


async def test_send_bulk(connect, fake):
    async with connect() as client:
        sent = await client.sms.send_bulk([NUMBER, "639181234567"], "Sale today")
    assert [s.phone_number for s in sent] == [NUMBER, OTHER]
    assert [s.message_id for s in sent] == [m.message_id for m in fake.messages]
    assert fake.texts_to(OTHER) == ["Sale today"]


async def test_status(connect, fake):
    async with connect() as client:
        sent = await client.sms.send(NUMBER, "hi")
        status = await client.sms.status(sent.message_id)
        with pytest.raises(NotFoundError) as caught:
            await client.sms.status("iSms-nope")
    assert (status.message_id, status.status) == (sent.message_id, "delivered")
    assert caught.value.status_code == 404


async def test_credits(connect, fake):
    fake.credits = 42
    async with connect() as client:
        credits = await client.account.credits()
        await client.sms.send(NUMBER, "a" * 161)
        after = await client.account.credits()
    assert (credits.load_balance, after.load_balance) == (42, 40)


async def test_reminders_create_get_update_delete(connect, fake):
    async with connect() as client:
        created = await client.reminders.create(
            phone_number=NUMBER,
            message="Internet Bill.",
            scheduled_at=datetime(2025, 3, 8, 5, 0, tzinfo=MANILA),
        )
        got = await client.reminders.get(created.id)
        updated = await client.reminders.update(
            created.id, scheduled_at="2025-03-08 06:00AM"
        )
        deleted = await client.reminders.delete(created.id)
        with pytest.raises(NotFoundError):
            await client.reminders.get(created.id)
    assert created.id == 1
    assert got == created
    assert created.scheduled_at == datetime(2025, 3, 8, 5, 0, tzinfo=MANILA)
    assert updated.scheduled_at == datetime(2025, 3, 8, 6, 0, tzinfo=MANILA)
    assert updated.message == "Internet Bill."
    assert deleted.id == created.id
    assert deleted.status == "scheduled"
    assert fake.reminders == {}


async def test_detect(connect):
    async with connect() as client:
        smart = await client.phone_numbers.detect("09181234567")
        globe = await client.phone_numbers.detect(NUMBER)
    assert (smart.network, smart.is_smart_tnt) == ("Smart/TNT", True)
    assert (globe.network, globe.is_smart_tnt) == ("Globe/TM", False)


async def test_otp_send_and_verify(connect, fake):
    async with connect() as client:
        sent = await client.otp.send(NUMBER, message="Code: :otp", expires_in_minutes=2)
        assert fake.texts_to(NUMBER) == [f"Code: {sent.otp_code}"]
        assert sent.expires_at is not None
        wrong = "000000" if sent.otp_code != "000000" else "111111"
        assert await client.otp.verify(NUMBER, wrong) is False
        assert await client.otp.verify(NUMBER, sent.otp_code) is True
        assert await client.otp.verify(NUMBER, sent.otp_code) is False  # used up


async def test_a_wrong_token_is_an_authentication_error(connect, fake):
    async with connect(api_token="not-the-token") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.sms.send(NUMBER, "hi")
    assert caught.value.status_code == 401
    assert caught.value.maybe_sent is False
    assert fake.messages == []


async def test_missing_credits_is_an_api_error_that_was_not_sent(connect, fake):
    fake.credits = 0
    async with connect() as client:
        with pytest.raises(APIError) as caught:
            await client.sms.send(NUMBER, "hi")
    assert type(caught.value) is InsufficientCreditsError
    assert caught.value.status_code == 402
    assert caught.value.maybe_sent is False
    assert fake.requests == {"POST /sms_messages": 1}
