"""``client.account``: the account's SMS credits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._models import Credits, structure
from .._request import Call
from ._base import Resource, data_of

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CREDITS_PATH", "Account"]

CREDITS_PATH = "/account/sms_credits"
"""The credits endpoint, below the base URL."""


class Account(Resource):
    """The account behind the API token."""

    __slots__ = ()

    async def credits(self) -> Credits:
        """Read the remaining SMS credits (``load_balance``)."""

        def parse(answer: Mapping[str, Any]) -> Credits:
            return structure(data_of(answer), Credits, raw=answer)

        return await self._requester.request(Call("GET", CREDITS_PATH), parse)
