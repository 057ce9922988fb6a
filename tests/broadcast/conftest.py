"""Broadcast tests run against the fake gateway, in-process unless said otherwise."""

from __future__ import annotations

import time

import httpx
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async.testing import FakeGateway


class Recording(httpx.AsyncBaseTransport):
    """Wraps a transport and notes when each request started (monotonic seconds)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.started: list[tuple[float, str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.started.append((time.monotonic(), request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def sends(self) -> list[float]:
        return [t for t, method, _ in self.started if method == "POST"]


@pytest.fixture
def fake():
    return FakeGateway(credits=10_000_000, seed=7)


@pytest.fixture
async def client(fake, no_backoff):
    async with fake.client() as client:
        yield client


@pytest.fixture
def recording(fake):
    return Recording(fake.transport())


@pytest.fixture
async def recorded_client(fake, recording, no_backoff):
    async with IProgSMS(
        fake.token, base_url=fake.base_url, transport=recording
    ) as client:
        yield client


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid numbers, in a mix of notations."""
    forms = ("0917{:07d}", "+63 918 {:07d}", "639190{:06d}", "0920-{:07d}")
    return [forms[i % 4].format(start + i) for i in range(count)]
