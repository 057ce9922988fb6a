"""Properties: phone numbers, ``scheduled_at`` and segment counts, for any input.

Each rule is checked against an oracle written here independently of the
library: the notations of a Philippine mobile number, the API's 12-hour
``YYYY-MM-DD HH:MMAM`` form, and the GSM 03.38 / UCS-2 segmenting rules.
"""

# Naive datetimes are the point here (Manila time); so are look-alike digits.
# ruff: noqa: DTZ001, RUF001

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from iprogsms_async import (
    MANILA,
    InvalidPhoneNumber,
    ValidationError,
    count_segments,
    normalize_phone_number,
)
from iprogsms_async._schedule import format_scheduled_at, parse_scheduled_at

PROPERTIES = settings(max_examples=200, deadline=None)

# --- phone numbers ----------------------------------------------------------------

SEPARATORS = " \t\u00a0-.()"
MAX_INPUT = 40  # longer input is refused unread, however it is written
DIGITS = st.text("0123456789", min_size=9, max_size=9)
SEPARATION = st.text(SEPARATORS, max_size=2)


def written(prefix: str, digits: str, gaps: list[str], pad: tuple[str, str]) -> str:
    """``prefix`` + ``digits``, with a separator run after each character."""
    chars = list(prefix + digits)
    body = "".join(char + gap for char, gap in zip(chars, gaps, strict=False))
    body += "".join(chars[len(gaps) :])
    return pad[0] + body + pad[1]


@st.composite
def notations(draw):
    """(a notation of a number, the canonical 09XXXXXXXXX it stands for)."""
    digits = draw(DIGITS)
    prefix = draw(st.sampled_from(["09", "639", "+639"]))
    gaps = draw(st.lists(SEPARATION, max_size=len(prefix) + 8))
    pad = draw(st.tuples(st.text(" \t\n", max_size=2), st.text(" \t\n", max_size=2)))
    text = written(prefix, digits, gaps, pad)
    assume(len(text) <= MAX_INPUT)
    return text, "09" + digits


def is_real_notation(text: str) -> bool:
    """The oracle: whitespace around, then 09/639/+639 and nine ASCII digits,
    with only spaces, tabs, NBSP, dashes, dots and parentheses in between."""
    if len(text) > MAX_INPUT:
        return False
    core = "".join(char for char in text.strip() if char not in SEPARATORS)
    return re.fullmatch(r"(09|\+?639)[0-9]{9}", core) is not None


@PROPERTIES
@given(notations())
@example(("0917 125 1234", "09171251234"))
@example(("+63 (917) 125-1234", "09171251234"))
@example(("639171251234", "09171251234"))
def test_every_notation_of_a_number_gives_its_canonical_form(case):
    text, canonical = case
    assert normalize_phone_number(text) == canonical


@PROPERTIES
@given(DIGITS, st.data())
def test_all_notations_of_one_number_agree(digits, data):
    forms = {
        normalize_phone_number(written(prefix, digits, gaps, ("", "")))
        for prefix in ("09", "639", "+639")
        for gaps in [data.draw(st.lists(SEPARATION, max_size=6))]
    }
    assert forms == {"09" + digits}


def near_misses():
    """Valid notations with one character added, removed or changed."""

    @st.composite
    def mutate(draw):
        text, _ = draw(notations())
        position = draw(st.integers(0, len(text)))
        char = draw(st.characters() | st.sampled_from("0+9٣١²０ \u2003"))
        how = draw(st.sampled_from(["insert", "delete", "replace"]))
        if how == "insert":
            return text[:position] + char + text[position:]
        if how == "delete":
            return text[:position] + text[position + 1 :]
        return text[:position] + char + text[position + 1 :]

    return mutate()


@PROPERTIES
@given(st.text() | near_misses())
@example("09171251234 ")  # fine: whitespace around
@example("0917125123")  # one digit short
@example("091712512345")  # one digit long
@example("+09171251234")  # a plus on the 0 form
@example("63-9171251234")
@example("٠٩١٧١٢٥١٢٣٤")  # Arabic-Indic digits are digits, not ASCII ones
@example("０９１７１２５１２３４")  # full-width digits
@example("0917\u2003125\u20031234")  # an em space inside
@example("0" * 41)
def test_only_real_notations_are_accepted(text):
    try:
        canonical = normalize_phone_number(text)
    except InvalidPhoneNumber as error:
        refused = error
    else:
        refused = None
    if refused is not None:
        assert not is_real_notation(text), text
        assert refused.value is text
        return
    assert is_real_notation(text), text
    digits = "".join(char for char in text if char in "0123456789")
    assert canonical == "0" + digits[-10:]
    assert re.fullmatch(r"09[0-9]{9}", canonical)


@PROPERTIES
@given(st.none() | st.integers() | st.binary() | st.lists(st.text()) | st.floats())
def test_anything_but_a_string_is_refused(value):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone_number(value)


# --- scheduled_at -----------------------------------------------------------------

API_FORM = re.compile(
    r"(\d{4})-(\d\d)-(\d\d) (0[1-9]|1[0-2]):([0-5]\d)(AM|PM)", re.ASCII
)
# Since 1978 Manila has kept +08:00 without daylight saving (before, the zone
# database has DST and a local mean time of +08:03:52, whose moments do not
# round trip through a form without an offset). The end stays clear of
# datetime's limit, so converting to Manila time cannot overflow.
MOMENTS = st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(9998, 12, 30))
OFFSETS = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59),
    max_value=timedelta(hours=23, minutes=59),
)
ZONES = st.builds(timezone, OFFSETS) | st.timezones()


def manila_hour(text: str) -> int:
    """The 24-hour Manila hour the API form names, computed by table."""
    hour12, half = int(text[11:13]), text[16:18]
    table = {("AM", 12): 0, ("PM", 12): 12}
    return table.get((half, hour12), hour12 + (12 if half == "PM" else 0))


@PROPERTIES
@given(MOMENTS, ZONES)
@example(datetime(2025, 3, 8, 0, 0), timezone.utc)  # 08:00AM in Manila
@example(datetime(2025, 3, 7, 16, 0), timezone.utc)  # midnight in Manila
@example(datetime(2025, 3, 8, 4, 0), timezone.utc)  # noon in Manila
@example(datetime(2025, 3, 8, 23, 59, 59, 999999), timezone(timedelta(hours=8)))
def test_an_aware_datetime_round_trips_to_the_minute(moment, zone):
    aware = moment.replace(tzinfo=zone)
    try:
        placed = aware.utcoffset() is not None
    except (OverflowError, ValueError):  # a zone that cannot place this moment
        placed = False
    assume(placed)
    text = format_scheduled_at(aware)
    assert API_FORM.fullmatch(text), text
    back = parse_scheduled_at(text)
    assert back.tzinfo is MANILA
    # The same instant, seconds dropped (Manila is a whole number of hours
    # from UTC, so dropping them there drops them in UTC too).
    utc = aware.astimezone(timezone.utc)
    assert back == utc.replace(second=0, microsecond=0)
    assert back.astimezone(timezone.utc).hour == utc.hour
    assert manila_hour(text) == back.hour


@PROPERTIES
@given(MOMENTS)
@example(datetime(2025, 3, 8, 0, 0))  # midnight: 12:00AM
@example(datetime(2025, 3, 8, 0, 59))
@example(datetime(2025, 3, 8, 11, 59, 59))  # 11:59AM
@example(datetime(2025, 3, 8, 12, 0))  # noon: 12:00PM
@example(datetime(2025, 3, 8, 12, 59))
@example(datetime(2025, 3, 8, 13, 0))  # 01:00PM
@example(datetime(2025, 3, 8, 23, 59))
def test_a_naive_datetime_is_manila_time_across_the_whole_day(moment):
    text = format_scheduled_at(moment)
    assert API_FORM.fullmatch(text), text
    assert manila_hour(text) == moment.hour
    assert parse_scheduled_at(text) == moment.replace(
        second=0, microsecond=0, tzinfo=MANILA
    )
    if moment.hour == 0:
        assert text[11:18] == f"12:{moment.minute:02d}AM"
    if moment.hour == 12:
        assert text[11:18] == f"12:{moment.minute:02d}PM"


@PROPERTIES
@given(
    st.dates(min_value=datetime(1000, 1, 1).date()),
    st.integers(1, 12),
    st.integers(0, 59),
    st.sampled_from(["AM", "PM", "am", "pm", "Am", "pM"]),
    st.text(" \t", max_size=2),
)
def test_the_api_form_round_trips_in_any_case(day, hour12, minute, half, pad):
    text = f"{day:%Y-%m-%d} {hour12:02d}:{minute:02d}{half}"
    canonical = text[:-2] + half.upper()
    assert format_scheduled_at(pad + text + pad) == canonical
    parsed = parse_scheduled_at(text)
    assert (parsed.date(), parsed.minute) == (day, minute)
    assert parsed.hour == manila_hour(canonical)
    assert format_scheduled_at(parsed) == canonical


@PROPERTIES
@given(
    st.text(max_size=30)
    | st.from_regex(r"\d{4}-\d\d-\d\d \d\d:\d\d[AP]M", fullmatch=True)
)
@example("2025-02-29 05:00AM")  # not a leap year
@example("2025-03-08 00:00AM")  # there is no hour 0 on a 12-hour clock
@example("2025-03-08 13:00PM")
@example("2025-03-08 5:00AM")
@example("2025-03-08 05:00 AM")
@example("000١-01-01 01:00AM")  # an Arabic-Indic digit is not the API's
def test_a_string_is_refused_unless_it_is_a_real_moment_in_the_api_form(text):
    try:
        formatted = format_scheduled_at(text)
    except ValidationError:
        match = API_FORM.fullmatch(text.strip().upper())
        if match is not None:  # the right shape: then the date must be unreal
            year, month, day = (int(part) for part in match.groups()[:3])
            with pytest.raises(ValueError):  # noqa: PT011 -- datetime's own
                datetime(year, month, day)
        return
    assert API_FORM.fullmatch(formatted)
    assert formatted == text.strip().upper()


# --- segments ---------------------------------------------------------------------

# GSM 03.38 default alphabet, by code point 0x00-0x7F (0x1B is the escape).
GSM_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_BASIC = set(GSM_TABLE) - {"\x1b"}
# The extension table: escape + one septet each (0x0A form feed, then ^{}\[~]|€).
GSM_EXTENSION = set("\f^{}\\[~]|€")
assert len(GSM_TABLE) == 128


def reference_segments(text: str) -> tuple[str, int, int]:
    """Encode to a list of units, then cut parts without splitting a pair."""
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in text):
        encoding, single, part = "GSM-7", 160, 153
        units = []  # True where a unit is the second half of an escape pair
        for char in text:
            units += [False, True] if char in GSM_EXTENSION else [False]
    else:
        encoding, single, part = "UCS-2", 70, 67
        units = []  # True where a unit is a low surrogate
        for char in text:
            units += [False, True] if ord(char) > 0xFFFF else [False]
    if len(units) <= single:
        return encoding, len(units), 1
    segments, start = 0, 0
    while start < len(units):
        end = min(start + part, len(units))
        if end < len(units) and units[end]:
            end -= 1  # the pair would straddle the cut: move it to the next part
        segments += 1
        start = end
    return encoding, len(units), segments


GSM_TEXT = st.text(sorted(GSM_BASIC | GSM_EXTENSION), max_size=500)
EXTENSION_HEAVY = st.text(
    [*sorted(GSM_EXTENSION), "a", " "], min_size=140, max_size=330
)
UNICODE_TEXT = st.text(max_size=300) | st.text(
    "aé€😀中\U0001f1f5\U0001f1ed", max_size=300
)


@PROPERTIES
@given(GSM_TEXT | EXTENSION_HEAVY | UNICODE_TEXT)
@example("")
@example("a" * 160)
@example("a" * 161)
@example("a" * 306)
@example("a" * 307)
@example("€" * 80)  # 160 septets: one part
@example("a" * 152 + "€" + "a" * 152)  # the pair cannot end part one: 3 parts
@example("中" * 70)
@example("中" * 71)
@example("😀" * 35)  # 70 UTF-16 units
@example("a" * 66 + "😀" + "中" * 66)  # nor can a surrogate pair: 3 parts
@example("\x1b")  # the escape itself is not a character of the alphabet
@example("ç")  # only the capital Ç is in GSM 03.38
def test_segment_counts_follow_the_gsm7_and_ucs2_rules(text):
    counted = count_segments(text)
    assert (counted.encoding, counted.units, counted.segments) == reference_segments(
        text
    )


def test_the_reference_keeps_pairs_whole():
    assert reference_segments("a" * 152 + "€" + "a" * 152) == ("GSM-7", 306, 3)
    assert reference_segments("a" * 66 + "😀" + "中" * 66) == ("UCS-2", 134, 3)
    assert reference_segments("€" * 80) == ("GSM-7", 160, 1)
