"""Testing code that texts customers, with the iprogsms pytest fixtures."""

import pytest

from iprogsms_async import IProgSMS, IProgSMSError

pytestmark = pytest.mark.anyio  # anyio's pytest plugin comes with anyio


# --- the code under test (in your project, for example app/notify.py) ---------


async def confirm_order(sms: IProgSMS, phone: str, order_id: str) -> str:
    """Text an order confirmation; return "sent", "unknown" or "failed".

    "unknown": the gateway may have texted the customer although the call
    failed, so the text must not be sent again blindly.
    """
    try:
        await sms.sms.send(phone, f"Order {order_id} is confirmed. Salamat!")
    except IProgSMSError as error:
        return "unknown" if error.maybe_sent else "failed"
    return "sent"


async def confirm_with_own_client(phone: str, order_id: str) -> str:
    """Code that builds its own client from IPROGSMS_API_TOKEN / IPROGSMS_BASE_URL."""
    async with IProgSMS() as sms:
        return await confirm_order(sms, phone, order_id)


# --- the tests ---------------------------------------------------------------------


async def test_the_customer_gets_the_text(iprogsms_client, iprogsms_fake):
    assert await confirm_order(iprogsms_client, "0917 125 1234", "A-17") == "sent"
    # Any notation of the number finds the texts sent to it.
    assert iprogsms_fake.texts_to("+639171251234") == [
        "Order A-17 is confirmed. Salamat!"
    ]


async def test_an_error_after_acceptance_is_unknown_and_not_resent(
    iprogsms_client, iprogsms_fake
):
    iprogsms_fake.fail_next("server_error_after_accept")
    assert await confirm_order(iprogsms_client, "09171251234", "A-18") == "unknown"
    assert len(iprogsms_fake.texts_to("09171251234")) == 1  # it did go out, once
    assert iprogsms_fake.requests["POST /sms_messages"] == 1  # and was not retried


async def test_a_rate_limit_is_waited_out(iprogsms_client, iprogsms_fake):
    iprogsms_fake.update_faults(retry_after=0.01)  # seconds, to keep the test fast
    iprogsms_fake.fail_next("rate_limit")
    assert await confirm_order(iprogsms_client, "09171251234", "A-19") == "sent"
    assert iprogsms_fake.requests["POST /sms_messages"] == 2


@pytest.mark.iprogsms(credits=0)
async def test_without_credits_nothing_is_sent(iprogsms_client, iprogsms_fake):
    assert await confirm_order(iprogsms_client, "09171251234", "A-20") == "failed"
    assert iprogsms_fake.messages == []


async def test_code_that_builds_its_own_client(iprogsms_fake, monkeypatch):
    with iprogsms_fake.serve_in_thread() as base_url:  # real HTTP on 127.0.0.1
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", iprogsms_fake.token)
        assert await confirm_with_own_client("09171251234", "B-2") == "sent"
    assert iprogsms_fake.texts_to("09171251234") == ["Order B-2 is confirmed. Salamat!"]
