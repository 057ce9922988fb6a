"""The token never appears in a log line, an exception's text or a repr."""

import logging
import traceback

import httpx
import pytest

from iprogsms_async import IProgSMS, IProgSMSError
from iprogsms_async._redact import Secret, redact, redact_url

from .loopback import answer, base_url, closed_port, drop, serve
from .support import TOKEN

pytestmark = pytest.mark.anyio

REMINDER = {
    "id": 1,
    "phone_number": "09171251234",
    "message": "m",
    "scheduled_at": "2025-03-08T05:00:00+08:00",
    "status": "scheduled",
}


async def exercise(client):
    """Every operation once, and the failures they can meet; return error texts."""
    texts = []
    calls = [
        lambda: client.sms.send("09171251234", "hi"),
        lambda: client.sms.send_bulk(["09171251234", "09181234567"], "hi"),
        lambda: client.sms.status("iSms-1"),
        client.account.credits,
        lambda: client.reminders.create(
            phone_number="09171251234", message="m", scheduled_at="2025-03-08 05:00AM"
        ),
        lambda: client.reminders.get(1),
        lambda: client.reminders.update(1, message="n"),
        lambda: client.reminders.delete(1),
        lambda: client.phone_numbers.detect("09171251234"),
        lambda: client.otp.send("09171251234"),
        lambda: client.otp.verify("09171251234", "123456"),
    ]
    for call in calls:
        try:
            await call()
        except IProgSMSError as error:
            texts.append("".join(traceback.format_exception(error)))
            texts.append(repr(error))
    return texts


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    for name in ("httpx", "httpcore", "iprogsms_async"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("httpx", "httpcore", "iprogsms_async"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def assert_clean(caplog, texts):
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for record in caplog.records:
        assert TOKEN not in record.getMessage(), record.getMessage()
    assert TOKEN not in caplog.text
    for text in texts:
        assert TOKEN not in text


async def test_no_token_in_logs_or_errors_with_mocked_answers(
    all_logs, gateway, no_backoff
):
    answers = iter(
        [
            httpx.Response(200, json={"status": 200, "message_id": "i"}),
            httpx.Response(500, json={"message": f"token {TOKEN} broke it"}),
            httpx.ReadTimeout("slow"),
            httpx.Response(401, json={"message": "bad token", "api_token": TOKEN}),
            httpx.Response(200, json={"status": "success", "data": REMINDER}),
            httpx.Response(404, text=f"<html><title>{TOKEN}</title></html>"),
            httpx.Response(200, json={"status": "success", "data": REMINDER}),
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.ConnectError("refused"),
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"status": "success", "data": {}}),
            httpx.Response(400, json={"errors": {"otp": [f"{TOKEN} wrong"]}}),
        ]
    )

    def next_answer(request):
        answer = next(answers, httpx.Response(500, json={"echo": str(request.url)}))
        if isinstance(answer, Exception):
            raise answer
        return answer

    gateway.route().mock(side_effect=next_answer)
    async with IProgSMS(TOKEN) as client:
        texts = await exercise(client)
    assert len(texts) >= 8
    assert_clean(all_logs, texts)
    assert any("HTTP Request: GET" in r.getMessage() for r in all_logs.records)


async def test_no_token_in_logs_over_a_real_socket(all_logs, no_backoff):
    routes = {
        "/sms_messages": answer({"status": 200, "message_id": "i"}),
        "/sms_messages/send_bulk": drop(),
        "/sms_messages/status": answer({"message": "nope"}, 500),
        "/account/sms_credits": answer(
            {"status": "success", "data": {"load_balance": 1}}
        ),
        "/message-reminders": answer({"status": "success", "data": REMINDER}),
        "/message-reminders/1": answer({"status": "error", "message": "x"}, 404),
    }
    with serve(routes) as server:
        async with IProgSMS(TOKEN, base_url=base_url(server)) as client:
            texts = await exercise(client)
    async with IProgSMS(
        TOKEN, base_url=f"http://127.0.0.1:{closed_port()}/api/v1"
    ) as dead:
        texts += await exercise(dead)
    assert_clean(all_logs, texts)
    assert any(r.name.startswith("httpcore") for r in all_logs.records)


def test_redact_helpers():
    secret = Secret("abc123")
    assert redact("token abc123 here", secret) == "token [REDACTED] here"
    assert redact_url("https://h/p?message_id=1&api_token=abc123&x=1") == (
        "https://h/p?message_id=1&api_token=[REDACTED]&x=1"
    )
    assert "abc123" not in repr(secret)
    assert "abc123" not in str(secret)
    assert secret == Secret("abc123")
