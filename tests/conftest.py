"""Shared fixtures: both event loops, a token, respx, and retries without waiting."""

from __future__ import annotations

import pytest
import respx

from iprogsms_async import IProgSMS

from .support import BASE, TOKEN


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture
def no_backoff(monkeypatch):
    """Make computed backoff waits zero; server-given Retry-After still counts."""
    monkeypatch.setattr("iprogsms_async._retry.random.uniform", lambda _a, _b: 0.0)


@pytest.fixture
def gateway():
    """A respx router for the real gateway's base URL; nothing else is reachable."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client(gateway, no_backoff):
    async with IProgSMS(TOKEN) as client:
        yield client
