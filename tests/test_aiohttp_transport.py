"""``http_backend="aiohttp"``: choosing it, its lifecycle, and its failures told apart.

The backend is `AiohttpWire`, straight on an aiohttp session. Over real
loopback sockets (respx cannot intercept aiohttp), asyncio only, except the
tests that check trio is refused. The operations and the fake gateway's
faults run over this backend in tests/testing/test_aiohttp_backend.py; the
native path's wire-level failures (a server that closes mid-answer, one that
trickles, one that echoes the token) in tests/test_aiohttp_wire.py.
"""

import asyncio
import gc
import sys
import traceback
import warnings

import anyio
import httpx
import pytest

from iprogsms_async import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    IProgSMS,
)
from iprogsms_async._transports import DEFAULT_AIOHTTP_LIMITS

from .loopback import answer, base_url, closed_port, drop, serve
from .support import TOKEN

aiohttp = pytest.importorskip("aiohttp")

from iprogsms_async._aiohttp import (  # noqa: E402
    AiohttpWire,
    _StaleConnectionError,
    translate,
)

pytestmark = pytest.mark.anyio

SEND_OK = {"status": 200, "message": "queued", "message_id": "iSms-1"}
STATUS_OK = {"status": 200, "message_status": "pending"}
NUMBER = "09171251234"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def wire_of(client):
    wire = client._shared.wire
    assert isinstance(wire, AiohttpWire)
    return wire


# --- choosing the backend ------------------------------------------------------------


def test_aiohttp_is_chosen_with_one_argument_and_needs_no_gate():
    client = IProgSMS(TOKEN, http_backend="aiohttp")
    wire = wire_of(client)
    assert wire.limits == DEFAULT_AIOHTTP_LIMITS
    assert client._shared.gate is None
    assert wire.session is None  # not yet made


def test_limits_size_the_aiohttp_pool():
    limits = httpx.Limits(max_connections=7, keepalive_expiry=3.0)
    client = IProgSMS(TOKEN, http_backend="aiohttp", limits=limits)
    assert wire_of(client).limits is limits


@pytest.mark.parametrize("backend", ["curl", "AIOHTTP", None, 1])
def test_an_unknown_backend_is_refused(backend):
    with pytest.raises(ConfigurationError, match="http_backend must be one of"):
        IProgSMS(TOKEN, http_backend=backend)


async def test_aiohttp_does_not_combine_with_a_client_or_a_transport_of_your_own():
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match="http_client"):
            IProgSMS(TOKEN, http_client=http, http_backend="aiohttp")
    with pytest.raises(ConfigurationError, match="transport"):
        IProgSMS(
            TOKEN, transport=httpx.MockTransport(lambda _: None), http_backend="aiohttp"
        )


def test_without_the_extra_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    monkeypatch.delitem(sys.modules, "iprogsms_async._aiohttp", raising=False)
    with pytest.raises(ConfigurationError, match=r"iprogsms-async\[aiohttp\]"):
        IProgSMS(TOKEN, http_backend="aiohttp")
    IProgSMS(TOKEN)  # the default backend does not need it


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_is_refused_when_the_client_is_made():
    with pytest.raises(ConfigurationError, match="asyncio only"):
        IProgSMS(TOKEN, http_backend="aiohttp")


def test_trio_is_refused_at_the_first_request_of_a_client_made_before():
    trio = pytest.importorskip("trio")
    client = IProgSMS(
        TOKEN, base_url="http://127.0.0.1:9/api/v1", http_backend="aiohttp"
    )

    async def use():
        async with client:
            with pytest.raises(ConfigurationError, match="asyncio only"):
                await client.account.credits()

    trio.run(use)
    assert client.is_closed


# --- the session's lifecycle ---------------------------------------------------------


async def test_the_session_is_made_on_first_use_and_closed_with_the_client():
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        async with IProgSMS(
            TOKEN, base_url=base_url(server), http_backend="aiohttp"
        ) as client:
            sent = await client.sms.send(NUMBER, "hi")
            session = wire_of(client).session
            assert isinstance(session, aiohttp.ClientSession)
            assert not session.closed
        assert session.closed
    assert sent.message_id == "iSms-1"


async def test_closing_leaves_nothing_unclosed_to_warn_about():
    with (
        serve({"/sms_messages": answer(SEND_OK)}) as server,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        async with IProgSMS(
            TOKEN, base_url=base_url(server), http_backend="aiohttp"
        ) as client:
            await client.sms.send(NUMBER, "hi")
        await asyncio.sleep(0)
        gc.collect()
    assert [str(w.message) for w in caught] == []


async def test_a_client_never_used_closes_without_a_session():
    client = IProgSMS(TOKEN, http_backend="aiohttp")
    await client.aclose()
    assert client.is_closed
    assert wire_of(client).session is None


async def test_copies_share_the_session_and_only_the_original_closes_it():
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        async with IProgSMS(
            TOKEN, base_url=base_url(server), http_backend="aiohttp"
        ) as client:
            copy = client.with_options(max_retries=0)
            await copy.sms.send(NUMBER, "hi")
            await copy.aclose()
            await client.sms.send(NUMBER, "again")
            session = wire_of(client).session
        assert session.closed
        assert len(server.peers) == 1  # one kept-alive connection for both


async def test_concurrent_sends_share_a_bounded_keep_alive_pool(no_backoff):
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        async with (
            IProgSMS(
                TOKEN,
                base_url=base_url(server),
                http_backend="aiohttp",
                limits=httpx.Limits(max_connections=10),
            ) as client,
            anyio.create_task_group() as tg,
        ):
            for i in range(60):
                tg.start_soon(client.sms.send, f"0917{i:07d}", "hi")
        assert server.hits["/api/v1/sms_messages"] == 60
        assert len(server.peers) <= 10


# --- failures: sent, not sent, or maybe sent -----------------------------------------


async def test_a_connection_closed_before_any_answer_is_maybe_sent_not_retried(
    no_backoff,
):
    # httpx-aiohttp's own mapping called this a ConnectTimeout, which reads
    # as "never sent" and would be retried: a second text.
    with serve({"/sms_messages": drop(), "/account/sms_credits": drop()}) as server:
        async with IProgSMS(
            TOKEN, base_url=base_url(server), http_backend="aiohttp"
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.sms.send(NUMBER, "hi")
            with pytest.raises(APIConnectionError):
                await client.account.credits()
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert caught.value.maybe_sent is True
    assert "may have accepted" in str(caught.value)
    assert server.hits["/api/v1/sms_messages"] == 1
    # A read is retried: by the client, and aiohttp itself repeats a GET once
    # when its connection closes (never a POST).
    assert server.hits["/api/v1/account/sms_credits"] in (3, 6)


async def test_a_send_that_times_out_is_maybe_sent_and_not_repeated(no_backoff):
    with serve({"/sms_messages": answer(SEND_OK, delay=0.6)}) as server:
        async with IProgSMS(
            TOKEN, base_url=base_url(server), timeout=0.2, http_backend="aiohttp"
        ) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.sms.send(NUMBER, "hi")
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert caught.value.maybe_sent is True
    assert server.hits["/api/v1/sms_messages"] == 1


async def test_a_read_that_times_out_is_retried(no_backoff):
    with serve({"/sms_messages/status": answer(STATUS_OK, delay=0.4)}) as server:
        async with IProgSMS(
            TOKEN, base_url=base_url(server), timeout=0.1, http_backend="aiohttp"
        ) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.sms.status("iSms-1")
    assert caught.value.maybe_sent is False
    assert server.hits["/api/v1/sms_messages/status"] == 3


async def test_a_refused_connection_is_not_sent_and_is_retried(no_backoff, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/api/v1"
    attempts = []
    original = AiohttpWire.exchange

    async def counting(self, method, url, *args, **kwargs):
        attempts.append(url)
        return await original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(AiohttpWire, "exchange", counting)
    async with IProgSMS(TOKEN, base_url=url, http_backend="aiohttp") as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.sms.send(NUMBER, "hi")
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.maybe_sent is False
    assert "was not sent" in str(caught.value)
    assert len(attempts) == 3  # never reached the gateway: safe to retry


async def test_an_answer_that_is_not_http_is_maybe_sent():
    def garbage(handler):
        handler.wfile.write(b"this is not HTTP\r\n\r\n")
        handler.close_connection = True

    with serve({"/sms_messages": garbage}) as server:
        async with IProgSMS(
            TOKEN, base_url=base_url(server), http_backend="aiohttp", max_retries=0
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.sms.send(NUMBER, "hi")
    assert caught.value.maybe_sent is True


# --- the translation table -----------------------------------------------------------


def _refused():
    key = aiohttp.client_reqrep.ConnectionKey(
        "127.0.0.1", 80, is_ssl=False, ssl=True, proxy=None, proxy_auth=None,
        proxy_headers_hash=None,
    )  # fmt: skip
    return aiohttp.ClientConnectorError(key, OSError(111, "refused"))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_refused, httpx.ConnectError),
        (lambda: aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (lambda: aiohttp.InvalidURL("ftp://x"), httpx.UnsupportedProtocol),
        (lambda: aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (lambda: aiohttp.ServerTimeoutError("old aiohttp"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
        (lambda: aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError),
        (lambda: aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (lambda: aiohttp.ClientConnectionError("?"), httpx.ReadError),
        (TimeoutError, httpx.ReadTimeout),
    ],
)  # fmt: skip
def test_aiohttp_errors_translate_to_what_httpx_would_raise(error, expected):
    translated = translate(error())
    assert type(translated) is expected


def test_an_error_of_aiohttp_unknown_to_the_table_is_taken_as_maybe_sent():
    class Novel(aiohttp.ClientError):
        pass

    assert type(translate(Novel("new in some release"))) is httpx.ReadError
    assert translate(ValueError("not a transport error")) is None


# --- the token ------------------------------------------------------------------------


async def test_no_token_in_the_text_of_an_aiohttp_failure(no_backoff):
    """aiohttp's exceptions name the request URL, and a GET's URL holds the token."""

    async def bad_answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(bad_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        async with IProgSMS(TOKEN, base_url=url, http_backend="aiohttp") as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.with_options(max_retries=0).sms.status("iSms-1")
    finally:
        server.close()
        await server.wait_closed()
    text = "".join(traceback.format_exception(caught.value))
    assert "ClientResponseError" in text or "RemoteProtocolError" in text
    assert TOKEN not in text
    assert TOKEN not in repr(caught.value)


def test_a_request_found_stale_before_writing_is_not_sent():
    failure = aiohttp.ClientConnectionError("request not written")
    failure.__cause__ = _StaleConnectionError()
    translated = translate(failure)
    assert isinstance(translated, httpx.ConnectError), translated  # not sent
    # Any other connection error after the hand-out may have gone out.
    assert isinstance(translate(aiohttp.ClientConnectionError("x")), httpx.ReadError)
