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
from typing import IO, TYPE_CHECKING

import attrs

from .._errors import ValidationError
from .._phone import normalize_phone_number
from .._validation import check_message
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

    ::

        recipients = RecipientsFile("customers.csv", message="Your bill is due")
        report = await client.broadcast(recipients)
        for problem in recipients.problems:
            print(f"line {problem.line}: {problem.reason}")
    """

    def __init__(
        self, path: str | os.PathLike[str], *, message: str | None = None
    ) -> None:
        self.path = path
        self.message = None if message is None else check_message(message)
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
            rows = self._records(lines, consumed, delimiter)
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
        self, lines: Iterator[str], before: int, delimiter: str
    ) -> Iterator[tuple[int, list[str]]]:
        """CSV records, each with the file line it starts on.

        A quoted field may span lines (a message with a line break), within
        reason: a record over `_MAX_RECORD_LINES` lines is reported, not sent.
        """
        reader = csv.reader(lines, delimiter=delimiter)
        end = 0
        while True:
            start = before + end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # a field past csv's own size limit
                end = reader.line_num
                self.problems.append(FileProblem(start, f"unreadable row: {error}"))
                continue
            span, end = reader.line_num - end, reader.line_num
            if span > _MAX_RECORD_LINES:
                self.problems.append(
                    FileProblem(
                        start,
                        f"a quoted field runs over {span} lines (a missing "
                        "closing quote?); a row may span at most "
                        f"{_MAX_RECORD_LINES}",
                    )
                )
                continue
            yield start, cells

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
            check_message(text)
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
