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

These names are the whole promise: a test needs the gateway, its knobs and
faults, the records of what it saw, and the retry testing mode. What the fake
is built of (its requests and answers, its ASGI app, endpoint names, a server
for an app of your own) is in `iprogsms_async.testing.wire`, which makes no
compatibility promise.
"""

from .._retry import is_testing, set_testing
from ._clock import ManualClock
from ._faults import FAULT_KINDS, FaultChanges, FaultKind, Faults
from ._gateway import FakeGateway
from ._records import RecordedMessage, RecordedReminder

__all__ = [
    "FAULT_KINDS",
    "FakeGateway",
    "FaultChanges",
    "FaultKind",
    "Faults",
    "ManualClock",
    "RecordedMessage",
    "RecordedReminder",
    "is_testing",
    "set_testing",
]
