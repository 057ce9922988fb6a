"""An asyncio-native (and trio) client for the iProgSMS Philippine SMS gateway."""

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
    InterruptedSendError,
    InvalidPhoneNumber,
    IProgSMSError,
    JournalError,
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
from ._version import __version__
from .broadcast import (
    BroadcastEstimate,
    BroadcastProgress,
    BroadcastReport,
    BroadcastResult,
    BroadcastStream,
    FileProblem,
    Outgoing,
    RecipientsFile,
)

__all__ = [
    "MANILA",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BroadcastEstimate",
    "BroadcastProgress",
    "BroadcastReport",
    "BroadcastResult",
    "BroadcastStream",
    "ClientStateError",
    "ConfigurationError",
    "Credits",
    "FileProblem",
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
    "SegmentCount",
    "SentMessage",
    "SentOtp",
    "ServerError",
    "ValidationError",
    "__version__",
    "count_segments",
    "normalize_phone_number",
]
