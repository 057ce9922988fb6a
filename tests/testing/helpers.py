"""Constants and small helpers the fake gateway's tests share."""

import re
from datetime import datetime

from iprogsms_async import MANILA

TOKEN = "fake-token-0123456789"
NUMBER = "09171251234"
OTHER = "09181234567"

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00")
MESSAGE_ID = re.compile(r"iSms-[A-Za-z0-9]{5,6}")

# The vendor's documented example moment: 2025-03-07T16:11:38.937+08:00.
DOC_CREATED = datetime(2025, 3, 7, 16, 11, 38, 937000, tzinfo=MANILA)
DOC_UPDATED = datetime(2025, 3, 7, 16, 36, 18, 90000, tzinfo=MANILA)


def shape(value):
    """The structure of a JSON value: keys kept, leaves replaced by type names."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def body(token=TOKEN, **fields):
    return {"api_token": token, **fields}
