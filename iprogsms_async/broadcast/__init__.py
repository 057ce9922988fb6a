"""Broadcasts: thousands of texts with bounded concurrency, polled to delivery."""

from ._file import FileProblem, RecipientsFile
from ._options import BroadcastOptionChanges, BroadcastOptions
from ._recipients import Outgoing, RecipientInput, Recipients
from ._report import (
    ACCEPTED,
    DEFAULT_NON_FINAL_STATUSES,
    DRY_RUN,
    DUPLICATE,
    ERROR,
    INVALID,
    NOT_SENT,
    REJECTED,
    UNKNOWN,
    BroadcastEstimate,
    BroadcastProgress,
    BroadcastReport,
    BroadcastResult,
    BroadcastStatus,
    DeliveryStatus,
    GatewayStatus,
    ResultStatus,
)
from ._stream import BroadcastStream

__all__ = [
    "ACCEPTED",
    "DEFAULT_NON_FINAL_STATUSES",
    "DRY_RUN",
    "DUPLICATE",
    "ERROR",
    "INVALID",
    "NOT_SENT",
    "REJECTED",
    "UNKNOWN",
    "BroadcastEstimate",
    "BroadcastOptionChanges",
    "BroadcastOptions",
    "BroadcastProgress",
    "BroadcastReport",
    "BroadcastResult",
    "BroadcastStatus",
    "BroadcastStream",
    "DeliveryStatus",
    "FileProblem",
    "GatewayStatus",
    "Outgoing",
    "RecipientInput",
    "Recipients",
    "RecipientsFile",
    "ResultStatus",
]
