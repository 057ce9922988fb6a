"""The fake gateway's client suites again, over ``http_backend="aiohttp"``.

Every test of test_client.py (each operation) and test_client_faults.py (each
fault, and whether the client retries it and calls it maybe sent) is
collected here a second time, with ``connect`` giving clients that reach the
fake over real loopback HTTP through aiohttp. respx cannot intercept that
transport, so this is how the aiohttp backend meets the same expectations as
httpx's. asyncio only: aiohttp does not run on trio.
"""

import pytest

from iprogsms_async import IProgSMS

from . import test_client, test_client_faults
from .test_client_faults import _fast  # noqa: F401 -- the suite's autouse fixture

pytest.importorskip("aiohttp")

pytestmark = pytest.mark.anyio

for _module in (test_client, test_client_faults):
    for _name in dir(_module):
        if _name.startswith("test_"):
            globals()[_name] = getattr(_module, _name)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def connect(fake, http_front):
    """Clients reaching ``fake`` over loopback HTTP through aiohttp."""
    switch, url = http_front
    switch.target = fake.app

    def factory(api_token=None, **options):
        return IProgSMS(
            api_token or fake.token, base_url=url, http_backend="aiohttp", **options
        )

    try:
        yield factory
    finally:
        switch.target = None
