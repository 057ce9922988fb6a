"""The aiohttp example, driven by aiohttp's test client against the fake gateway."""

import anyio
import pytest
from aiohttp.test_utils import TestClient, TestServer

from examples.aiohttp_app import create_app
from iprogsms_async.testing import FakeGateway

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"  # aiohttp runs on asyncio only


@pytest.fixture
def fake():
    return FakeGateway(seed=6)


@pytest.fixture
async def api(fake):
    async with TestClient(TestServer(create_app(make_client=fake.client))) as api:
        yield api


async def test_send_one_text(api, fake):
    response = await api.post(
        "/texts", json={"phone_number": "+639171251234", "message": "Hi"}
    )
    assert response.status == 200
    body = await response.json()
    assert fake.message(body["message_id"]).phone_number == "09171251234"


async def test_a_bad_number_is_422(api, fake):
    response = await api.post("/texts", json={"phone_number": "0917", "message": "Hi"})
    assert response.status == 422
    assert fake.requests == {}


async def test_a_maybe_sent_failure_says_so(api, fake):
    fake.fail_next("drop_after_accept", endpoints="sends")
    response = await api.post(
        "/texts", json={"phone_number": "09171251234", "message": "Hi"}
    )
    assert response.status == 502
    assert (await response.json())["maybe_sent"] is True


async def test_a_background_broadcast_and_its_progress(api, fake):
    recipients = [f"0919{i:07d}" for i in range(50)]
    started = await api.post(
        "/broadcasts", json={"recipients": recipients, "message": "Hey"}
    )
    assert started.status == 202
    href = (await started.json())["href"]
    with anyio.fail_after(30):
        while (progress := await (await api.get(href)).json())["state"] == "running":
            await anyio.sleep(0.05)
    assert progress["counts"] == {"delivered": 50}
    assert all(fake.texts_to(n) == ["Hey"] for n in recipients)
    assert (await api.get("/broadcasts/nope")).status == 404
