from datetime import datetime

import pytest

from iprogsms_async import (
    MANILA,
    Credits,
    MessageStatus,
    NetworkInfo,
    Reminder,
    SentMessage,
    SentOtp,
)
from iprogsms_async._models import message_status, sent_message, structure

REMINDER = {
    "id": 1,
    "phone_number": "09171251234",
    "message": "Internet Bill.",
    "scheduled_at": "2025-03-08T05:00:00.000+08:00",
    "status": "scheduled",
    "created_at": "2025-03-07T16:11:38.937+08:00",
    "updated_at": "2025-03-07T16:11:38.937+08:00",
}


def test_models_are_frozen_and_slotted():
    sent = SentMessage("iSms-1", "09171251234")
    with pytest.raises(AttributeError):
        sent.message_id = "other"  # type: ignore[misc]
    assert not hasattr(sent, "__dict__")


def test_unknown_extra_fields_are_ignored_and_the_body_stays_reachable():
    body = {"status": 200, "message_status": "delivered", "carrier": "X", "extra": [1]}
    status = structure({**body, "message_id": "iSms-1"}, MessageStatus, raw=body)
    assert status == MessageStatus("iSms-1", "delivered")
    assert status.raw["carrier"] == "X"
    assert "raw" not in repr(status)


def test_an_unknown_status_is_kept_as_it_is():
    body = {"message_status": "Held-By-Carrier"}
    status = structure({**body, "message_id": "m"}, MessageStatus, raw=body)
    assert status.status == "Held-By-Carrier"


def test_reminder_datetimes_are_aware_manila_times():
    reminder = structure(REMINDER, Reminder, raw={"data": REMINDER})
    assert reminder.scheduled_at == datetime(2025, 3, 8, 5, 0, tzinfo=MANILA)
    assert reminder.created_at is not None
    assert reminder.created_at.tzinfo is MANILA
    assert reminder.raw == {"data": REMINDER}


def test_numbers_may_come_as_strings():
    assert structure({"load_balance": "10.5"}, Credits, raw={}).load_balance == 10.5
    reminder = structure({**REMINDER, "id": "7"}, Reminder, raw={})
    assert reminder.id == 7


def test_optional_fields_may_be_missing():
    reminder = structure(
        {k: v for k, v in REMINDER.items() if k not in ("created_at", "updated_at")},
        Reminder,
        raw={},
    )
    assert reminder.created_at is None
    otp = structure({"phone_number": "09171251234"}, SentOtp, raw={})
    assert otp.otp_code is None
    assert otp.expires_at is None


def test_the_otp_code_stays_out_of_repr():
    otp = structure(
        {"phone_number": "09171251234", "otp_code": "123456"}, SentOtp, raw={}
    )
    assert otp.otp_code == "123456"
    assert "123456" not in repr(otp)


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({}, SentMessage),
        ({"message_id": None, "phone_number": "0917"}, SentMessage),
        ({"message_id": {"a": 1}, "phone_number": "0917"}, SentMessage),
        ({"load_balance": "lots"}, Credits),
        ({"load_balance": True}, Credits),
        ({"load_balance": "nan"}, Credits),
        (
            {"phone_number": "x", "is_smart_tnt": "maybe", "network": "DITO"},
            NetworkInfo,
        ),
        (
            {"phone_number": "x", "is_smart_tnt": "false", "network": ["DITO"]},
            NetworkInfo,
        ),
        ({**REMINDER, "scheduled_at": "soon"}, Reminder),
        ({**REMINDER, "scheduled_at": 1741381200}, Reminder),
        ({**REMINDER, "id": 1.5}, Reminder),
        ({**REMINDER, "id": True}, Reminder),
        ([1, 2], SentMessage),
        ("text", SentMessage),
        (None, Credits),
    ],
)
def test_wrong_shapes_raise_value_error_naming_the_problem(payload, cls):
    with pytest.raises(ValueError, match=r"\S") as caught:
        structure(payload, cls, raw={})
    assert type(caught.value) is ValueError


def test_booleans_are_read_strictly():
    info = structure(
        {"phone_number": "x", "is_smart_tnt": "false", "network": "Globe/TM"},
        NetworkInfo,
        raw={},
    )
    assert info.is_smart_tnt is False
    info = structure(
        {"phone_number": "x", "is_smart_tnt": 1, "network": "Smart/TNT"},
        NetworkInfo,
        raw={},
    )
    assert info.is_smart_tnt is True


def either(build):
    """What ``build()`` returns, or the text of the ValueError it raises."""
    try:
        return build()
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 200, "message_id": "iSms-XHYBk", "message": "queued"},
        {"message_id": 12345},  # a number: the converter makes it a string
        {"message_id": "iSms-ñandú"},  # not ASCII: the converter's way
        {"message_id": "iSms-\ud800"},  # a lone surrogate: refused
        {"message_id": None},
        {},
    ],
)
def test_a_sends_answer_is_read_as_the_converter_reads_it(answer):
    quick = either(lambda: sent_message(answer, "09171251234"))
    converted = either(
        lambda: structure(
            {**answer, "phone_number": "09171251234"}, SentMessage, raw=answer
        )
    )
    assert quick == converted
    if isinstance(quick, SentMessage):
        assert quick.raw is answer


@pytest.mark.parametrize(
    "answer",
    [
        {"message_id": "iSms-1", "message_status": "pending"},
        {"message_status": "delivered"},  # the id is the one asked about
        {"message_status": "entregado ✓"},
        {"message_status": 3},
        {"message_status": "\udc80"},
        {"status": "pending"},  # not the field the status comes in
    ],
)
def test_a_status_answer_is_read_as_the_converter_reads_it(answer):
    quick = either(lambda: message_status(answer, "iSms-1"))
    converted = either(
        lambda: structure({**answer, "message_id": "iSms-1"}, MessageStatus, raw=answer)
    )
    assert quick == converted
    if isinstance(quick, MessageStatus):
        assert quick.message_id == "iSms-1"
        assert quick.raw is answer
