"""What a broadcast needs of the client: the `Sender` protocol.

The broadcast is a layer on top of the core. It does not know the client:
`IProgSMS` hands it a `Sender` (the core's ``_sender.RequesterSender``),
whose sends take a `SendTrace`, so that a worker cancelled after its request
reached the wire journals the text in doubt rather than not sent.

Its calls return awaitables rather than being coroutine functions: the
client's may then hand over its own request's coroutine, with no coroutine
of theirs around it (two a recipient of a broadcast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from .._models import Credits, MessageStatus, SentMessage
    from .._shielding import SendTrace

__all__ = ["Sender"]


class Sender(Protocol):
    """The gateway's calls a broadcast makes, each as the client's own would."""

    @property
    def credits_url(self) -> str:
        """Where `credits` reads (no token in it), quoted by the credit check."""
        ...

    @property
    def connections(self) -> int | None:
        """Requests the client can have on the wire at once; None if it cannot tell.

        A broadcast runs no more workers than this: any more would only wait
        for a connection, at a cost.
        """
        ...

    def send(
        self,
        phone_number: str,
        message: str,
        sms_provider: int | None,
        trace: SendTrace,
    ) -> Awaitable[SentMessage]:
        """Text one number, marking ``trace`` before the request may leave.

        The input is checked already, and sent as it is: ``phone_number``
        normalized, ``message`` and ``sms_provider`` accepted by the client's
        checks (the broadcast checks each recipient once, as it reads it).
        """
        ...

    def send_bulk(
        self,
        phone_numbers: list[str],
        message: str,
        sms_provider: int | None,
        trace: SendTrace,
    ) -> Awaitable[list[SentMessage]]:
        """Text many numbers in one request, traced; in input order."""
        ...

    def status(self, message_id: str) -> Awaitable[MessageStatus]:
        """The delivery status of an accepted text."""
        ...

    async def credits(self) -> Credits:
        """The account's credits, for the credit check."""
        ...
