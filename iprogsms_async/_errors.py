"""Every error the package raises.

::

    IProgSMSError                  the base of everything below; .maybe_sent
    ├── ConfigurationError         (also ValueError) bad token, base URL or option
    ├── ValidationError            (also ValueError) input refused before any request
    │   └── InvalidPhoneNumber     not a Philippine mobile number
    ├── ClientStateError           (also RuntimeError) closed, or on another event loop
    ├── JournalError               a broadcast's journal cannot be opened or written
    ├── InterruptedSendError       an earlier run could not tell if this text went out
    │                              (these two are the broadcast's: broadcast/_errors.py)
    ├── APIConnectionError         the transport failed: refused, dropped, reset
    │   └── APITimeoutError        connect, write, read or pool timeout, or their total
    └── APIError                   the gateway answered, and not with success
        ├── BadRequestError        400, 422
        ├── AuthenticationError    401, 403
        ├── InsufficientCreditsError  402, or a refusal that says the credits ran
        │                          out; a broadcast's credit check; .unsent
        ├── NotFoundError          404
        ├── RateLimitError         429; .retry_after
        ├── ServerError            5xx
        └── ResponseFormatError    a body that is not what the operation returns

``maybe_sent`` is the one attribute to read after a send fails. It is True when
the request may have reached the gateway, so the text may have gone out even
though the call failed: such a send must not be repeated blindly. It is False
when the text certainly was not sent (refused input, connection refused, a 4xx
answer), and always False for calls that do not text anyone.

``ends_broadcast`` (a class attribute) says which errors end a whole
broadcast rather than one recipient's send: a bad token, a closed client, a
journal that cannot be written, and the account running out of credits
(after which nothing more is sent).

No message, ``repr`` or attribute here holds the API token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .broadcast import BroadcastReport

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "ConfigurationError",
    "IProgSMSError",
    "InsufficientCreditsError",
    "InvalidPhoneNumber",
    "NotFoundError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "ValidationError",
]


class IProgSMSError(Exception):
    """Base class of every error raised by ``iprogsms_async``."""

    maybe_sent: bool
    """True when a failed send may still have texted the recipient."""

    ends_broadcast: ClassVar[bool] = False
    """Whether this error ends a whole broadcast, not just one recipient's send."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_sent = maybe_sent


class ConfigurationError(IProgSMSError, ValueError):
    """A setting is missing or unusable: of the client, a broadcast, a rate limit.

    ``field`` names the setting when one alone is to blame (None for a
    combination of settings, or an extra that is not installed).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ValidationError(IProgSMSError, ValueError):
    """An argument was refused before any request was made.

    ``field`` names the argument; the message says what is accepted.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidPhoneNumber(ValidationError):
    """A value is not a Philippine mobile number in any accepted notation."""

    def __init__(
        self, message: str, *, value: object, field: str = "phone_number"
    ) -> None:
        super().__init__(message, field=field)
        self.value = value


class ClientStateError(IProgSMSError, RuntimeError):
    """The client cannot be used now: it is closed, or bound to another loop."""

    ends_broadcast: ClassVar[bool] = True


class APIConnectionError(IProgSMSError):
    """The request failed in the transport: no usable answer came back.

    ``method`` and ``url`` describe the request with the token removed.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        maybe_sent: bool,
    ) -> None:
        super().__init__(message, maybe_sent=maybe_sent)
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError):
    """The request timed out (connecting, writing, reading or waiting for a slot).

    Or the attempt as a whole ran past its total: the sum of those four parts.
    """


class APIError(IProgSMSError):
    """The gateway answered, and the answer is an error.

    ``status_code`` is the HTTP status, ``message`` the gateway's own words when
    it gave any, and ``body`` the decoded JSON body (or the text when the body
    was not JSON). ``declared_status`` is the error the body's own ``status``
    declared under an HTTP status that claimed success: a code (``404``) or a
    word (``"error"``); None when the HTTP status itself was the error.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any,
        method: str,
        url: str,
        maybe_sent: bool = False,
        declared_status: int | str | None = None,
    ) -> None:
        super().__init__(message, maybe_sent=maybe_sent)
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url
        self.declared_status = declared_status


class BadRequestError(APIError):
    """The gateway refused the request's content (400 or 422)."""


class AuthenticationError(APIError):
    """The API token was missing, wrong, or not allowed to do this (401, 403)."""

    ends_broadcast: ClassVar[bool] = True


class InsufficientCreditsError(APIError):
    """The account's credits do not cover the texts: they were not sent.

    Raised when the gateway refuses a send for lack of credits (HTTP 402, or
    a refusal whose message says the credits or load balance ran out), by a
    broadcast's credit check (``check_credits=True``) before it sends
    anything, and by a broadcast that ran out of credits part way, at its
    end, once every recipient is reported: those left unsent are
    ``not_sent``, and a rerun with the journal after a top-up sends them.

    ``needed`` and ``available`` are credits (one per SMS segment), when
    known: the credit check knows both, a gateway's refusal may say neither.
    ``unsent`` counts the recipients a broadcast left unsent (0 outside a
    broadcast), and ``report`` is the `BroadcastReport` of every recipient
    when `IProgSMS.broadcast` raised it (None otherwise). After the credit
    check, ``status_code`` and ``body`` are those of the credits answer.
    """

    ends_broadcast: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any,
        method: str,
        url: str,
        needed: int | None = None,
        available: float | None = None,
        unsent: int = 0,
        maybe_sent: bool = False,
        declared_status: int | str | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            body=body,
            method=method,
            url=url,
            maybe_sent=maybe_sent,
            declared_status=declared_status,
        )
        self.needed = needed
        self.available = available
        self.unsent = unsent
        self.report: BroadcastReport | None = None


class NotFoundError(APIError):
    """The message, reminder or path does not exist (404)."""


class RateLimitError(APIError):
    """The gateway asked the client to slow down (429).

    ``retry_after`` is the wait it asked for, in seconds, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any,
        method: str,
        url: str,
        retry_after: float | None,
        maybe_sent: bool = False,
        declared_status: int | str | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            body=body,
            method=method,
            url=url,
            maybe_sent=maybe_sent,
            declared_status=declared_status,
        )
        self.retry_after = retry_after


class ServerError(APIError):
    """The gateway failed (5xx). After a send, the text may have gone out."""


class ResponseFormatError(APIError):
    """The gateway's answer is not what the operation returns.

    An HTML page where JSON was expected, or JSON without the expected field.
    After a send, the gateway may have accepted the text: see ``maybe_sent``.
    """
