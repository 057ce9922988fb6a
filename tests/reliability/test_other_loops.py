"""Closing a client from another event loop: a clean close or a clear error, no leak.

A client's connections belong to the loop that first used it. Once that loop
has ended (``asyncio.run``, ``trio.run``), the client was closed with it and
``aclose()`` anywhere else is a quiet no-op; while it still runs in another
thread, ``aclose()`` elsewhere is refused with `ClientStateError` and the
client stays usable there. Never httpx's ``RuntimeError: Event loop is
closed`` or aiohttp's leaked socket. Over loopback, both backends; every
socket the client opened is checked closed, and no warning may come out
once the garbage is collected.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from contextlib import contextmanager

import pytest
import trio

from iprogsms_async import ClientStateError, IProgSMS

from ..loopback import answer, base_url, serve, sockets_to
from ..support import TOKEN

SEND_OK = {"status": 200, "message": "queued", "message_id": "iSms-1"}
NUMBER = "09171251234"


@pytest.fixture
def server():
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        yield server


@pytest.fixture
def nothing_left(server, audited_tokens):
    """``with nothing_left():`` checks on leaving that no socket to the server
    is open, and that nothing warned once the garbage was collected."""

    @contextmanager
    def check():
        port = server.server_address[1]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
            audited_tokens.check_errors()  # their tracebacks hold the client
            gc.collect()
        assert sockets_to(port) == set()
        assert [f"{w.category.__name__}: {w.message}" for w in caught] == []

    return check


def test_after_its_loop_ended_the_client_is_closed_and_aclose_is_clean(
    backend, nothing_left, server
):
    def scenario():
        client = IProgSMS(TOKEN, base_url=base_url(server), http_backend=backend)
        sent = asyncio.run(client.sms.send(NUMBER, "hi"))
        assert sent.message_id == "iSms-1"
        # asyncio.run closed it as its loop ended: nothing is left open.
        assert client.is_closed
        asyncio.run(client.aclose())  # a no-op, not "Event loop is closed"
        with pytest.raises(ClientStateError, match="another event loop"):
            asyncio.run(client.sms.send(NUMBER, "again"))

    with nothing_left():
        scenario()
    assert server.hits["/api/v1/sms_messages"] == 1


def test_after_a_trio_run_ended_the_client_is_closed_and_aclose_is_clean(
    nothing_left, server
):
    def scenario():
        client = IProgSMS(TOKEN, base_url=base_url(server))

        async def send():
            return await client.sms.send(NUMBER, "hi")

        trio.run(send)
        assert client.is_closed
        asyncio.run(client.aclose())
        trio.run(client.aclose)

    with nothing_left():
        scenario()
    assert server.hits["/api/v1/sms_messages"] == 1


def test_closing_from_another_running_loop_is_refused_and_works_on_its_own(
    backend, nothing_left, server
):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_its_loop(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    def scenario():
        client = IProgSMS(TOKEN, base_url=base_url(server), http_backend=backend)
        on_its_loop(client.sms.send(NUMBER, "hi"))
        with pytest.raises(ClientStateError, match="still running: close it"):
            asyncio.run(client.aclose())
        assert not client.is_closed
        on_its_loop(client.sms.send(NUMBER, "still usable there"))
        on_its_loop(client.aclose())
        assert client.is_closed

    try:
        with nothing_left():
            scenario()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    assert server.hits["/api/v1/sms_messages"] == 2


# The client's sockets are left to the garbage collector here, which warns of
# them: the loop was closed under them, as the error says.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_loop_closed_by_hand_under_an_open_client_is_a_clear_error(
    audited_tokens, backend, server
):
    def scenario():
        loop = asyncio.new_event_loop()
        client = IProgSMS(TOKEN, base_url=base_url(server), http_backend=backend)
        loop.run_until_complete(client.sms.send(NUMBER, "hi"))
        loop.close()  # without loop.shutdown_asyncgens(): the client stays open
        with pytest.raises(ClientStateError, match="without closing the client"):
            asyncio.run(client.aclose())
        assert client.is_closed
        asyncio.run(client.aclose())  # once is enough

    scenario()
    # The warnings come now, under this test's filters (the token audit lets
    # go of the errors it holds first: their tracebacks hold the client).
    audited_tokens.check_errors()
    gc.collect()
