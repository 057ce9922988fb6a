"""pytest fixtures for code that uses iprogsms_async: a fake gateway and a client.

Installed with the package and registered through the ``pytest11`` entry point,
so any test can ask for:

``iprogsms_fake``
    a fresh `FakeGateway` per test. Options come from the ``iprogsms``
    marker: ``@pytest.mark.iprogsms(credits=5, seed=7, faults=Faults(...))``.
``iprogsms_client``
    an `IProgSMS` client wired to that fake in-process, closed after the test.

Both fixtures are synchronous on purpose: creating the client needs no event
loop, and closing one wired to the in-process transport never waits, so the
fixtures work the same under pytest-asyncio (strict or auto mode), anyio's
pytest plugin (asyncio and trio) and plain synchronous tests, with no async
plugin required. The test itself must be run by one of those plugins to
``await`` the client.

This module imports nothing but pytest until a fixture is used, so the plugin
costs nothing in test runs that do not use it (and never imports uvicorn).
Disable it with ``-p no:iprogsms``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from iprogsms_async import IProgSMS
    from iprogsms_async.testing import FakeGateway

__all__ = ["MARKER", "iprogsms_client", "iprogsms_fake"]

MARKER = "iprogsms"
"""The marker whose keyword arguments configure ``iprogsms_fake``."""


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``iprogsms`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): FakeGateway options for the iprogsms_fake fixture, "
        "e.g. credits=5, seed=7, delivery_delay=60, faults=Faults(...)",
    )


@pytest.fixture
def iprogsms_fake(request: pytest.FixtureRequest) -> FakeGateway:
    """A fresh `FakeGateway`, configured by the test's ``iprogsms`` marker if any."""
    from iprogsms_async.testing import FakeGateway  # noqa: PLC0415 -- lazy on purpose

    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return FakeGateway()
    if marker.args:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER} takes keyword arguments only (FakeGateway options)"
        )
    return FakeGateway(**marker.kwargs)


@pytest.fixture
def iprogsms_client(iprogsms_fake: FakeGateway) -> Iterator[IProgSMS]:
    """An `IProgSMS` wired to ``iprogsms_fake`` in-process, closed after the test."""
    client = iprogsms_fake.client()
    try:
        yield client
    finally:
        _close_without_loop(client)


def _close_without_loop(client: IProgSMS) -> None:
    """Close a client whose transport holds no connections, with no event loop.

    Closing such a client never suspends, so driving the coroutine by hand
    completes it; it must not be left to an event loop that has ended.
    """
    closing = client.aclose()
    try:
        closing.send(None)
    except StopIteration:
        return
    closing.close()
    raise RuntimeError(  # pragma: no cover - only if httpx starts waiting on close
        "closing the fake's client needed an event loop; close it in the test"
    )
