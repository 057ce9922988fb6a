"""Reading a broadcast's input: numbers, pairs or `Outgoing`, from any iterable."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import TYPE_CHECKING, TypeAlias

import anyio.lowlevel
import attrs

from .._errors import IProgSMSError, ValidationError
from .._phone import normalize_phone_number
from .._validation import MESSAGE
from ._report import BroadcastResult

if TYPE_CHECKING:
    from ._report import ResultStatus

__all__ = [
    "DuplicateTracker",
    "Outgoing",
    "Recipient",
    "RecipientInput",
    "Recipients",
    "check_item",
    "check_recipients",
    "read_recipients",
]


@attrs.frozen
class Outgoing:
    """One text to one number: an item of a broadcast's input."""

    phone_number: str
    message: str


RecipientInput: TypeAlias = "str | tuple[str, str] | Outgoing"
"""An input item: a number (sent ``message=``), a (number, text) pair, or `Outgoing`."""
Recipients: TypeAlias = "Iterable[RecipientInput] | AsyncIterable[RecipientInput]"


@attrs.frozen
class Recipient:
    """An input item read and checked: ready to send, or refused with a reason."""

    index: int
    phone_number: str
    """Canonical when valid; otherwise the input as given (shortened)."""
    message: str | None
    problem: ValidationError | None = None

    def result(
        self,
        status: ResultStatus,
        *,
        message_id: str | None = None,
        error: IProgSMSError | None = None,
    ) -> BroadcastResult:
        """This recipient's final result."""
        # Positional: made for every recipient, and keywords cost a third more.
        return BroadcastResult(
            self.index, self.phone_number, self.message, status, message_id, error
        )


_SHOWN = 64


class DuplicateTracker:
    """Which recipients are the same number and text, in little memory.

    For a text equal to the broadcast's own ``message`` the number alone is
    kept; for any other, the number with a 12-byte digest of the text.
    """

    __slots__ = ("_default", "_numbers", "_pairs")

    def __init__(self, default_message: str | None) -> None:
        self._default = default_message
        self._numbers: set[str] = set()
        self._pairs: set[bytes] = set()

    def seen_before(self, phone_number: str, message: str) -> bool:
        """Whether this number and text came before; remember them if not."""
        if message == self._default:
            if phone_number in self._numbers:
                return True
            self._numbers.add(phone_number)
            return False
        text = message.encode("utf-8", "surrogatepass")
        pair = phone_number.encode() + hashlib.blake2b(text, digest_size=12).digest()
        if pair in self._pairs:
            return True
        self._pairs.add(pair)
        return False


def check_recipients(recipients: object) -> Recipients:
    """Return ``recipients`` if a broadcast can read it: an iterable, not one string.

    Each item is checked as it is read; this catches what would otherwise
    fail inside the running broadcast, or read one number digit by digit.
    """
    if isinstance(recipients, str | bytes | bytearray) or not isinstance(
        recipients, Iterable | AsyncIterable
    ):
        what = "one string" if isinstance(recipients, str) else repr(recipients)
        raise ValidationError(
            "recipients must be an iterable or async iterable of phone numbers, "
            f"(phone_number, message) pairs or Outgoing, not {what:.60}",
            field="recipients",
        )
    return recipients


async def read_recipients(
    recipients: Recipients, message: str | None
) -> AsyncGenerator[Recipient, None]:
    """Yield each input item, indexed and checked, pulling lazily from the input."""
    index = 0
    if isinstance(recipients, AsyncIterable):
        async for item in recipients:
            yield check_item(index, item, message)
            index += 1
    else:
        for item in recipients:
            yield check_item(index, item, message)
            index += 1
            if index % 64 == 0:
                # A plain iterable never yields to the event loop by itself.
                await anyio.lowlevel.checkpoint()


def check_item(index: int, item: object, default_message: str | None) -> Recipient:
    """Input item ``index``, checked: ready to send, or refused with a reason.

    ``default_message`` is the broadcast's ``message`` option, checked
    already (`BroadcastOptions` checks it with the same rule).
    """
    raw_number: object
    text: object
    if isinstance(item, Recipient):
        return item  # read and checked already, at its own index (a claim's)
    if isinstance(item, str):
        raw_number, text = item, default_message
    elif isinstance(item, Outgoing):
        raw_number, text = item.phone_number, item.message
    elif isinstance(item, tuple | list) and len(item) == 2:
        raw_number, text = item
    else:
        problem = ValidationError(
            f"recipient {index} is a {type(item).__name__}; pass a phone number "
            "string, a (phone_number, message) pair or an Outgoing",
            field=f"recipients[{index}]",
        )
        return Recipient(index, _shown(item), None, problem)
    try:
        number = normalize_phone_number(raw_number, field=f"recipients[{index}]")
        if text is None:
            raise ValidationError(  # noqa: TRY301 -- one path for every refusal
                f"recipient {index} has no message: pass message=... or a "
                "(phone_number, message) pair",
                field="message",
            )
        if text is default_message and type(text) is str:
            checked = text  # the broadcast's own message: checked as an option
        else:
            checked = MESSAGE.argument(text, f"recipients[{index}].message")
    except ValidationError as problem:
        shown_text = text if isinstance(text, str) else None
        return Recipient(index, _shown(raw_number), shown_text, problem)
    return Recipient(index, number, checked)


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
