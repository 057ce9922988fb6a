"""A faithful, stateful fake of the iProgSMS gateway, for tests, demos and benchmarks.

For example:

    from iprogsms_async.testing import FakeGateway, Faults

    fake = FakeGateway(credits=100, faults=Faults(rate_limit=0.1))
    async with fake.client() as client:          # in-process, no sockets
        await client.sms.send("09171251234", "Hello")
    assert fake.texts_to("+639171251234") == ["Hello"]

    with fake.serve_in_thread() as base_url:     # real HTTP on 127.0.0.1
        ...

`set_testing` makes every client retry without waiting (stamina's testing
mode is the model), so code under test can meet transient faults quickly.

The pytest plugin (registered on install) adds the ``iprogsms_fake`` and
``iprogsms_client`` fixtures; see `iprogsms_async.testing.pytest_plugin`.
"""

from .._retry import RetryTestingMode, is_testing, set_testing
from ._asgi import ConnectionDropped, FakeASGIApp
from ._clock import ManualClock
from ._exchange import Exchange
from ._faults import FAULT_KINDS, FaultChanges, FaultKind, Faults
from ._gateway import DEFAULT_CREDITS, DEFAULT_TOKEN, IN_PROCESS_BASE_URL, FakeGateway
from ._networks import (
    DITO,
    GLOBE_TM,
    INVALID_FORMAT,
    PREFIXES,
    SMART_TNT,
    UNKNOWN_NETWORK,
    network_of,
)
from ._records import FinalStatus, MessageSource, RecordedMessage, RecordedReminder
from ._routes import ENDPOINTS, PREFIX, SEND_ENDPOINTS
from ._transport import FakeTransport
from ._wire import Drop, Reply

__all__ = [
    "DEFAULT_CREDITS",
    "DEFAULT_TOKEN",
    "DITO",
    "ENDPOINTS",
    "FAULT_KINDS",
    "GLOBE_TM",
    "INVALID_FORMAT",
    "IN_PROCESS_BASE_URL",
    "PREFIX",
    "PREFIXES",
    "SEND_ENDPOINTS",
    "SMART_TNT",
    "UNKNOWN_NETWORK",
    "ConnectionDropped",
    "Drop",
    "Exchange",
    "FakeASGIApp",
    "FakeGateway",
    "FakeTransport",
    "FaultChanges",
    "FaultKind",
    "Faults",
    "FinalStatus",
    "ManualClock",
    "MessageSource",
    "RecordedMessage",
    "RecordedReminder",
    "Reply",
    "RetryTestingMode",
    "is_testing",
    "network_of",
    "set_testing",
]
