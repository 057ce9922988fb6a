"""Answers that are not success become the right APIError, with the right maybe_sent."""

import httpx
import pytest

import iprogsms_async
from iprogsms_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    IProgSMS,
    IProgSMSError,
    JournalError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)

from .support import TOKEN

pytestmark = pytest.mark.anyio

HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize(
    ("status_code", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, APIError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_status_codes_map_to_classes(client, gateway, status_code, cls):
    gateway.get("/account/sms_credits").respond(
        status_code, json={"status": "error", "message": "Nope."}
    )
    with pytest.raises(cls) as caught:
        await client.with_options(max_retries=0).account.credits()
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status_code
    assert error.message == f"HTTP {status_code}: Nope."
    assert error.body == {"status": "error", "message": "Nope."}
    assert error.method == "GET"
    assert error.url == "https://www.iprogsms.com/api/v1/account/sms_credits"
    assert error.maybe_sent is False  # a read texts nobody


@pytest.mark.parametrize(
    ("status_code", "maybe_sent", "cls"),
    [
        (400, False, BadRequestError),
        (401, False, AuthenticationError),
        (422, False, BadRequestError),
        (500, True, ServerError),
        (502, True, ServerError),
        (504, True, ServerError),
    ],
)
async def test_a_failed_send_says_whether_it_may_have_gone_out(
    client, gateway, status_code, maybe_sent, cls
):
    route = gateway.post("/sms_messages").respond(status_code, json={"message": "x"})
    with pytest.raises(cls) as caught:
        await client.sms.send("09171251234", "hi")
    assert caught.value.maybe_sent is maybe_sent
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("body", "cls", "message"),
    [
        (
            {"status": "error", "message": "Invalid format."},
            APIError,
            "Invalid format.",
        ),
        (
            {"status": 401, "message": "Invalid token."},
            AuthenticationError,
            "Invalid token.",
        ),
        (
            {"status": "422", "errors": {"phone_number": ["is invalid"]}},
            BadRequestError,
            "phone_number: is invalid",
        ),
        ({"status": 500, "error": "Queue down"}, ServerError, "Queue down"),
        (
            {"status": "failed", "message": ["Bad number", "Bad text"]},
            APIError,
            "Bad number; Bad text",
        ),
    ],
)
async def test_a_2xx_whose_body_says_error_is_an_api_error(
    client, gateway, body, cls, message
):
    gateway.post("/sms_messages").respond(200, json=body)
    with pytest.raises(cls) as caught:
        await client.sms.send("09171251234", "hi")
    error = caught.value
    assert type(error) is cls
    assert error.status_code == 200
    assert error.message.endswith(message)
    assert error.body == body
    assert error.maybe_sent is (cls is ServerError)


@pytest.mark.parametrize(
    ("status", "declared"),
    [("error", "error"), ("Failed", "failed"), (409, 409), ("404", 404), (500, 500)],
)
async def test_a_2xx_keeps_the_status_its_body_declared(
    client, gateway, status, declared
):
    gateway.post("/sms_messages").respond(200, json={"status": status})
    with pytest.raises(APIError) as caught:
        await client.sms.send("09171251234", "hi")
    assert caught.value.status_code == 200
    assert caught.value.declared_status == declared


async def test_an_error_status_declares_nothing(client, gateway):
    gateway.get("/account/sms_credits").respond(404, json={"status": "error"})
    with pytest.raises(NotFoundError) as caught:
        await client.account.credits()
    assert caught.value.declared_status is None


def test_the_errors_that_end_a_broadcast_say_so():
    public = [getattr(iprogsms_async, name) for name in iprogsms_async.__all__]
    assert JournalError in public
    ending = {
        cls.__name__
        for cls in public
        if isinstance(cls, type)
        and issubclass(cls, IProgSMSError)
        and cls.ends_broadcast
    }
    assert ending == {
        "AuthenticationError",
        "ClientStateError",
        "InsufficientCreditsError",
        "JournalError",
    }


async def test_a_rejected_message_is_a_definite_refusal(client, gateway):
    gateway.post("/sms_messages").respond(
        200,
        json={
            "status": "error",
            "message": "Message contains a suspicious link.",
            "data": {},
        },
    )
    with pytest.raises(APIError, match="suspicious link") as caught:
        await client.sms.send("09171251234", "see https://x.example")
    assert caught.value.maybe_sent is False


async def test_an_html_page_on_success_is_a_response_format_error(client, gateway):
    gateway.post("/sms_messages").respond(
        200, content=HTML, headers={"content-type": "text/html"}
    )
    with pytest.raises(ResponseFormatError) as caught:
        await client.sms.send("09171251234", "hi")
    error = caught.value
    assert "'502 Bad Gateway'" in error.message
    assert error.maybe_sent is True  # 200 from somewhere: the text may be queued
    assert isinstance(error.body, str)


async def test_an_html_error_page_keeps_its_status_class(client, gateway):
    gateway.get("/account/sms_credits").respond(404, content=HTML)
    with pytest.raises(NotFoundError, match="HTML page '502 Bad Gateway'"):
        await client.account.credits()


async def test_json_without_the_expected_field_is_a_response_format_error(
    client, gateway
):
    gateway.post("/sms_messages").respond(
        200, json={"status": 200, "message": "Queued."}
    )
    with pytest.raises(ResponseFormatError, match="message_id") as caught:
        await client.sms.send("09171251234", "hi")
    assert caught.value.maybe_sent is True
    assert caught.value.body == {"status": 200, "message": "Queued."}


async def test_a_read_with_a_malformed_body_is_not_maybe_sent(client, gateway):
    gateway.get("/sms_messages/status").respond(200, json={"status": 200})
    with pytest.raises(ResponseFormatError) as caught:
        await client.sms.status("iSms-1")
    assert caught.value.maybe_sent is False


@pytest.mark.parametrize(
    "ids",
    ["iSms-1", "iSms-1,iSms-2,iSms-3", "", None, 5],
)
async def test_send_bulk_never_guesses_when_the_ids_do_not_match(client, gateway, ids):
    gateway.post("/sms_messages/send_bulk").respond(
        json={"status": 200, "message": "ok", "message_ids": ids}
    )
    with pytest.raises(ResponseFormatError) as caught:
        await client.sms.send_bulk(["09171251234", "09181234567"], "hi")
    assert caught.value.maybe_sent is True


async def test_send_bulk_accepts_a_list_of_ids(client, gateway):
    gateway.post("/sms_messages/send_bulk").respond(
        json={"status": 200, "message_ids": ["a", "b"]}
    )
    sent = await client.sms.send_bulk(["09171251234", "09181234567"], "hi")
    assert [s.message_id for s in sent] == ["a", "b"]


@pytest.mark.parametrize(
    "content",
    [b"", b"null", b"[]", b'"ok"', b"{", b"\xff\xfe", b"[" * 100_000],
)
async def test_odd_bodies_raise_only_our_errors(client, gateway, content):
    gateway.get("/sms_messages/status").respond(200, content=content)
    with pytest.raises(IProgSMSError):
        await client.sms.status("iSms-1")


async def test_a_body_over_the_cap_is_refused(client, gateway):
    big = b'{"status": 200, "pad": "' + b"x" * (2 << 20) + b'"}'
    gateway.get("/sms_messages/status").respond(200, content=big)
    with pytest.raises(ResponseFormatError, match="body over"):
        await client.sms.status("iSms-1")


class _Chunks(httpx.AsyncByteStream):
    """A body with no Content-Length, as a gateway streams it."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    async def __aiter__(self):
        for start in range(0, len(self._content), 1 << 16):
            yield self._content[start : start + (1 << 16)]


# Under trio, httpx's nested body generators that a read abandons are reported
# when collected: an httpx matter (encode/httpx#3686), as in test_fuzz.py.
@pytest.mark.filterwarnings(r"ignore:Async generator 'httpx\.:ResourceWarning")
@pytest.mark.parametrize("declared", [True, False], ids=["declared", "streamed"])
@pytest.mark.parametrize(
    ("status_code", "cls", "maybe_sent"),
    [(400, BadRequestError, False), (503, ServerError, True)],
)
async def test_an_error_answer_over_the_cap_keeps_its_status_class(
    client, gateway, declared, status_code, cls, maybe_sent
):
    big = b"x" * (2 << 20)
    route = gateway.post("/sms_messages")
    if declared:
        route.respond(status_code, content=big)
    else:
        route.respond(status_code, stream=_Chunks(big))
    with pytest.raises(cls) as caught:
        await client.sms.send("09171251234", "hi")
    assert caught.value.maybe_sent is maybe_sent
    assert caught.value.status_code == status_code
    assert caught.value.body in (None, "")


async def test_the_token_is_removed_from_a_message_that_echoes_it(client, gateway):
    gateway.get("/account/sms_credits").respond(
        401, json={"message": f"Token {TOKEN} is not valid"}
    )
    with pytest.raises(AuthenticationError) as caught:
        await client.account.credits()
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)
    assert "[REDACTED]" in str(caught.value)


async def test_a_redirect_is_not_followed_and_a_redirected_send_may_be_sent(
    client, gateway
):
    route = gateway.post("/sms_messages").respond(
        302, headers={"location": "http://evil.example/steal"}
    )
    with pytest.raises(APIError) as caught:
        await client.sms.send("09171251234", "hi")
    assert caught.value.status_code == 302
    assert caught.value.maybe_sent is True  # "done, go elsewhere" after a POST
    assert route.call_count == 1


async def test_a_users_http_client_that_follows_redirects_is_not_followed(gateway):
    gateway.get("/account/sms_credits").respond(
        302, headers={"location": "https://www.iprogsms.com/api/v1/elsewhere"}
    )
    elsewhere = gateway.get("/elsewhere").respond(json={"status": "success"})
    async with httpx.AsyncClient(follow_redirects=True) as mine:
        client = IProgSMS(TOKEN, http_client=mine, max_retries=0)
        with pytest.raises(APIError) as caught:
            await client.account.credits()
    assert caught.value.status_code == 302
    assert elsewhere.call_count == 0


async def test_transport_errors_keep_the_httpx_cause(client, gateway):
    gateway.get("/account/sms_credits").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(IProgSMSError) as caught:
        await client.with_options(max_retries=0).account.credits()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_an_echoed_token_is_taken_out_of_the_body_too(client, gateway):
    gateway.get("/account/sms_credits").respond(
        401, json={"message": "bad", "api_token": TOKEN, "seen": [f"x{TOKEN}x"]}
    )
    with pytest.raises(AuthenticationError) as caught:
        await client.account.credits()
    assert TOKEN not in repr(caught.value.body)
    assert caught.value.body["api_token"] == "[REDACTED]"
