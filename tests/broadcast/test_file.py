"""RecipientsFile: spreadsheet exports, plain lists, and files that fight back."""

import pytest

from iprogsms_async import FileProblem, Outgoing, RecipientsFile
from iprogsms_async.broadcast import ACCEPTED, DUPLICATE
from iprogsms_async.broadcast._file import MAX_LINE_BYTES

pytestmark = pytest.mark.anyio


def write(tmp_path, content: bytes):
    path = tmp_path / "recipients.csv"
    path.write_bytes(content)
    return path


def test_a_csv_with_a_message_column(tmp_path):
    path = write(
        tmp_path, b"Phone_Number,Message\n09171111111,Hello\n+63 918 222 2222,Hi\n"
    )
    recipients = RecipientsFile(path)
    assert list(recipients) == [
        Outgoing("09171111111", "Hello"),
        Outgoing("09182222222", "Hi"),
    ]
    assert recipients.lines == [2, 3]
    assert recipients.problems == []


def test_a_plain_list_of_numbers_takes_the_default_message(tmp_path):
    path = write(tmp_path, b"09171111111\n\n0918-222-2222\n")
    recipients = RecipientsFile(path, message="Bill due")
    assert [o.message for o in recipients] == ["Bill due", "Bill due"]
    assert recipients.lines == [1, 3]


@pytest.mark.parametrize("delimiter", [b";", b"\t"])
def test_semicolon_and_tab_delimiters(tmp_path, delimiter):
    path = write(
        tmp_path, b"name" + delimiter + b"mobile\nAna" + delimiter + b"09171111111\n"
    )
    assert list(RecipientsFile(path, message="Hi")) == [Outgoing("09171111111", "Hi")]


def test_quoted_messages_with_commas(tmp_path):
    path = write(tmp_path, b'phone_number,message\n09171111111,"Hello, Ana ""A"""\n')
    assert [o.message for o in RecipientsFile(path)] == ['Hello, Ana "A"']


def test_a_header_without_a_phone_column_is_reported_once(tmp_path):
    path = write(tmp_path, b"name,email\nAna,a@example.com\n")
    recipients = RecipientsFile(path, message="Hi")
    assert list(recipients) == []
    assert len(recipients.problems) == 1
    assert "phone_number column" in recipients.problems[0].reason


def test_rows_without_any_message_are_skipped(tmp_path):
    path = write(tmp_path, b"phone_number,message\n09171111111,\n09172222222,Hi\n")
    recipients = RecipientsFile(path)
    assert list(recipients) == [Outgoing("09172222222", "Hi")]
    assert recipients.problems == [
        FileProblem(2, "no message: the row has none and no default was given")
    ]


def test_undecodable_bytes_are_reported(tmp_path):
    path = write(tmp_path, b"09171111111\n\xff\xfe\xfd\n09172222222\n")
    recipients = RecipientsFile(path, message="Hi")
    assert len(list(recipients)) == 2
    assert recipients.problems == [FileProblem(2, "line is not valid UTF-8")]


async def test_bad_input_end_to_end(tmp_path, fake, client):
    """A BOM, CRLF, blank lines, duplicates, foreign numbers and a 10 MB line."""
    huge = b"0917" + b"9" * 10_000_000
    content = b"\r\n".join(
        [
            b"\xef\xbb\xbfphone_number,message",  # 1: header behind a byte-order mark
            b"09171111111,Hello",  # 2
            b"",  # 3: blank
            b"+1 415 555 0100,Hello",  # 4: foreign
            b"0917 222 2222,Hello",  # 5
            huge + b",Hello",  # 6: 10 MB
            b"   ",  # 7: blank
            b"09171111111,Hello",  # 8: duplicate of line 2
            b"+44 20 7946 0958,Hello",  # 9: foreign
            b"09183333333,Hello",  # 10
            b"",
        ]
    )
    path = write(tmp_path, content)
    recipients = RecipientsFile(path)
    report = await client.broadcast(recipients, poll=False)
    assert [p.line for p in recipients.problems] == [4, 6, 9]
    assert "10000012 bytes" in recipients.problems[1].reason  # with ",Hello\r\n"
    assert all(len(p.reason) < 300 for p in recipients.problems)
    assert recipients.lines == [2, 5, 8, 10]
    assert [r.status for r in report.results] == [
        ACCEPTED,
        ACCEPTED,
        DUPLICATE,
        ACCEPTED,
    ]
    assert fake.texts_to("09171111111") == ["Hello"]
    assert fake.texts_to("09172222222") == ["Hello"]
    assert fake.texts_to("09183333333") == ["Hello"]
    assert len(fake.messages) == 3


def test_a_long_line_is_never_held_whole(tmp_path):
    path = write(
        tmp_path, b"09171111111\n" + b"x" * (MAX_LINE_BYTES * 4) + b"\n09172222222"
    )
    recipients = RecipientsFile(path, message="Hi")
    assert [o.phone_number for o in recipients] == ["09171111111", "09172222222"]
    assert [p.line for p in recipients.problems] == [2]


def test_a_quoted_message_may_hold_a_line_break(tmp_path):
    path = write(
        tmp_path,
        b"phone_number,message\r\n"
        b'09171111111,"Hello,\r\nyour bill is due"\r\n'
        b"09172222222,Hi\r\n",
    )
    recipients = RecipientsFile(path)
    assert list(recipients) == [
        Outgoing("09171111111", "Hello,\nyour bill is due"),
        Outgoing("09172222222", "Hi"),
    ]
    assert recipients.lines == [2, 4]
    assert recipients.problems == []


def test_an_unclosed_quote_is_reported_not_sent(tmp_path):
    rows = b"".join(b"0917%07d,Hi\n" % i for i in range(30))
    path = write(tmp_path, b'phone_number,message\n09170000000,"oops\n' + rows)
    recipients = RecipientsFile(path)
    assert list(recipients) == []
    assert len(recipients.problems) == 1
    assert recipients.problems[0].line == 2
    assert "closing quote" in recipients.problems[0].reason
