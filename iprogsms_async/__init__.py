"""An asyncio-native (and trio) client for the iProgSMS Philippine SMS gateway.

The public names load on first use (PEP 562): ``import iprogsms_async`` alone,
as the ``iprogsms`` command's ``--help`` and the pytest plugin do, costs no
httpx, no attrs models and no broadcast engine until a name is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    from ._client import IProgSMS
    from ._errors import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ClientStateError,
        ConfigurationError,
        InsufficientCreditsError,
        InvalidPhoneNumber,
        IProgSMSError,
        NotFoundError,
        RateLimitError,
        ResponseFormatError,
        ServerError,
        ValidationError,
    )
    from ._models import (
        Credits,
        MessageStatus,
        NetworkInfo,
        Reminder,
        SentMessage,
        SentOtp,
    )
    from ._phone import normalize_phone_number
    from ._ratelimit import RateLimit
    from ._redis import RedisRateLimit
    from ._schedule import MANILA
    from ._segments import SegmentCount, count_segments
    from .broadcast import (
        BroadcastEstimate,
        BroadcastOptionChanges,
        BroadcastOptions,
        BroadcastProgress,
        BroadcastReport,
        BroadcastResult,
        BroadcastStatus,
        BroadcastStream,
        DeliveryStatus,
        FileProblem,
        GatewayStatus,
        Outgoing,
        RecipientsFile,
        ResultStatus,
    )
    from .broadcast._errors import InterruptedSendError, JournalError

_HOMES: dict[str, str] = {
    "APIConnectionError": "_errors",
    "APIError": "_errors",
    "APITimeoutError": "_errors",
    "AuthenticationError": "_errors",
    "BadRequestError": "_errors",
    "BroadcastEstimate": "broadcast",
    "BroadcastOptionChanges": "broadcast",
    "BroadcastOptions": "broadcast",
    "BroadcastProgress": "broadcast",
    "BroadcastReport": "broadcast",
    "BroadcastResult": "broadcast",
    "BroadcastStatus": "broadcast",
    "BroadcastStream": "broadcast",
    "ClientStateError": "_errors",
    "ConfigurationError": "_errors",
    "Credits": "_models",
    "DeliveryStatus": "broadcast",
    "FileProblem": "broadcast",
    "GatewayStatus": "broadcast",
    "IProgSMS": "_client",
    "IProgSMSError": "_errors",
    "InsufficientCreditsError": "_errors",
    "InterruptedSendError": "broadcast._errors",
    "InvalidPhoneNumber": "_errors",
    "JournalError": "broadcast._errors",
    "MANILA": "_schedule",
    "MessageStatus": "_models",
    "NetworkInfo": "_models",
    "NotFoundError": "_errors",
    "Outgoing": "broadcast",
    "RateLimit": "_ratelimit",
    "RateLimitError": "_errors",
    "RecipientsFile": "broadcast",
    "RedisRateLimit": "_redis",
    "Reminder": "_models",
    "ResponseFormatError": "_errors",
    "ResultStatus": "broadcast",
    "SegmentCount": "_segments",
    "count_segments": "_segments",
    "SentMessage": "_models",
    "SentOtp": "_models",
    "ServerError": "_errors",
    "ValidationError": "_errors",
    "normalize_phone_number": "_phone",
}
"""Where each public name lives, by module inside the package."""


if not TYPE_CHECKING:  # type checkers see the imports above, and typos fail

    def __getattr__(name: str) -> object:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{home}", __name__), name)
        globals()[name] = value  # once loaded, an ordinary attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})


__all__ = [
    "MANILA",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BroadcastEstimate",
    "BroadcastOptionChanges",
    "BroadcastOptions",
    "BroadcastProgress",
    "BroadcastReport",
    "BroadcastResult",
    "BroadcastStatus",
    "BroadcastStream",
    "ClientStateError",
    "ConfigurationError",
    "Credits",
    "DeliveryStatus",
    "FileProblem",
    "GatewayStatus",
    "IProgSMS",
    "IProgSMSError",
    "InsufficientCreditsError",
    "InterruptedSendError",
    "InvalidPhoneNumber",
    "JournalError",
    "MessageStatus",
    "NetworkInfo",
    "NotFoundError",
    "Outgoing",
    "RateLimit",
    "RateLimitError",
    "RecipientsFile",
    "RedisRateLimit",
    "Reminder",
    "ResponseFormatError",
    "ResultStatus",
    "SegmentCount",
    "SentMessage",
    "SentOtp",
    "ServerError",
    "ValidationError",
    "__version__",
    "count_segments",
    "normalize_phone_number",
]
