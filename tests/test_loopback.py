"""The client over a real socket: pooled keep-alive, timeouts, drops and refusals."""

import anyio
import pytest

from iprogsms_async import APIConnectionError, APITimeoutError, IProgSMS
from iprogsms_async._transports import DEFAULT_LIMITS

from .loopback import answer, base_url, closed_port, drop, serve
from .support import TOKEN

pytestmark = pytest.mark.anyio

SEND_OK = {"status": 200, "message": "queued", "message_id": "iSms-1"}
STATUS_OK = {"status": 200, "message_status": "pending"}


async def test_concurrent_sends_share_a_bounded_keep_alive_pool(no_backoff):
    with serve({"/sms_messages": answer(SEND_OK)}) as server:
        async with IProgSMS(TOKEN, base_url=base_url(server)) as client:
            results = []

            async def one(i):
                results.append(await client.sms.send(f"0917{i:07d}", "hi"))

            async with anyio.create_task_group() as tg:
                for i in range(60):
                    tg.start_soon(one, i)
        assert len(results) == 60
        assert server.hits["/api/v1/sms_messages"] == 60
        # Keep-alive: fewer connections than requests, never above the pool.
        assert len(server.peers) <= DEFAULT_LIMITS.max_connections < 60


async def test_a_send_that_times_out_is_maybe_sent_and_not_repeated(no_backoff):
    with serve({"/sms_messages": answer(SEND_OK, delay=0.6)}) as server:
        async with IProgSMS(TOKEN, base_url=base_url(server), timeout=0.2) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.sms.send("09171251234", "hi")
        assert caught.value.maybe_sent is True
        assert "may have accepted" in str(caught.value)
        assert server.hits["/api/v1/sms_messages"] == 1


async def test_a_read_that_times_out_is_retried(no_backoff):
    with serve({"/sms_messages/status": answer(STATUS_OK, delay=0.4)}) as server:
        async with IProgSMS(TOKEN, base_url=base_url(server), timeout=0.1) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.sms.status("iSms-1")
        assert caught.value.maybe_sent is False
        assert server.hits["/api/v1/sms_messages/status"] == 3


async def test_a_dropped_connection_after_a_send_is_maybe_sent(no_backoff):
    with serve({"/sms_messages": drop()}) as server:
        async with IProgSMS(TOKEN, base_url=base_url(server)) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.sms.send("09171251234", "hi")
        assert not isinstance(caught.value, APITimeoutError)
        assert caught.value.maybe_sent is True
        assert server.hits["/api/v1/sms_messages"] == 1


async def test_a_refused_connection_is_not_sent(no_backoff):
    url = f"http://127.0.0.1:{closed_port()}/api/v1"
    async with IProgSMS(TOKEN, base_url=url) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.sms.send("09171251234", "hi")
    assert caught.value.maybe_sent is False
    assert "was not sent" in str(caught.value)
