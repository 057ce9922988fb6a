"""Hostile input: whatever a caller passes, it is refused with our own error.

Lone surrogates (what is left of an emoji cut by UTF-16 length, or of bytes
read with ``surrogateescape``) in every string that would go on the wire,
aware datetimes at the edges of what a `datetime` holds, and broadcast options
of the wrong type: each is refused with `ValidationError` or
`ConfigurationError` before any request, never with `UnicodeEncodeError`,
`OverflowError`, `TypeError` or `AttributeError`. In a broadcast a bad
recipient is ``invalid`` and the run goes on; a lone surrogate from the
gateway (a JSON ``\\ud800`` escape) is that recipient's error.
"""

# The edge datetimes are the point here, naive ones included.
# ruff: noqa: DTZ901

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from iprogsms_async import (
    ConfigurationError,
    IProgSMS,
    IProgSMSError,
    ResponseFormatError,
    ValidationError,
)
from iprogsms_async._schedule import format_scheduled_at
from iprogsms_async.broadcast import ACCEPTED, INVALID, UNKNOWN
from iprogsms_async.testing import FakeGateway

from ..support import TOKEN

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = pytest.mark.anyio

NUMBER = "09171251234"
HOSTILE = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@st.composite
def with_a_surrogate(draw, alphabet=None):
    """A string holding at least one lone surrogate, anywhere in it."""
    text = st.text(alphabet, max_size=12) if alphabet else st.text(max_size=12)
    return draw(text) + draw(SURROGATE) + draw(text)


class Recorder:
    """A gateway that answers everything and notes every request it gets."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"status": 200, "message_id": "iSms-1"})


async def refused(call: Callable[[IProgSMS], Awaitable[Any]]) -> ValidationError:
    """Run ``call``; it must raise `ValidationError` and make no request."""
    gateway = Recorder()
    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        with pytest.raises(ValidationError) as caught:
            await call(client)
    assert gateway.requests == []
    error = caught.value
    assert error.maybe_sent is False
    # Its text can be shown, logged, journaled: no lone surrogate in it.
    str(error).encode("utf-8")
    return error


# --- lone surrogates in every string that goes on the wire -----------------------

# Each takes the hostile string and returns the call; the field it names.
WIRE_STRINGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "sms.send message": (lambda s: lambda c: c.sms.send(NUMBER, s), "message"),
    "sms.send_bulk message": (
        lambda s: lambda c: c.sms.send_bulk([NUMBER, "09181234567"], s),
        "message",
    ),
    "sms.status message_id": (lambda s: lambda c: c.sms.status(s), "message_id"),
    "otp.send message": (
        lambda s: lambda c: c.otp.send(NUMBER, message=s + " :otp"),
        "message",
    ),
    "otp.verify otp": (lambda s: lambda c: c.otp.verify(NUMBER, s), "otp"),
    "reminders.create message": (
        lambda s: (
            lambda c: c.reminders.create(
                phone_number=NUMBER, message=s, scheduled_at="2030-03-08 05:00AM"
            )
        ),
        "message",
    ),
    "reminders.create scheduled_at": (
        lambda s: (
            lambda c: c.reminders.create(
                phone_number=NUMBER, message="Bill", scheduled_at=s
            )
        ),
        "scheduled_at",
    ),
    "reminders.update message": (
        lambda s: lambda c: c.reminders.update(1, message=s),
        "message",
    ),
    "sms.send phone_number": (lambda s: lambda c: c.sms.send(s, "Hi"), "phone_number"),
    "phone_numbers.detect": (
        lambda s: lambda c: c.phone_numbers.detect(s),
        "phone_number",
    ),
}


@pytest.mark.parametrize("name", WIRE_STRINGS)
@HOSTILE
@given(text=with_a_surrogate())
@example(text="truncated emoji \ud83d")
@example(text="\udcff")  # a byte that is not UTF-8, read with surrogateescape
async def test_a_lone_surrogate_is_refused_before_any_request(name, text):
    make, field = WIRE_STRINGS[name]
    error = await refused(make(text))
    assert error.field == field


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("truncated emoji \ud83d", "lone surrogate, U+D83D) at position 16"),
        ("caf\udce9", "a byte that is not UTF-8 (0xE9) at position 3"),
    ],
)
async def test_the_refusal_says_where_and_what_is_accepted(text, said):
    error = await refused(lambda c: c.sms.send(NUMBER, text))
    assert said in str(error)
    assert "cannot be sent" in str(error)


async def test_an_id_with_a_lone_surrogate_is_refused():
    error = await refused(lambda c: c.sms.status("iSms-\ud800"))
    assert error.field == "message_id"


async def test_whole_characters_still_go_out():
    gateway = Recorder()
    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        await client.sms.send(NUMBER, "Salamat po 🙏 \U0001f600")
    [request] = gateway.requests
    assert json.loads(request.content)["message"] == "Salamat po 🙏 \U0001f600"


# --- scheduled_at at the edges of datetime ----------------------------------------

EDGE_TIMES = [
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc),
    datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),
    datetime.max.replace(tzinfo=timezone.utc),
    datetime.min.replace(tzinfo=timezone.utc),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=23, minutes=59))),
]
ZONES = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59),
    max_value=timedelta(hours=23, minutes=59),
).map(timezone)
API_FORM = re.compile(r"\d{4}-\d{2}-\d{2} (0[1-9]|1[0-2]):[0-5]\d(AM|PM)")


@pytest.mark.parametrize("when", EDGE_TIMES, ids=str)
async def test_edge_datetimes_are_refused_by_create_and_update(when):
    created = await refused(
        lambda c: c.reminders.create(
            phone_number=NUMBER, message="Bill", scheduled_at=when
        )
    )
    updated = await refused(lambda c: c.reminders.update(1, scheduled_at=when))
    assert created.field == updated.field == "scheduled_at"
    assert "Manila time" in str(created)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=ZONES)
    | st.datetimes(min_value=datetime.min, max_value=datetime.max)
)
@example(datetime.max)
@example(datetime.min)
@example(EDGE_TIMES[0])
@example(EDGE_TIMES[1])
def test_any_datetime_is_formatted_or_refused_with_a_validation_error(when):
    try:
        text = format_scheduled_at(when)
    except ValidationError as error:
        refused_as = error.field
    else:
        refused_as = None
    if refused_as is not None:
        # Only an aware time can fall outside what a datetime holds in Manila.
        assert when.tzinfo is not None
        assert refused_as == "scheduled_at"
        return
    assert API_FORM.fullmatch(text), text
    if when.tzinfo is not None and 1980 <= when.year <= 9998:
        # Manila has kept +08:00 since 1978: the oracle is plain arithmetic.
        manila = when.replace(tzinfo=None) - when.utcoffset() + timedelta(hours=8)
        assert text == manila.strftime("%Y-%m-%d %I:%M%p")


# --- broadcast options of the wrong type --------------------------------------------

ODD_OPTIONS = [
    ("non_final_statuses", [1, 2], ConfigurationError),
    ("non_final_statuses", None, ConfigurationError),
    ("non_final_statuses", "pending", ConfigurationError),
    ("non_final_statuses", 5, ConfigurationError),
    ("non_final_statuses", [b"pending"], ConfigurationError),
    ("concurrency", "10", ConfigurationError),
    ("concurrency", None, ConfigurationError),
    ("concurrency", True, ConfigurationError),
    ("rate_limit", "fast", ConfigurationError),
    ("rate_limit", float("nan"), ConfigurationError),
    ("batch_size", 2.0, ConfigurationError),
    ("poll", "no", ConfigurationError),
    ("poll", None, ConfigurationError),
    ("deduplicate", 0, ConfigurationError),
    ("dry_run", "yes", ConfigurationError),
    ("check_credits", 1, ConfigurationError),
    ("poll_interval", None, ConfigurationError),
    ("poll_timeout", "600", ConfigurationError),
    ("poll_max_interval", float("inf"), ConfigurationError),
    ("journal", 5, ConfigurationError),
    ("journal", "", ConfigurationError),
    ("journal", b"journal.sqlite", ConfigurationError),
    ("on_result", "print", ConfigurationError),
    ("on_progress", 5, ConfigurationError),
    # Options of the whole broadcast, so settings too (issue 13): not the
    # ValidationError they raise as arguments of sms.send.
    ("sms_provider", "1", ConfigurationError),
    ("message", 5, ConfigurationError),
    ("message", "   ", ConfigurationError),
    ("message", "Hi \ud83d", ConfigurationError),
]


@pytest.mark.parametrize(
    ("option", "value", "error"),
    ODD_OPTIONS,
    ids=[f"{o}={v!r}" for o, v, _ in ODD_OPTIONS],
)
async def test_an_odd_broadcast_option_is_refused_before_anything_is_sent(
    option, value, error
):
    fake = FakeGateway()
    options: dict[str, Any] = {"message": "Hi", option: value}
    async with fake.client() as client:
        with pytest.raises(error) as caught:
            await client.broadcast([NUMBER], **options)
        with pytest.raises(error):
            async with client.broadcast_stream([NUMBER], **options):
                pass
    assert option in str(caught.value)
    assert fake.requests == {}


@pytest.mark.parametrize("recipients", [5, None, NUMBER, b"09171251234"], ids=repr)
async def test_recipients_that_cannot_be_read_are_refused(recipients):
    fake = FakeGateway()
    async with fake.client() as client:
        with pytest.raises(ValidationError) as caught:
            await client.broadcast(recipients, message="Hi")
    assert caught.value.field == "recipients"
    assert fake.requests == {}


ODD_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True)
    | st.text(max_size=4)
    | st.binary(max_size=4)
    | st.lists(st.integers() | st.text(max_size=3), max_size=3)
    | st.builds(object)
)
FUZZED_OPTIONS = [
    "concurrency",
    "rate_limit",
    "sms_provider",
    "batch_size",
    "poll",
    "poll_interval",
    "poll_max_interval",
    "poll_timeout",
    "non_final_statuses",
    "deduplicate",
    "dry_run",
    "on_progress",
    "on_result",
    "message",
    "progress_interval",
]


@HOSTILE
@given(option=st.sampled_from(FUZZED_OPTIONS), value=ODD_VALUES)
async def test_any_value_of_any_option_runs_or_is_refused_with_our_error(option, value):
    fake = FakeGateway()
    async with fake.client() as client:
        try:
            await client.broadcast(
                [NUMBER],
                **{"message": "Hi", "poll": False, option: value},
            )
        except (ConfigurationError, ValidationError):
            assert fake.requests == {}


# --- in a broadcast: the bad recipient is invalid, the run goes on --------------------


async def test_a_text_with_a_lone_surrogate_is_invalid_and_the_run_goes_on(
    tmp_path, no_backoff
):
    fake = FakeGateway()
    items = [
        ("09171111111", "truncated emoji \ud83d"),
        ("09172222222", "whole 🙏"),
        ("09173333333\udcff", "Hi"),
        ("09174444444", "Hi"),
    ]
    journal = tmp_path / "j.sqlite"
    async with fake.client() as client:
        first = await client.broadcast(items, journal=journal, poll=False)
        again = await client.broadcast(items, journal=journal, poll=False)
    for report in (first, again):
        assert [r.status for r in report.results] == [
            INVALID,
            ACCEPTED,
            INVALID,
            ACCEPTED,
        ]
        assert isinstance(report.results[0].error, ValidationError)
        assert report.results[0].error.field == "recipients[0].message"
    assert fake.texts_to("09171111111") == []
    assert fake.texts_to("09172222222") == ["whole 🙏"]
    assert fake.texts_to("09174444444") == ["Hi"]
    assert len(fake.messages) == 2  # the rerun sent nothing again


def json_answer(status: int, text: str) -> httpx.Response:
    """An answer written by hand: ``\\ud800`` escapes decode to lone surrogates."""
    return httpx.Response(
        status, content=text.encode(), headers={"Content-Type": "application/json"}
    )


async def test_a_message_id_with_a_lone_surrogate_is_that_recipients_error(
    tmp_path, no_backoff
):
    sent = []

    def gateway(request):
        if request.method == "GET":
            return json_answer(200, '{"status": 200, "message_status": "delivered"}')
        number = json.loads(request.content)["phone_number"]
        sent.append(number)
        if number == "09172222222":
            return json_answer(200, '{"status": 200, "message_id": "iSms-\\ud800"}')
        return json_answer(200, f'{{"status": 200, "message_id": "iSms-{number}"}}')

    journal = tmp_path / "j.sqlite"
    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        report = await client.broadcast(
            ["09171111111", "09172222222", "09173333333"],
            message="Hi",
            journal=journal,
            poll_interval=0.001,
        )
        again = await client.broadcast(
            ["09171111111", "09172222222", "09173333333"],
            message="Hi",
            journal=journal,
            poll_interval=0.001,
        )
    assert [r.status for r in report.results] == ["delivered", UNKNOWN, "delivered"]
    bad = report.results[1].error
    assert isinstance(bad, ResponseFormatError)
    assert bad.maybe_sent  # the gateway may well have taken the text
    assert [r.status for r in again.results] == ["delivered", UNKNOWN, "delivered"]
    assert sorted(sent) == ["09171111111", "09172222222", "09173333333"]


async def test_bulk_ids_with_a_lone_surrogate_leave_that_chunk_unknown(no_backoff):
    def gateway(request):
        numbers = json.loads(request.content)["phone_number"].split(",")
        if "09172222222" in numbers:
            ids = "iSms-a,iSms-\\udc00"
        else:
            ids = ",".join(f"iSms-{n}" for n in numbers)
        return json_answer(200, f'{{"status": 200, "message_ids": "{ids}"}}')

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        report = await client.broadcast(
            ["09171111111", "09172222222", "09173333333", "09174444444"],
            message="Hi",
            batch_size=2,
            poll=False,
        )
    assert [r.status for r in report.results] == [UNKNOWN, UNKNOWN, ACCEPTED, ACCEPTED]


async def test_a_status_with_a_lone_surrogate_is_that_recipients_error(
    tmp_path, no_backoff
):
    def gateway(request):
        if request.method == "POST":
            number = json.loads(request.content)["phone_number"]
            return json_answer(200, f'{{"status": 200, "message_id": "iSms-{number}"}}')
        if request.url.params["message_id"] == "iSms-09172222222":
            return json_answer(200, '{"status": 200, "message_status": "sent\\udfff"}')
        return json_answer(200, '{"status": 200, "message_status": "delivered"}')

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        report = await client.broadcast(
            ["09171111111", "09172222222", "09173333333"],
            message="Hi",
            journal=tmp_path / "j.sqlite",
            poll_interval=0.001,
        )
    statuses = [r.status for r in report.results]
    assert statuses == ["delivered", ACCEPTED, "delivered"]
    assert isinstance(report.results[1].error, ResponseFormatError)
    assert report.results[1].message_id == "iSms-09172222222"


async def test_a_gateway_message_with_a_lone_surrogate_can_be_journaled(
    tmp_path, no_backoff
):
    def gateway(request):
        return json_answer(400, '{"status": "error", "message": "bad \\ud800 text"}')

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        report = await client.broadcast(
            ["09171111111", "09172222222"],
            message="Hi",
            journal=tmp_path / "j.sqlite",
            poll=False,
        )
    assert report.counts == {"rejected": 2}
    error = report.results[0].error
    assert isinstance(error, IProgSMSError)
    assert "bad \\ud800 text" in str(error)  # shown escaped
    str(error).encode("utf-8")
