"""Construction, settings, with_options, lifecycle and event-loop binding."""

import asyncio
import threading

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx
import trio

from iprogsms_async import ClientStateError, ConfigurationError, IProgSMS
from iprogsms_async._client import DEFAULT_LIMITS

from .support import BASE, TOKEN

OK_CREDITS = {"status": "success", "data": {"load_balance": 3}}


def test_the_token_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("IPROGSMS_API_TOKEN", " env-token \n")
    client = IProgSMS()
    assert client._settings.token.get() == "env-token"


def test_an_explicit_token_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("IPROGSMS_API_TOKEN", "env-token")
    assert IProgSMS("explicit")._settings.token.get() == "explicit"


def test_no_token_at_all_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("IPROGSMS_API_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="IPROGSMS_API_TOKEN"):
        IProgSMS()


@pytest.mark.parametrize("bad", ["", "   ", "with space", "tab\there", 123])
def test_unusable_tokens_are_refused(bad):
    with pytest.raises(ConfigurationError):
        IProgSMS(bad)


def test_base_url_defaults_and_environment(monkeypatch):
    monkeypatch.delenv("IPROGSMS_BASE_URL", raising=False)
    assert IProgSMS(TOKEN).base_url == "https://www.iprogsms.com/api/v1"
    monkeypatch.setenv("IPROGSMS_BASE_URL", "https://sms.iprogtech.com/api/v1/")
    assert IProgSMS(TOKEN).base_url == "https://sms.iprogtech.com/api/v1"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/api/v1",
        "http://localhost:8080/api/v1",
        "http://[::1]:8080/api/v1",
        "http://127.1.2.3/api/v1",
        "https://example.com/api/v1",
    ],
)
def test_https_or_loopback_http_is_accepted(url):
    assert IProgSMS(TOKEN, base_url=url).base_url == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://www.iprogsms.com/api/v1", "plain http"),
        ("http://10.0.0.5/api/v1", "plain http"),
        ("ftp://www.iprogsms.com/api/v1", "https://"),
        ("www.iprogsms.com/api/v1", "https://"),
        ("https://www.iprogsms.com/api/v1?api_token=x", "query"),
        ("https://user:pw@www.iprogsms.com/api/v1", "credentials"),
    ],
)
def test_other_base_urls_are_refused(url, why):
    with pytest.raises(ConfigurationError, match=why):
        IProgSMS(TOKEN, base_url=url)


@pytest.mark.parametrize("timeout", [0, -1, "5", True, float("inf"), float("nan")])
def test_bad_timeouts_are_refused(timeout):
    with pytest.raises(ConfigurationError):
        IProgSMS(TOKEN, timeout=timeout)


def test_the_token_is_in_no_repr():
    client = IProgSMS(TOKEN)
    for text in (repr(client), str(client), repr(client._settings), repr(client.sms)):
        assert TOKEN not in text
    assert repr(client) == "<IProgSMS base_url='https://www.iprogsms.com/api/v1'>"


def test_no_finalizer_schedules_work():
    assert not hasattr(IProgSMS, "__del__")


def test_the_pool_keeps_alive_as_many_connections_as_it_opens():
    assert DEFAULT_LIMITS.max_connections == DEFAULT_LIMITS.max_keepalive_connections


def test_http_client_and_transport_are_exclusive():
    with pytest.raises(ConfigurationError, match="either http_client"):
        IProgSMS(TOKEN, http_client=httpx.AsyncClient(), limits=httpx.Limits())
    with pytest.raises(ConfigurationError, match=r"httpx\.AsyncClient"):
        IProgSMS(TOKEN, http_client=object())


@pytest.mark.anyio
async def test_a_user_supplied_http_client_is_used_and_never_closed():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=OK_CREDITS)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mine:
        async with IProgSMS(TOKEN, http_client=mine) as client:
            await client.account.credits()
        assert not mine.is_closed
        assert client.is_closed
        assert seen[0].headers["user-agent"].startswith("iprogsms-async/")
        assert seen[0].url.path == "/api/v1/account/sms_credits"


@pytest.mark.anyio
async def test_a_transport_can_be_injected():
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=OK_CREDITS))
    async with IProgSMS(TOKEN, transport=transport) as client:
        assert (await client.account.credits()).load_balance == 3


@pytest.mark.anyio
async def test_the_owned_pool_is_closed_on_exit():
    async with IProgSMS(TOKEN) as client:
        pass
    assert client._shared.wire.http.is_closed
    await client.aclose()  # closing twice is fine


@pytest.mark.anyio
async def test_with_options_keeps_a_subclass_and_its_methods(gateway):
    gateway.get("/account/sms_credits").respond(json=OK_CREDITS)

    class Billing(IProgSMS):
        async def balance(self) -> float:
            return (await self.account.credits()).load_balance

    async with Billing(TOKEN) as client:
        copy = client.with_options(max_retries=0, rate_limit=None)
        assert type(copy) is Billing
        assert copy.max_retries == 0
        assert await copy.balance() == (await client.balance())
        assert type(copy.with_options(timeout=2)) is Billing


@pytest.mark.anyio
async def test_with_options_refuses_what_the_constructor_refuses():
    async with IProgSMS(TOKEN) as client:
        for options in (
            {"api_token": " "},
            {"base_url": "http://example.com"},
            {"timeout": 0},
            {"max_retries": -1},
            {"rate_limit": 0},
        ):
            with pytest.raises(ConfigurationError):
                client.with_options(**options)


@pytest.mark.anyio
async def test_with_options_shares_the_pool_and_changes_only_what_it_names(gateway):
    gateway.get("/account/sms_credits").respond(json=OK_CREDITS)
    async with IProgSMS(TOKEN) as client:
        copy = client.with_options(timeout=3, max_retries=0)
        assert copy._shared is client._shared
        assert copy.timeout == httpx.Timeout(3)
        assert copy.max_retries == 0
        assert copy.base_url == client.base_url
        assert client.max_retries == 2
        other = client.with_options(api_token="other-token")
        await other.account.credits()
        assert gateway.calls.last.request.url.params["api_token"] == "other-token"
        async with copy:
            await copy.account.credits()
        assert not client.is_closed  # leaving a copy's block does not close the pool
        await client.account.credits()
    assert copy.is_closed
    with pytest.raises(ClientStateError, match="closed"):
        await copy.account.credits()


@pytest.mark.anyio
async def test_a_closed_client_says_so(gateway):
    client = IProgSMS(TOKEN)
    await client.aclose()
    with pytest.raises(ClientStateError, match="closed"):
        await client.account.credits()
    with pytest.raises(ClientStateError):
        async with client:
            pass
    assert gateway.calls.call_count == 0


def test_using_a_client_on_a_second_asyncio_loop_is_a_clear_error():
    client = IProgSMS(TOKEN)
    with respx.mock(base_url=BASE) as gateway:
        gateway.get("/account/sms_credits").respond(json=OK_CREDITS)
        asyncio.run(client.account.credits())
        with pytest.raises(ClientStateError, match="another event loop"):
            asyncio.run(client.account.credits())
        assert gateway.calls.call_count == 1


def refused_here_while(other, stop, client, ready=None):
    """Start ``other`` (a thread running the client's loop), and ask from here.

    Once ``ready`` (an event) is set, each call, on a loop of this thread,
    is refused; ``stop`` ends ``other``.
    """
    other.start()
    try:
        assert ready is None or ready.wait(10)
        for _ in range(20):
            with pytest.raises(ClientStateError, match="another event loop"):
                asyncio.run(client.account.credits())
    finally:
        stop.set()
        other.join(10)


def test_a_client_whose_loop_runs_in_another_thread_refuses_this_one():
    client = IProgSMS(TOKEN)
    bound, stop = threading.Event(), threading.Event()

    async def keep_the_loop_busy():
        await client.account.credits()
        bound.set()
        while not stop.is_set():  # a task of that loop is current, often
            await asyncio.sleep(0)

    with respx.mock(base_url=BASE) as gateway:
        gateway.get("/account/sms_credits").respond(json=OK_CREDITS)
        other = threading.Thread(target=asyncio.run, args=(keep_the_loop_busy(),))
        refused_here_while(other, stop, client, ready=bound)
        assert gateway.calls.call_count == 1


def test_a_client_whose_loop_moved_to_another_thread_refuses_this_ones():
    # Bound here, then its loop runs on in a thread of its own: a new loop
    # here is another loop, whatever the bound one is doing meanwhile.
    client = IProgSMS(TOKEN)
    loop = asyncio.new_event_loop()
    stop = threading.Event()

    async def busy():
        while not stop.is_set():  # a task of the bound loop is current, often
            await asyncio.sleep(0)

    with respx.mock(base_url=BASE) as gateway:
        gateway.get("/account/sms_credits").respond(json=OK_CREDITS)
        loop.run_until_complete(client.account.credits())
        other = threading.Thread(target=loop.run_until_complete, args=(busy(),))
        try:
            refused_here_while(other, stop, client)
        finally:
            loop.run_until_complete(client.aclose())
            loop.close()
        assert gateway.calls.call_count == 1


@pytest.mark.anyio
async def test_the_cancel_check_is_the_running_backends_own(gateway):
    # Found once, when the client is bound: should anyio stop giving the
    # backend, anyio's own function would serve, at a cost on every send.
    gateway.get("/account/sms_credits").respond(json=OK_CREDITS)
    async with IProgSMS(TOKEN) as client:
        await client.account.credits()
        check = client._shared.loop.checkpoint_if_cancelled
    assert check is not anyio.lowlevel.checkpoint_if_cancelled
    assert check == anyio.lowlevel.current_token().backend_class.checkpoint_if_cancelled


def test_using_a_client_on_a_second_trio_run_is_a_clear_error():
    client = IProgSMS(TOKEN)
    with respx.mock(base_url=BASE) as gateway:
        gateway.get("/account/sms_credits").respond(json=OK_CREDITS)
        trio.run(client.account.credits)
        with pytest.raises(ClientStateError, match="another event loop"):
            trio.run(client.account.credits)


@pytest.mark.anyio
async def test_a_second_aclose_returns_only_once_the_pool_is_closed(gateway):
    answered = anyio.Event()
    release = anyio.Event()

    async def slow_answer(request):
        answered.set()
        await release.wait()
        return httpx.Response(200, json=OK_CREDITS)

    gateway.get("/account/sms_credits").mock(side_effect=slow_answer)
    client = IProgSMS(TOKEN)
    order = []

    async def close(name):
        await client.aclose()
        order.append((name, client._shared.wire.http.is_closed))

    async with anyio.create_task_group() as group:
        group.start_soon(client.account.credits)
        await answered.wait()
        group.start_soon(close, "first")
        await anyio.lowlevel.checkpoint()
        group.start_soon(close, "second")
        await anyio.sleep(0.05)
        assert order == []  # both wait for the request on the wire
        release.set()
    assert sorted(order) == [("first", True), ("second", True)]
