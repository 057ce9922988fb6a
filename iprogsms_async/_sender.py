"""What the core offers a broadcast: its sends, status reads and credit read.

`RequesterSender` is the client's side of the broadcast's `Sender` protocol
(broadcast/_sender.py): the calls of ``client.sms`` and ``client.account``
on one `Requester` (the client builds it, a copy of its own with the
broadcast's shield and rate limit), with sends taking the caller's
`SendTrace`. The broadcast imports none of this; the client hands it one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .resources.account import CREDITS_PATH, Account
from .resources.sms import checked_send_call, send_bulk_call, status_call

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from ._models import Credits, MessageStatus, SentMessage
    from ._request import Requester
    from ._shielding import SendTrace

__all__ = ["RequesterSender"]


class RequesterSender:
    """Sends, status polls and the credit read of a broadcast, on one requester."""

    __slots__ = ("_account", "_requester", "connections", "credits_url")

    def __init__(
        self, requester: Requester, base_url: str, connections: int | None = None
    ) -> None:
        self._requester = requester
        self._account = Account(requester)
        self.credits_url = base_url + CREDITS_PATH
        """Where `credits` reads, for an error that quotes its answer."""
        self.connections = connections
        """The connections of the client's pool, when it is ours; else None."""

    def send(
        self,
        phone_number: str,
        message: str,
        sms_provider: int | None,
        trace: SendTrace,
    ) -> Coroutine[Any, Any, SentMessage]:
        """Send as ``sms.send`` does, traced, input checked already."""
        call, parse = checked_send_call(phone_number, message, sms_provider)
        return self._requester.request(call, parse, trace=trace)

    def send_bulk(
        self,
        phone_numbers: list[str],
        message: str,
        sms_provider: int | None,
        trace: SendTrace,
    ) -> Coroutine[Any, Any, list[SentMessage]]:
        """Send as ``sms.send_bulk`` does, traced; in input order."""
        call, parse = send_bulk_call(phone_numbers, message, sms_provider)
        return self._requester.request(call, parse, trace=trace)

    def status(self, message_id: str) -> Coroutine[Any, Any, MessageStatus]:
        """Read a status as ``sms.status`` does."""
        call, parse = status_call(message_id)
        return self._requester.request(call, parse)

    async def credits(self) -> Credits:
        """``account.credits``."""
        return await self._account.credits()
