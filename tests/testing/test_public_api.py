"""What ``iprogsms_async.testing`` promises is a short, deliberate list.

Every exported name is a compatibility promise, so the list is spelled out
here: adding a name means changing this test, on purpose. The wire-level
parts live in ``iprogsms_async.testing.wire``, which promises nothing.
"""

import iprogsms_async.testing
from iprogsms_async.testing import wire

PROMISED = [
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


def test_the_testing_package_exports_exactly_what_a_test_needs():
    assert iprogsms_async.testing.__all__ == PROMISED
    for name in PROMISED:
        assert getattr(iprogsms_async.testing, name) is not None


def test_wire_level_names_are_only_in_the_unstable_module():
    for name in ("Exchange", "Reply", "Drop", "FakeASGIApp", "PREFIX", "ENDPOINTS"):
        assert name in wire.__all__
        assert name not in iprogsms_async.testing.__all__
    assert "no compatibility promise" in wire.__doc__
    for name in wire.__all__:
        assert getattr(wire, name) is not None
