"""Recipients from a file: a CSV with a ``phone_number`` column, or a number a line.

Files come from spreadsheets and other programs, so the reader is forgiving
where it can be (a byte-order mark, Windows line endings, blank lines,
semicolon or tab delimiters, header names in any case) and precise where it
cannot: every row it skips is reported with its line number and the reason,
and nothing in the file can crash it or make it hold a huge line in memory.
"""

from __future__ import annotations

import csv
import itertools
from collections import deque
from typing import IO, TYPE_CHECKING

import attrs

from .._errors import InvalidPhoneNumber, ValidationError
from .._phone import normalize_phone_number
from .._validation import MESSAGE
from ._recipients import Outgoing

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

__all__ = ["FileProblem", "RecipientsFile"]

MAX_LINE_BYTES = 8192
"""Longer lines are skipped and reported: no honest row comes close."""
_MAX_RECORD_LINES = 20
"""A quoted message may hold line breaks, but not a file's worth of them."""

_PHONE_HEADERS = ("phone_number", "phone", "number", "mobile", "mobile_number")
_MESSAGE_HEADERS = ("message", "text", "sms")
_DELIMITERS = ",;\t"


@attrs.frozen
class FileProblem:
    """A row that was skipped, and why."""

    line: int
    """The 1-based line number in the file."""
    reason: str


class RecipientsFile:
    """The recipients in a file, read lazily: iterate it for `Outgoing` items.

    The file is either a CSV whose header has a ``phone_number`` column
    (``phone``, ``number`` and ``mobile`` are accepted too) and optionally a
    ``message`` column, or a plain list with one number a line. A row without
    a message takes ``message``; a row with neither, a malformed number or an
    overlong line is skipped and recorded in `problems`. ``lines`` gives the
    file line of each item yielded, in order.

    For example:

        recipients = RecipientsFile("customers.csv", message="Your bill is due")
        report = await client.broadcast(recipients)
        for problem in recipients.problems:
            print(f"line {problem.line}: {problem.reason}")
    """

    def __init__(
        self, path: str | os.PathLike[str], *, message: str | None = None
    ) -> None:
        self.path = path
        self.message = None if message is None else MESSAGE.argument(message, "message")
        self.problems: list[FileProblem] = []
        self.lines: list[int] = []

    def __iter__(self) -> Iterator[Outgoing]:
        self.problems = []
        self.lines = []
        with open(self.path, "rb") as file:  # noqa: PTH123 -- any PathLike
            yield from self._read(file)

    def _read(self, file: IO[bytes]) -> Iterator[Outgoing]:
        lines = _lines(file, self.problems)  # one item a file line, always
        consumed = 0
        header_line = ""
        for text in lines:
            consumed += 1
            if text.strip():
                header_line = text
                break
        if not header_line:
            return
        delimiter = _delimiter(header_line)
        header = [cell.strip().lower() for cell in _cells(header_line, delimiter)]
        phone_column = _column(header, _PHONE_HEADERS)
        if phone_column is not None:
            message_column = _column(header, _MESSAGE_HEADERS)
            rows = self._records(lines, consumed, delimiter, phone_column)
            yield from self._outgoing(rows, phone_column, message_column)
        elif len(header) > 1:
            self.problems.append(
                FileProblem(
                    consumed,
                    "the header has no phone_number column; expected a CSV "
                    "with a phone_number column or one number a line",
                )
            )
        else:  # one number a line, the first one included
            numbered = enumerate(itertools.chain([header_line], lines), consumed)
            rows = ((number, [text]) for number, text in numbered)
            yield from self._outgoing(rows, 0, None)

    def _records(
        self, lines: Iterator[str], before: int, delimiter: str, phone_column: int
    ) -> Iterator[tuple[int, list[str]]]:
        """CSV records, each with the file line it starts on.

        A quoted field may span lines (a message with a line break), within
        reason. A quote that does not close by the end of the file, or within
        `_MAX_RECORD_LINES` lines, is reported on the line that opened it, and
        the lines it would have swallowed are read again as rows of their own.
        A quoted field closed only over lines that look like rows (a number
        in the phone column) is reported and skipped whole: most likely a
        quote left open and closed by another row's, so no text is made of
        other rows, and none of them goes missing unsaid.
        """
        pending: deque[tuple[int, str]] = deque()
        numbered = enumerate(lines, before + 1)
        while True:
            line = pending.popleft() if pending else next(numbered, None)
            if line is None:
                return
            start, text = line
            if '"' not in text and "\r" not in text and "\x00" not in text:
                yield start, text[:-1].split(delimiter)  # what csv makes of it
                continue
            try:
                cells = _read_record([text], delimiter)
                if cells is None:
                    cells = self._multiline(
                        start, text, pending, numbered, (delimiter, phone_column)
                    )
            except csv.Error as error:  # a field past csv's own size limit
                self.problems.append(FileProblem(start, f"unreadable row: {error}"))
                continue
            if cells is not None:
                yield start, cells

    def _multiline(
        self,
        start: int,
        text: str,
        pending: deque[tuple[int, str]],
        numbered: Iterator[tuple[int, str]],
        columns: tuple[str, int],
    ) -> list[str] | None:
        """The cells of a record whose quote opens on ``text``; None if it never closes.

        Lines are taken from ``pending`` (read again after an earlier unclosed
        quote) before the file. When the quote does not close, the line is
        reported and every line taken goes back to ``pending``.
        """
        delimiter, phone_column = columns
        record = [text]
        taken: list[tuple[int, str]] = []
        while len(record) < _MAX_RECORD_LINES:
            line = pending.popleft() if pending else next(numbered, None)
            if line is None:
                break
            taken.append(line)
            record.append(line[1])
            cells = _read_record(record, delimiter)
            if cells is None:
                continue
            rowlike = [
                n for n, t in taken if _looks_like_row(t, delimiter, phone_column)
            ]
            if not rowlike:
                return cells
            self.problems.append(
                FileProblem(
                    start,
                    f"a quoted field runs from line {start} to line {taken[-1][0]} "
                    f"over what look like rows (line {rowlike[0]}...): a missing "
                    f"closing quote on line {start}? Lines {start} to "
                    f"{taken[-1][0]} are skipped",
                )
            )
            return None
        where = (
            "by the end of the file"
            if len(record) < _MAX_RECORD_LINES
            else f"within {_MAX_RECORD_LINES} lines"
        )
        self.problems.append(
            FileProblem(
                start,
                f"a quote opened on this line is not closed {where} (a missing "
                "closing quote?); the row is skipped and the lines after it are "
                "read as rows",
            )
        )
        pending.extendleft(reversed(taken))
        return None

    def _outgoing(
        self,
        rows: Iterator[tuple[int, list[str]]],
        phone_column: int,
        message_column: int | None,
    ) -> Iterator[Outgoing]:
        for number, cells in rows:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            item = self._row(number, cells, phone_column, message_column)
            if item is not None:
                self.lines.append(number)
                yield item

    def _row(
        self,
        number: int,
        cells: list[str],
        phone_column: int,
        message_column: int | None,
    ) -> Outgoing | None:
        phone = cells[phone_column] if len(cells) > phone_column else ""
        text: str | None = None
        if message_column is not None and len(cells) > message_column:
            text = cells[message_column] if cells[message_column].strip() else None
        text = text if text is not None else self.message
        try:
            canonical = normalize_phone_number(phone.strip())
            if text is None:
                raise ValidationError(  # noqa: TRY301 -- one path for every refusal
                    "no message: the row has none and no default was given",
                    field="message",
                )
            MESSAGE.argument(text, "message")
        except ValidationError as error:
            self.problems.append(FileProblem(number, str(error)))
            return None
        return Outgoing(canonical, text)


def _lines(file: IO[bytes], problems: list[FileProblem]) -> Iterator[str]:
    """Yield each line's text ending in a newline; a skipped line as a bare newline.

    Overlong and undecodable lines are reported and stand as empty lines, so
    that every item is one line of the file and line numbers stay true.
    """
    number = 0
    while True:
        raw = file.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            size = len(raw)
            while raw and not raw.endswith(b"\n"):  # skip the rest of it
                raw = file.readline(1 << 16)
                size += len(raw)
            reason = f"line is {size} bytes long; the most is {MAX_LINE_BYTES}"
            problems.append(FileProblem(number, reason))
            yield "\n"
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(FileProblem(number, "line is not valid UTF-8"))
            yield "\n"
            continue
        yield text.rstrip("\r\n") + "\n"


def _looks_like_row(line: str, delimiter: str, phone_column: int) -> bool:
    """Whether ``line``, read on its own, has a phone number in the phone column."""
    cells = line.split(delimiter)
    if len(cells) <= max(phone_column, 1):  # a row has a delimiter at least
        return False
    try:
        normalize_phone_number(cells[phone_column].strip().strip('"'))
    except InvalidPhoneNumber:
        return False
    return True


def _read_record(lines: list[str], delimiter: str) -> list[str] | None:
    """The cells of ``lines`` read as one record; None while a quote is open.

    csv's strict mode tells an open quote (it fails at the end of the data);
    what it refuses besides, the lenient reading takes as csv always has.
    Raises `csv.Error` for a field past csv's own size limit.
    """
    try:
        return next(csv.reader(lines, delimiter=delimiter, strict=True), [])
    except csv.Error:
        if _open_quote("".join(lines), delimiter):
            return None
    return next(csv.reader(lines, delimiter=delimiter), [])


def _open_quote(text: str, delimiter: str) -> bool:
    """Whether a quoted field is still open at the end of ``text``.

    Follows the csv module's reading: a quote opens a field only as its first
    character, ``""`` inside it is a quote, and any other quote closes it.
    """
    quoted = False
    field_start = True
    closing = False  # a quote seen inside a quoted field: a close or a ""
    for char in text:
        if quoted:
            if closing:
                closing = False
                if char == '"':
                    continue  # "" stands for one quote
                quoted = False  # the quote closed the field; read char as unquoted
            elif char == '"':
                closing = True
                continue
            else:
                continue
        if char == '"' and field_start:
            quoted = True
            field_start = False
        else:
            field_start = char in (delimiter, "\n", "\r")
    return quoted and not closing


def _delimiter(header: str) -> str:
    counts = {delimiter: header.count(delimiter) for delimiter in _DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return [line]


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None
