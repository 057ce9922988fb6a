import pytest

from iprogsms_async import InvalidPhoneNumber, IProgSMSError, normalize_phone_number


@pytest.mark.parametrize(
    "notation",
    [
        "09171251234",
        "639171251234",
        "+639171251234",
        "0917 125 1234",
        "0917-125-1234",
        "0917.125.1234",
        "(0917) 125-1234",
        "+63 917 125 1234",
        "+63 (917) 125-1234",
        "63-917-125-1234",
        "  09171251234\n",
        "0917\u00a0125\u00a01234",
    ],
)
def test_every_notation_becomes_the_canonical_form(notation):
    assert normalize_phone_number(notation) == "09171251234"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "9171251234",  # missing the leading 0
        "0917125123",  # one digit short
        "091712512345",  # one digit long
        "08171251234",  # not a mobile prefix
        "+09171251234",  # plus on the national form
        "6391712512345",
        "+649171251234",  # New Zealand
        "0917125123x",
        "0917/125/1234",
        "+63 917 125 1234 ext 5",
        "٠٩١٧١٢٥١٢٣٤",  # Arabic-Indic digits are digits, but not ours
        "0917125\u20091234",
        "6 3 9 1 7 1 2 5 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3",
    ],
)
def test_anything_else_is_refused(bad):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone_number(bad)


@pytest.mark.parametrize("bad", [None, 9171251234, b"09171251234", ["09171251234"]])
def test_non_strings_are_refused(bad):
    with pytest.raises(InvalidPhoneNumber, match="is not a Philippine mobile number"):
        normalize_phone_number(bad)


def test_the_error_names_the_value_and_the_accepted_forms():
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone_number("12345", field="phone_numbers[3]")
    error = caught.value
    assert isinstance(error, IProgSMSError)
    assert isinstance(error, ValueError)
    assert "'12345'" in str(error)
    assert "09XXXXXXXXX" in str(error)
    assert "+639XXXXXXXXX" in str(error)
    assert error.value == "12345"
    assert error.field == "phone_numbers[3]"
    assert error.maybe_sent is False


def test_a_huge_value_is_not_copied_into_the_message():
    huge = "0" * 10_000_000
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone_number(huge)
    assert len(str(caught.value)) < 300
    assert "10000000 characters" in str(caught.value)
