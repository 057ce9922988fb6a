"""``client.phone_numbers``: which network a number belongs to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._models import NetworkInfo, structure
from .._phone import normalize_phone_number
from .._request import Call
from ._base import Resource, data_of

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PhoneNumbers"]


class PhoneNumbers(Resource):
    """Facts about phone numbers."""

    __slots__ = ()

    async def detect(self, phone_number: str) -> NetworkInfo:
        """Ask the gateway which network ``phone_number`` is on.

        The answer comes from the number's prefix: a ported number may be on
        another network than reported.
        """
        number = normalize_phone_number(phone_number)

        def parse(answer: Mapping[str, Any]) -> NetworkInfo:
            return structure(data_of(answer), NetworkInfo, raw=answer)

        call = Call("POST", "/phone_numbers/detect", json={"phone_number": number})
        return await self._requester.request(call, parse)
