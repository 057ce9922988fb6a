"""``client.sms``: send texts and read their delivery status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._models import (
    MessageStatus,
    SentMessage,
    message_status,
    sent_message,
    structure,
)
from .._phone import normalize_phone_number
from .._redact import shorten
from .._request import Call
from .._validation import IDENTIFIER, MESSAGE, SMS_PROVIDER
from ._base import Resource

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .._response import JSONObject

__all__ = ["SMS", "send_bulk_call", "send_call", "status_call"]


class SMS(Resource):
    """Sending SMS and reading their status."""

    __slots__ = ()

    async def send(
        self,
        phone_number: str,
        message: str,
        *,
        sms_provider: int | None = None,
    ) -> SentMessage:
        """Text ``message`` to one Philippine mobile number.

        The number may be in any notation `normalize_phone_number` accepts;
        ``sms_provider`` is 0, 1 or 2 (the gateway's default is 0). The result
        means *queued*, not delivered: poll `status` for delivery.

        Never retried once the request may have reached the gateway; an error
        then has ``maybe_sent=True``.
        """
        call, parse = send_call(phone_number, message, sms_provider)
        return await self._requester.request(call, parse)

    async def send_bulk(
        self,
        phone_numbers: Iterable[str],
        message: str,
        *,
        sms_provider: int | None = None,
    ) -> list[SentMessage]:
        """Text one ``message`` to many numbers in a single request.

        Returns one `SentMessage` per number, in input order. When the gateway
        answers with a different number of ids than numbers, the call raises
        `ResponseFormatError` with ``maybe_sent=True`` rather than guess.
        """
        call, parse = send_bulk_call(phone_numbers, message, sms_provider)
        return await self._requester.request(call, parse)

    async def status(self, message_id: str) -> MessageStatus:
        """Read the delivery status of a message (``"pending"`` until final)."""
        call, parse = status_call(message_id)
        return await self._requester.request(call, parse)


def status_call(
    message_id: str,
) -> tuple[Call, Callable[[JSONObject], MessageStatus]]:
    """The call of `SMS.status`, its input checked, and the parse of its answer."""
    message_id = IDENTIFIER.argument(message_id, "message_id")

    def parse(answer: Mapping[str, Any]) -> MessageStatus:
        return message_status(answer, message_id)

    call = Call("GET", "/sms_messages/status", params={"message_id": message_id})
    return call, parse


def send_call(
    phone_number: str, message: str, sms_provider: int | None
) -> tuple[Call, Callable[[JSONObject], SentMessage]]:
    """The call of `SMS.send`, its input checked, and the parse of its answer.

    Apart from the method so that the broadcast engine can send it with a
    `SendTrace` of its own.
    """
    return checked_send_call(
        normalize_phone_number(phone_number), *_checked_text(message, sms_provider)
    )


def checked_send_call(
    number: str, message: str, sms_provider: int | None
) -> tuple[Call, Callable[[JSONObject], SentMessage]]:
    """`send_call` of input checked already: a normalized number, a checked text.

    For the broadcast, whose recipients are checked once as they are read
    (and ``sms_provider`` with its options): checking each again per send
    would only repeat the work.
    """
    body = _send_body(number, message, sms_provider)

    def parse(answer: Mapping[str, Any]) -> SentMessage:
        return sent_message(answer, number)

    return Call("POST", "/sms_messages", json=body, sends_sms=True), parse


def send_bulk_call(
    phone_numbers: Iterable[str], message: str, sms_provider: int | None
) -> tuple[Call, Callable[[JSONObject], list[SentMessage]]]:
    """The call of `SMS.send_bulk`, its input checked, and the parse of its answer."""
    if isinstance(phone_numbers, str):
        raise ValidationError(
            "phone_numbers must be a list of numbers, not one string",
            field="phone_numbers",
        )
    numbers = [
        normalize_phone_number(number, field=f"phone_numbers[{index}]")
        for index, number in enumerate(phone_numbers)
    ]
    if not numbers:
        raise ValidationError("phone_numbers is empty", field="phone_numbers")
    body = _send_body(",".join(numbers), *_checked_text(message, sms_provider))

    def parse(answer: Mapping[str, Any]) -> list[SentMessage]:
        ids = _split_ids(answer.get("message_ids"))
        if len(ids) != len(numbers):
            raise ValueError(
                f"the gateway returned {len(ids)} message ids for "
                f"{len(numbers)} numbers"
            )
        return [
            structure(
                {"message_id": message_id, "phone_number": number},
                SentMessage,
                raw=answer,
            )
            for message_id, number in zip(ids, numbers, strict=True)
        ]

    call = Call("POST", "/sms_messages/send_bulk", json=body, sends_sms=True)
    return call, parse


def _checked_text(message: str, sms_provider: int | None) -> tuple[str, int | None]:
    """A send's text and provider, checked (a send's number is checked apart)."""
    checked = MESSAGE.argument(message, "message")
    if sms_provider is not None:
        sms_provider = SMS_PROVIDER.argument(sms_provider, "sms_provider")
    return checked, sms_provider


def _send_body(
    phone_number: str, message: str, sms_provider: int | None
) -> dict[str, Any]:
    """A send's body, of input checked already."""
    body: dict[str, Any] = {"phone_number": phone_number, "message": message}
    if sms_provider is not None:
        body["sms_provider"] = sms_provider
    return body


def _split_ids(value: object) -> list[str]:
    """Read ``message_ids``: one comma-joined string (documented) or a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value]
    raise ValueError(
        f"message_ids must be a comma-joined string, not {shorten(repr(value), 60)}"
    )
