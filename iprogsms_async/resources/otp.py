"""``client.otp``: one-time passwords generated, texted and checked by the gateway.

These endpoints are not in the vendor's published documentation; their shape is
inferred from third-party clients, so answers are read leniently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import APIError, BadRequestError, NotFoundError, ValidationError
from .._models import SentOtp, structure
from .._phone import normalize_phone_number
from .._request import Call
from .._validation import (
    IDENTIFIER,
    MESSAGE,
    OTP_PLACEHOLDER,
    POSITIVE_INT,
    SMS_PROVIDER,
)
from ._base import Resource, data_of

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["OTP", "OTP_PLACEHOLDER"]

"""Where the gateway puts the code in a custom OTP message."""


class OTP(Resource):
    """Send and verify one-time passwords."""

    __slots__ = ()

    async def send(
        self,
        phone_number: str,
        *,
        message: str | None = None,
        expires_in_minutes: int | None = None,
        sms_provider: int | None = None,
    ) -> SentOtp:
        """Have the gateway generate a code and text it to ``phone_number``.

        A custom ``message`` must contain ``:otp`` where the code goes. Counts
        as a send: never retried once it may have reached the gateway.
        """
        number = normalize_phone_number(phone_number)
        body: dict[str, Any] = {"phone_number": number}
        if message is not None:
            MESSAGE.argument(message, "message")
            if OTP_PLACEHOLDER not in message:
                raise ValidationError(
                    f"message must contain {OTP_PLACEHOLDER!r} where the code goes",
                    field="message",
                )
            body["message"] = message
        if expires_in_minutes is not None:
            body["expires_in_minutes"] = POSITIVE_INT.argument(
                expires_in_minutes, "expires_in_minutes"
            )
        if sms_provider is not None:
            body["sms_provider"] = SMS_PROVIDER.argument(sms_provider, "sms_provider")

        def parse(answer: Mapping[str, Any]) -> SentOtp:
            data = {**data_of(answer), "phone_number": number}
            return structure(data, SentOtp, raw=answer)

        call = Call("POST", "/otp/send_otp", json=body, sends_sms=True)
        return await self._requester.request(call, parse)

    async def verify(self, phone_number: str, otp: str) -> bool:
        """Return whether ``otp`` is the valid, unexpired code for ``phone_number``.

        False when the gateway refuses the code (a 400, 404 or 422, or an answer
        whose own status says error). Other failures raise: a bad token, a rate
        limit, a server error. Never retried once it may have reached the
        gateway, because checking a code may use it up.
        """
        number = normalize_phone_number(phone_number)
        code = IDENTIFIER.argument(otp, "otp")
        call = Call(
            "POST",
            "/otp/verify_otp",
            json={"phone_number": number, "otp": code},
            idempotent=False,
        )
        try:
            await self._requester.request(call, _accepted)
        except APIError as error:
            # A refusal of the code itself: a 400, 404 or 422, or a 2xx whose
            # body says error (and no error of a kind of its own, as a declared
            # 402 or 429 is). Anything else (a 402, a 3xx...) is not an answer.
            declared = type(error) is APIError and error.declared_status is not None
            if isinstance(error, (BadRequestError, NotFoundError)) or declared:
                return False
            raise
        return True


def _accepted(_: Mapping[str, Any]) -> None:
    """Any successful answer means the code was accepted."""
