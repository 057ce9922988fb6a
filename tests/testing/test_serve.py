"""The fake over real HTTP: uvicorn in a thread or the loop, drops, threads, extras."""

import logging
import re
import subprocess
import sys

import anyio
import httpx
import pytest

from iprogsms_async import APIConnectionError, APITimeoutError, IProgSMS
from iprogsms_async.testing import FakeGateway

from .helpers import NUMBER, OTHER, TOKEN
from .helpers import body as with_token

URL = re.compile(r"http://127\.0\.0\.1:\d+/api/v1")


def test_serve_in_thread_from_sync_code(fake):
    with fake.serve_in_thread() as base_url:
        assert URL.fullmatch(base_url)
        with httpx.Client(base_url=base_url) as http:
            response = http.post(
                "/sms_messages", json=with_token(phone_number=NUMBER, message="sync")
            )
    assert response.status_code == 200
    assert response.json()["message_id"] == fake.messages[0].message_id
    assert fake.texts_to(NUMBER) == ["sync"]


def test_a_dropped_connection_over_http_is_a_transport_error_not_a_500(fake, caplog):
    caplog.set_level(logging.INFO)
    with fake.serve_in_thread() as base_url, httpx.Client(base_url=base_url) as http:
        for kind, texts in (("drop_before_accept", 0), ("drop_after_accept", 1)):
            fake.fail_next(kind)
            with pytest.raises(httpx.RemoteProtocolError):
                http.post(
                    "/sms_messages", json=with_token(phone_number=NUMBER, message="x")
                )
            assert len(fake.messages) == texts
        # The same client goes on working over a new connection.
        ok = http.post(
            "/sms_messages", json=with_token(phone_number=NUMBER, message="y")
        )
        assert ok.status_code == 200
    # uvicorn's "Exception in ASGI application" for the deliberate drop is hidden.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.anyio
async def test_the_server_stops_on_exit(fake, no_backoff):
    with fake.serve_in_thread() as base_url:
        async with IProgSMS(TOKEN, base_url=base_url) as client:
            await client.account.credits()
    async with IProgSMS(TOKEN, base_url=base_url, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.sms.send(NUMBER, "too late")
    assert caught.value.maybe_sent is False  # refused: nothing listens


@pytest.mark.anyio
async def test_in_process_and_http_requests_share_state_safely(fake):
    with fake.serve_in_thread() as base_url:
        async with (
            fake.client() as local,
            IProgSMS(TOKEN, base_url=base_url) as remote,
            anyio.create_task_group() as group,
        ):
            for i in range(100):
                group.start_soon(local.sms.send, f"0917{i:07d}", "local")
                group.start_soon(remote.sms.send, f"0918{i:07d}", "remote")
    messages = fake.messages
    assert len(messages) == 200
    assert len({m.message_id for m in messages}) == 200
    assert fake.credits == FakeGateway().credits - 200
    assert fake.requests == {"POST /sms_messages": 200}
    assert fake.in_flight == 0


@pytest.mark.anyio
async def test_a_slow_answer_stops_when_its_client_leaves(fake, no_backoff):
    fake.update_faults(slow_seconds=30)
    fake.fail_next("slow")
    with fake.serve_in_thread() as base_url:
        async with IProgSMS(TOKEN, base_url=base_url, timeout=0.25) as client:
            with pytest.raises(APITimeoutError):
                await client.sms.send(NUMBER, "hi")
        with anyio.fail_after(5):
            while fake.in_flight:
                await anyio.sleep(0.01)
    assert fake.texts_to(NUMBER) == ["hi"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_serve_in_the_running_asyncio_loop(fake):
    async with fake.serve() as base_url, IProgSMS(TOKEN, base_url=base_url) as client:
        assert URL.fullmatch(base_url)
        await client.sms.send(NUMBER, "in loop")
        fake.fail_next("drop_after_accept")
        with pytest.raises(APIConnectionError):
            await client.sms.send(OTHER, "dropped")
    assert fake.texts_to(NUMBER) == ["in loop"]
    assert fake.texts_to(OTHER) == ["dropped"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_serve_in_the_loop_refuses_trio_and_points_to_the_thread(fake):
    with pytest.raises(RuntimeError, match="serve_in_thread"):
        async with fake.serve():
            pass


def test_serving_without_uvicorn_says_how_to_install_it(fake, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ImportError, match=r"iprogsms-async\[fake\]"):  # noqa: SIM117
        with fake.serve_in_thread():
            pass


def test_neither_the_package_nor_the_plugin_imports_uvicorn():
    code = (
        "import sys, iprogsms_async.testing, iprogsms_async.testing.pytest_plugin;"
        "from iprogsms_async.testing import FakeGateway; FakeGateway().client();"
        "assert 'uvicorn' not in sys.modules, 'uvicorn imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.anyio
async def test_the_asgi_app_speaks_lifespan_and_ignores_other_scopes(fake):
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message["type"])

    await fake.app({"type": "lifespan"}, receive, send)
    await fake.app({"type": "websocket"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.anyio
async def test_the_asgi_app_answers_with_headers_and_body(fake):
    request = with_token(phone_number=NUMBER, message="asgi")
    messages = [
        {
            "type": "http.request",
            "body": httpx.Request("POST", "http://x", json=request).read(),
        }
    ]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/sms_messages",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    await fake.app(scope, receive, send)
    start, body = sent
    assert start["status"] == 200
    assert (b"content-type", b"application/json; charset=utf-8") in start["headers"]
    assert (b"content-length", str(len(body["body"])).encode()) in start["headers"]
    assert fake.texts_to(NUMBER) == ["asgi"]
