"""A client of ours keeps cookies as httpx would, reading only answers that set them."""

import httpx
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async._cookies import CookiesWhenSet

from .support import TOKEN

pytestmark = pytest.mark.anyio

STATUS = {"status": 200, "message_status": "delivered"}


async def test_a_cookie_the_gateway_sets_is_sent_back():
    seen = []

    def gateway(request):
        seen.append(request.headers.get("cookie"))
        if len(seen) == 1:
            return httpx.Response(200, json=STATUS, headers={"Set-Cookie": "lb=7"})
        return httpx.Response(200, json=STATUS)

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        for _ in range(3):
            await client.sms.status("iSms-1")
        assert isinstance(client._shared.wire.http.cookies, CookiesWhenSet)
        assert dict(client._shared.wire.http.cookies) == {"lb": "7"}
    # Answers without Set-Cookie left the jar as it was.
    assert seen == [None, "lb=7", "lb=7"]


async def test_a_users_client_keeps_its_own_cookies():
    transport = httpx.MockTransport(lambda _: httpx.Response(200))
    http = httpx.AsyncClient(transport=transport)
    async with http, IProgSMS(TOKEN, http_client=http):
        assert type(http.cookies) is httpx.Cookies
