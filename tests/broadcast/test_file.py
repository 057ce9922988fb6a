"""RecipientsFile: spreadsheet exports, plain lists, and files that fight back."""

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iprogsms_async import FileProblem, Outgoing, RecipientsFile, ValidationError
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
    # The quote never closes within the multi-line limit: its row is
    # reported, and the rows it would have swallowed are read as rows.
    rows = b"".join(b"0918%07d,Hi\n" % i for i in range(30))
    path = write(tmp_path, b'phone_number,message\n09170000000,"oops\n' + rows)
    recipients = RecipientsFile(path)
    assert [o.phone_number for o in recipients] == [f"0918{i:07d}" for i in range(30)]
    assert recipients.lines == list(range(3, 33))
    assert len(recipients.problems) == 1
    assert recipients.problems[0].line == 2
    assert "closing quote" in recipients.problems[0].reason
    assert "within 20 lines" in recipients.problems[0].reason


def test_a_quote_unclosed_at_the_end_of_the_file_swallows_no_row(tmp_path):
    path = write(
        tmp_path,
        b'phone_number;message\n09171251234;"unterminated\n09181234567;ok\n',
    )
    recipients = RecipientsFile(path)
    assert list(recipients) == [Outgoing("09181234567", "ok")]
    assert recipients.lines == [3]
    [problem] = recipients.problems
    assert problem.line == 2
    assert "not closed by the end of the file" in problem.reason


async def test_an_unclosed_quote_costs_only_its_own_row_in_a_broadcast(
    tmp_path, fake, client
):
    path = write(
        tmp_path,
        b"phone_number,message\n"
        b'09171111111,"Hello,\nyour bill is due"\n'  # lines 2-3: a real one
        b"09172222222,Hi\n"
        b'09173333333,"oops\n'  # line 5: never closed
        b"09174444444,Hi\n"
        b"09175555555,Hi again\n",
    )
    recipients = RecipientsFile(path)
    report = await client.broadcast(recipients, poll=False)
    assert [p.line for p in recipients.problems] == [5]
    assert recipients.lines == [2, 4, 6, 7]
    assert report.counts == {ACCEPTED: 4}
    assert fake.texts_to("09171111111") == ["Hello,\nyour bill is due"]
    assert fake.texts_to("09173333333") == []
    assert fake.texts_to("09174444444") == ["Hi"]
    assert fake.texts_to("09175555555") == ["Hi again"]


def test_a_quote_closed_only_by_another_rows_quote_is_reported_whole(tmp_path):
    # Line 2's quote is left open and line 4's closes it: read as csv reads
    # it, 09171111111 would get a text made of other rows. The span is
    # reported, nothing of it is sent, and reading goes on after it.
    path = write(
        tmp_path,
        b"phone_number,message\n"
        b'09171111111,"Hello, Ana\n'
        b"09172222222,Hi\n"
        b'09173333333,"Hi, Ben"\n'
        b"09174444444,Bye\n",
    )
    recipients = RecipientsFile(path)
    assert list(recipients) == [Outgoing("09174444444", "Bye")]
    [problem] = recipients.problems
    assert problem.line == 2
    assert "from line 2 to line 4" in problem.reason
    assert "missing closing quote on line 2" in problem.reason


def test_a_multi_line_message_whose_lines_are_not_rows_is_kept(tmp_path):
    path = write(
        tmp_path,
        b"name,mobile,message\n"
        b'Ana,09171111111,"Dear Ana,\ncall 09181234567, or reply\nThanks"\n'
        b"Ben,09172222222,Hi\n",
    )
    recipients = RecipientsFile(path)
    assert list(recipients) == [
        Outgoing("09171111111", "Dear Ana,\ncall 09181234567, or reply\nThanks"),
        Outgoing("09172222222", "Hi"),
    ]
    assert recipients.problems == []


def test_one_unclosed_quote_after_another(tmp_path):
    path = write(
        tmp_path,
        b'phone_number,message\n09171111111,"a\n09172222222,"b\n09173333333,c\n',
    )
    recipients = RecipientsFile(path)
    assert list(recipients) == [Outgoing("09173333333", "c")]
    assert [p.line for p in recipients.problems] == [2]
    assert "line 3" in recipients.problems[0].reason


def test_quotes_inside_a_field_are_not_an_open_quote(tmp_path):
    path = write(
        tmp_path,
        b"phone_number,message\n"
        b'09171111111,He said "hi\n'  # a quote not at the start of a field
        b'09172222222,"closed" then more\n'  # csv reads this leniently
        b'09173333333,"ends in a quote """\n',
    )
    recipients = RecipientsFile(path)
    assert [o.message for o in recipients] == [
        'He said "hi',
        "closed then more",
        'ends in a quote "',
    ]
    assert recipients.problems == []


# No digits: a message line starting with a phone number and a delimiter
# would look like a row, which the reader reports on purpose (tested above).
MESSAGES = st.text(
    st.characters(blacklist_categories=["Cs", "Nd"], blacklist_characters="\x00\r"),
    min_size=1,
    max_size=40,
).filter(str.strip) | st.sampled_from(['"', '""', 'a,"b', '"\n"', "x\n\ny", ",;\t"])


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(MESSAGES, min_size=1, max_size=8),
    delimiter=st.sampled_from(",;\t"),
)
def test_whatever_csv_writes_is_read_back_whole(tmp_path_factory, messages, delimiter):
    # Quotes, delimiters and line breaks in any message: written by csv,
    # every row comes back as it was, with no problem reported.
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(["phone_number", "message"])
        for index, message in enumerate(messages):
            writer.writerow([f"0917{index:07d}", message])
    recipients = RecipientsFile(path)
    read = list(recipients)
    expected = [message.replace("\r\n", "\n") for message in messages]
    if not all(m.count("\n") < 20 for m in expected):
        return  # a message over the multi-line limit is refused, by design
    assert recipients.problems == []
    assert [o.message for o in read] == expected


def test_a_default_message_that_cannot_be_sent_is_refused_at_once(tmp_path):
    path = write(tmp_path, b"09171111111\n")
    with pytest.raises(ValidationError) as caught:
        RecipientsFile(path, message="bad \udcff")
    assert caught.value.field == "message"
