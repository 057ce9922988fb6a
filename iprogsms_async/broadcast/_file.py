"""Recipients from a file: a CSV with a ``phone_number`` column, or a number a line.

Files come from spreadsheets and other programs, so the reader is forgiving
where it can be (a byte-order mark, Windows line endings, blank lines,
semicolon or tab delimiters, header names in any case) and precise where it
cannot: every row it skips is reported with its line number and the reason,
and nothing in the file can crash it or make it hold a huge line in memory.
"""

from __future__ import annotations

import csv
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
        self.message = message
        self.problems: list[FileProblem] = []
        self.lines: list[int] = []

    def __iter__(self) -> Iterator[Outgoing]:
        self.problems = []
        self.lines = []
        with open(self.path, "rb") as file:  # noqa: PTH123 -- any PathLike
            yield from self._read(file)

    def _read(self, file: IO[bytes]) -> Iterator[Outgoing]:
        phone_column: int | None = None
        message_column: int | None = None
        delimiter = ","
        started = False
        for number, line in _lines(file, self.problems):
            if not line.strip():
                continue
            if not started:
                started = True
                delimiter = _delimiter(line)
                header = [cell.strip().lower() for cell in _cells(line, delimiter)]
                phone_column = _column(header, _PHONE_HEADERS)
                if phone_column is not None:
                    message_column = _column(header, _MESSAGE_HEADERS)
                    continue
                if len(header) > 1:
                    self.problems.append(
                        FileProblem(
                            number,
                            "the header has no phone_number column; expected a "
                            "CSV with a phone_number column or one number a line",
                        )
                    )
                    return
                delimiter = "\n"  # one number a line: take each line whole
            item = self._row(number, line, delimiter, phone_column, message_column)
            if item is not None:
                self.lines.append(number)
                yield item

    def _row(
        self,
        number: int,
        line: str,
        delimiter: str,
        phone_column: int | None,
        message_column: int | None,
    ) -> Outgoing | None:
        cells = [line] if delimiter == "\n" else _cells(line, delimiter)
        phone = cells[phone_column or 0] if len(cells) > (phone_column or 0) else ""
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


def _lines(file: IO[bytes], problems: list[FileProblem]) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of each line; skip overlong or undecodable ones."""
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
            problems.append(
                FileProblem(
                    number, f"line is {size} bytes long; the most is {MAX_LINE_BYTES}"
                )
            )
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(FileProblem(number, "line is not valid UTF-8"))
            continue
        yield number, text.rstrip("\r\n")


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
