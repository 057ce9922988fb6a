"""Fixtures for the fake gateway's tests: a fake, raw HTTP to it, and both front-ends.

The HTTP front-end is one uvicorn server for the whole session, in a thread,
forwarding to the current test's fake: starting and stopping uvicorn costs
about 0.2 s, too much per test. `FakeGateway.serve_in_thread` itself is
exercised in test_serve.py.
"""

import httpx
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async.testing import FakeGateway
from iprogsms_async.testing.wire import serve_in_thread

from .helpers import TOKEN


class Switch:
    """An ASGI app that passes each request to the current test's fake."""

    def __init__(self):
        self.target = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        assert self.target is not None, "no fake plugged into the HTTP front-end"
        await self.target(scope, receive, send)


@pytest.fixture(scope="session")
def http_front():
    switch = Switch()
    with serve_in_thread(switch) as url:
        yield switch, url


@pytest.fixture
def fake():
    return FakeGateway(token=TOKEN, seed=1)


@pytest.fixture
async def raw(fake):
    """Raw httpx to the fake in-process: for exact bodies, statuses and headers."""
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url
    ) as http:
        yield http


@pytest.fixture(params=["in-process", "http"])
def connect(request, fake):
    """A factory of IProgSMS clients reaching ``fake`` over the front-end under test."""
    if request.param == "in-process":
        yield fake.client
        return
    switch, url = request.getfixturevalue("http_front")
    switch.target = fake.app

    def factory(api_token=None, **options):
        return IProgSMS(api_token or fake.token, base_url=url, **options)

    try:
        yield factory
    finally:
        switch.target = None
