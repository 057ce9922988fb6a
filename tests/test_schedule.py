from datetime import datetime, timedelta, timezone

import pytest

from iprogsms_async import MANILA, ValidationError
from iprogsms_async._schedule import (
    format_scheduled_at,
    parse_scheduled_at,
    parse_timestamp,
)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (0, 15, "2025-03-08 12:15AM"),
        (0, 0, "2025-03-08 12:00AM"),
        (5, 0, "2025-03-08 05:00AM"),
        (11, 59, "2025-03-08 11:59AM"),
        (12, 0, "2025-03-08 12:00PM"),
        (12, 30, "2025-03-08 12:30PM"),
        (17, 30, "2025-03-08 05:30PM"),
        (23, 59, "2025-03-08 11:59PM"),
    ],
)
def test_twelve_hour_clock(hour, minute, expected):
    when = datetime(2025, 3, 8, hour, minute, tzinfo=MANILA)
    assert format_scheduled_at(when) == expected


def test_a_naive_datetime_is_taken_as_manila_time():
    assert format_scheduled_at(datetime(2025, 3, 8, 5, 0)) == "2025-03-08 05:00AM"  # noqa: DTZ001


def test_an_aware_datetime_is_converted_to_manila_time():
    utc = datetime(2025, 3, 7, 21, 0, tzinfo=timezone.utc)  # 05:00 next day in Manila
    assert format_scheduled_at(utc) == "2025-03-08 05:00AM"
    new_york = timezone(timedelta(hours=-5))
    assert format_scheduled_at(datetime(2025, 3, 7, 16, 0, tzinfo=new_york)) == (
        "2025-03-08 05:00AM"
    )


def test_seconds_are_dropped():
    when = datetime(2025, 3, 8, 5, 0, 59, 999, tzinfo=MANILA)
    assert format_scheduled_at(when) == "2025-03-08 05:00AM"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-08 05:00AM", "2025-03-08 05:00AM"),
        ("2025-03-08 05:00pm", "2025-03-08 05:00PM"),
    ],
)
def test_strings_in_the_api_form_pass(text, expected):
    assert format_scheduled_at(text) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "2025-03-08 5:00AM",
        "2025-03-08 05:00 AM",
        "2025-03-08 13:00PM",
        "2025-03-08 00:30AM",
        "2025-03-08T05:00:00+08:00",
        "2025-02-30 05:00AM",
        "tomorrow",
        "",
    ],
)
def test_other_strings_are_refused(bad):
    with pytest.raises(ValidationError) as caught:
        format_scheduled_at(bad)
    assert caught.value.field == "scheduled_at"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("bad", [None, 1741381200, 3.5, b"2025-03-08 05:00AM"])
def test_other_types_are_refused(bad):
    with pytest.raises(ValidationError, match="must be a datetime"):
        format_scheduled_at(bad)


def test_parse_scheduled_at_round_trips():
    when = parse_scheduled_at("2025-03-08 12:15AM")
    assert when == datetime(2025, 3, 8, 0, 15, tzinfo=MANILA)
    assert format_scheduled_at(when) == "2025-03-08 12:15AM"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-08T05:00:00.000+08:00", datetime(2025, 3, 8, 5, 0, tzinfo=MANILA)),
        ("2025-03-07T21:00:00Z", datetime(2025, 3, 8, 5, 0, tzinfo=MANILA)),
        ("2025-03-08T05:00:00", datetime(2025, 3, 8, 5, 0, tzinfo=MANILA)),
        ("2025-03-08 05:00AM", datetime(2025, 3, 8, 5, 0, tzinfo=MANILA)),
    ],
)
def test_response_timestamps_become_aware_manila_datetimes(text, expected):
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(hours=8)


def test_garbage_timestamps_raise_value_error():
    with pytest.raises(ValueError):  # noqa: PT011
        parse_timestamp("last tuesday")


def test_years_before_1000_keep_four_digits():
    assert format_scheduled_at(datetime(999, 1, 2, 3, 4, tzinfo=MANILA)) == (
        "0999-01-02 03:04AM"
    )
