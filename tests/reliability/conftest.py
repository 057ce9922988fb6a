"""Fixtures the reliability tests share."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["httpx", "aiohttp"])
def backend(request):
    """Each ``http_backend``: aiohttp only when installed, and never under trio."""
    if request.param == "aiohttp":
        pytest.importorskip("aiohttp")
        if (
            "anyio_backend" in request.fixturenames
            and request.getfixturevalue("anyio_backend") != "asyncio"
        ):
            pytest.skip("aiohttp runs on asyncio only")
    return request.param
