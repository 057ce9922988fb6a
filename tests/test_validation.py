"""One validation module: a rule is written once, and the kind of value picks the error.

Settings (the client's, a broadcast's options, a rate limit, the fake's knobs)
raise `ConfigurationError`; arguments of one call raise `ValidationError`.
The command line checks its flags with the same rules, so limits cannot drift.
"""

import argparse

import attrs
import pytest

from iprogsms_async import (
    BroadcastOptions,
    ConfigurationError,
    IProgSMS,
    ValidationError,
)
from iprogsms_async._validation import (
    IDENTIFIER,
    POSITIVE_INT,
    SMS_PROVIDER,
    SMS_PROVIDERS,
    optional,
)
from iprogsms_async.cli._parser import build_parser
from iprogsms_async.testing import FakeGateway, Faults

from .support import TOKEN

pytestmark = pytest.mark.anyio


def test_one_rule_raises_by_the_kind_of_value():
    with pytest.raises(ConfigurationError) as setting:
        POSITIVE_INT.setting(0, "concurrency")
    with pytest.raises(ValidationError) as argument:
        POSITIVE_INT.argument(0, "reminder_id")
    assert str(setting.value) == "concurrency must be a whole number >= 1, not 0"
    assert str(argument.value) == "reminder_id must be a whole number >= 1, not 0"
    assert (setting.value.field, argument.value.field) == ("concurrency", "reminder_id")
    assert POSITIVE_INT.setting(3, "concurrency") == 3


def test_a_check_is_an_attrs_validator_named_by_its_field():
    @attrs.frozen
    class Knobs:
        workers: int = attrs.field(validator=POSITIVE_INT)
        provider: int | None = attrs.field(
            default=None, validator=optional(SMS_PROVIDER)
        )

    assert Knobs(2).workers == 2
    with pytest.raises(ConfigurationError, match="workers must be a whole number >= 1"):
        Knobs(workers=True)  # a bool is not a number here
    with pytest.raises(ConfigurationError, match=r"provider must be one of 0, 1 or 2"):
        Knobs(1, provider=7)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: BroadcastOptions(concurrency=0), "concurrency"),
        (lambda: BroadcastOptions(sms_provider=7), "sms_provider"),
        (lambda: BroadcastOptions(message="   "), "message"),
        (lambda: BroadcastOptions(progress_interval=0), "progress_interval"),
        (lambda: IProgSMS(TOKEN, max_retries=-1), "max_retries"),
        (lambda: IProgSMS(TOKEN, timeout=0), "timeout"),
        (lambda: IProgSMS(TOKEN, rate_limit=0), "rate_limit"),
        (lambda: FakeGateway(credits=-1), "credits"),
        (lambda: FakeGateway(seed="x"), "seed"),
        (lambda: Faults(rate_limit=2), "rate_limit"),
    ],
)
def test_every_setting_raises_a_configuration_error_naming_it(build, field):
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert caught.value.field == field
    assert str(caught.value).startswith(field)
    assert not isinstance(caught.value, ValidationError)


async def test_the_same_value_is_an_argument_in_one_call():
    fake = FakeGateway()
    async with fake.client() as client:
        with pytest.raises(ValidationError) as provider:
            await client.sms.send("09171251234", "Hi", sms_provider=7)
        with pytest.raises(ValidationError) as text:
            await client.sms.send("09171251234", "   ")
        with pytest.raises(ValidationError) as recipients:
            await client.broadcast("09171251234", message="Hi")
        # In a broadcast's options the same text and provider are settings.
        with pytest.raises(ConfigurationError):
            await client.broadcast(["09171251234"], message="Hi", sms_provider=7)
    assert (provider.value.field, text.value.field) == ("sms_provider", "message")
    assert recipients.value.field == "recipients"
    assert fake.requests == {}


def _flag_type(command, flag):
    parser = build_parser()
    subparsers = next(
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    path = command.split()
    sub = subparsers.choices[path[0]]
    for name in path[1:]:
        nested = next(
            action
            for action in sub._actions
            if isinstance(action, argparse._SubParsersAction)
        )
        sub = nested.choices[name]
    return next(action for action in sub._actions if flag in action.option_strings)


@pytest.mark.parametrize(
    ("command", "flag", "option", "refused", "accepted"),
    [
        ("broadcast", "--concurrency", "concurrency", 0, 1),
        ("broadcast", "--batch-size", "batch_size", 0, 1),
        ("broadcast", "--rate-limit", "rate_limit", 0, 0.5),
        ("broadcast", "--poll-timeout", "poll_timeout", -1, 0),
    ],
)
def test_a_flag_and_the_option_it_sets_share_one_limit(
    command, flag, option, refused, accepted
):
    convert = _flag_type(command, flag).type
    with pytest.raises(argparse.ArgumentTypeError) as on_the_line:
        convert(str(refused))
    with pytest.raises(ConfigurationError) as in_code:
        BroadcastOptions(**{option: refused})
    # Both say the same accepted range, from the same check.
    said = str(on_the_line.value).removeprefix("must be ").rpartition(", not")[0]
    assert said in str(in_code.value)
    assert convert(str(accepted)) == accepted
    assert getattr(BroadcastOptions(**{option: accepted}), option) == accepted


def test_the_provider_flag_offers_what_the_library_accepts():
    assert tuple(_flag_type("broadcast", "--provider").choices) == SMS_PROVIDERS
    for provider in SMS_PROVIDERS:
        assert BroadcastOptions(sms_provider=provider).sms_provider == provider


SPACES = [chr(code) for code in range(0x110000) if chr(code).isspace()]


@pytest.mark.parametrize(
    "value",
    ["iSms-XHYBk", "  iSms-1\n", "ñandú-1", "x" * 200, "a.b_c~d+e=f;g"],
)
def test_an_identifier_is_taken_stripped(value):
    assert IDENTIFIER.argument(value, "message_id") == value.strip()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "x" * 201,
        *(f"iSms{char}1" for char in "/?#&,"),
        *(f"iSms{space}1" for space in SPACES),  # what str.isspace() calls a space
        "iSms-\ud800",
        1234,
        None,
    ],
)
def test_an_identifier_that_cannot_go_into_a_url_is_refused(value):
    with pytest.raises(ValidationError) as caught:
        IDENTIFIER.argument(value, "message_id")
    assert caught.value.field == "message_id"
