"""The FastAPI example, through httpx's ASGI transport, against the fake gateway."""

import anyio
import httpx
import pytest

from examples.fastapi_app import create_app
from iprogsms_async.testing import FakeGateway, Faults

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake():
    return FakeGateway(seed=5)


@pytest.fixture
async def api(fake):
    app = create_app(make_client=fake.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as api:
            yield api


async def test_send_one_text(api, fake):
    response = await api.post(
        "/texts", json={"phone_number": "0917 125 1234", "message": "Hi"}
    )
    assert response.status_code == 200
    body = response.json()
    assert fake.message(body["message_id"]).message == "Hi"
    assert body["phone_number"] == "09171251234"


async def test_a_bad_number_is_422_and_sends_nothing(api, fake):
    response = await api.post("/texts", json={"phone_number": "12345", "message": "Hi"})
    assert response.status_code == 422
    assert "not a Philippine mobile number" in response.json()["detail"]
    assert fake.requests == {}


async def test_a_maybe_sent_failure_says_so(api, fake):
    fake.fail_next("server_error_after_accept", endpoints="sends")
    response = await api.post(
        "/texts", json={"phone_number": "09171251234", "message": "Hi"}
    )
    assert response.status_code == 502
    assert response.json()["detail"]["maybe_sent"] is True
    assert fake.texts_to("09171251234") == ["Hi"]


async def test_a_background_broadcast_and_its_progress(api, fake):
    recipients = [f"0917{i:07d}" for i in range(60)]
    started = await api.post(
        "/broadcasts", json={"recipients": recipients, "message": "Hello"}
    )
    assert started.status_code == 202
    href = started.json()["href"]
    with anyio.fail_after(30):
        while (progress := (await api.get(href)).json())["state"] == "running":
            await anyio.sleep(0.05)
    assert progress["state"] == "done"
    assert progress["counts"] == {"delivered": 60}
    assert progress["accepted"] == 60
    assert all(fake.texts_to(n) == ["Hello"] for n in recipients)
    assert (await api.get("/broadcasts/999")).status_code == 404


async def test_shutdown_drains_a_running_broadcast():
    fake = FakeGateway(seed=5, faults=Faults(latency=0.05))
    app = create_app(make_client=fake.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as api:
            recipients = [f"0918{i:07d}" for i in range(500)]
            await api.post(
                "/broadcasts", json={"recipients": recipients, "message": "Hi"}
            )
            with anyio.fail_after(10):
                while not fake.messages:
                    await anyio.sleep(0.01)
    # The lifespan ended mid-broadcast: it drained and stopped, texting nobody twice.
    assert 0 < len(fake.messages) < 500
    assert max(len(fake.texts_to(m.phone_number)) for m in fake.messages) == 1
