"""Fault knobs: their configuration, their determinism, and what each does to state."""

from collections import Counter

import httpx
import pytest

from iprogsms_async import ConfigurationError
from iprogsms_async.testing import FAULT_KINDS, FakeGateway, Faults
from iprogsms_async.testing.wire import ENDPOINTS, PREFIX, SEND_ENDPOINTS, exchange

from .helpers import NUMBER, TOKEN
from .helpers import body as with_token

pytestmark = pytest.mark.anyio

SEND = "POST /sms_messages"
STATUS = "GET /sms_messages/status"


class Plan:
    """The fault decisions of one fake, request by request, read off the wire.

    Entering an exchange decides its fault and latency, as for a real
    request; nothing is answered, so no state changes.
    """

    def __init__(self, faults, seed):
        self.fake = FakeGateway(token=TOKEN, faults=faults, seed=seed)

    def decide(self, endpoint):
        method, _, path = endpoint.partition(" ")
        with exchange(self.fake, method, PREFIX + path) as decided:
            return decided


async def send(http, message="hello"):
    return await http.post(
        "/sms_messages", json=with_token(phone_number=NUMBER, message=message)
    )


# --- configuration ---------------------------------------------------------------


def test_the_default_is_no_faults():
    faults = Faults()
    assert all(getattr(faults, kind) == 0 for kind in FAULT_KINDS)
    assert faults.endpoints == frozenset(ENDPOINTS)
    plan = Plan(faults, seed=0)
    assert {plan.decide(SEND).fault for _ in range(100)} == {None}


@pytest.mark.parametrize(
    "options",
    [
        {"rate_limit": 1.5},
        {"slow": -0.1},
        {"html": "often"},
        {"drop_after_accept": 0.6, "drop_before_accept": 0.6},
        {"latency": -1},
        {"latency": (2, 1)},
        {"slow_seconds": float("inf")},
        {"retry_after": -1},
        {"server_error_status": 404},
        {"html_status": 99},
        {"endpoints": "POST /sms"},
        {"endpoints": ["sends", "GET /nope"]},
    ],
)
def test_a_bad_configuration_is_refused(options):
    with pytest.raises((ValueError, TypeError)):
        Faults(**options)


def test_endpoints_take_groups_names_or_both():
    assert Faults(endpoints="sends").endpoints == SEND_ENDPOINTS
    assert Faults(endpoints=STATUS).endpoints == {STATUS}
    assert Faults(endpoints=["sends", STATUS]).endpoints == SEND_ENDPOINTS | {STATUS}


def test_rates_strike_their_share_deterministically():
    faults = Faults(server_error_after_accept=0.25, rate_limit=0.25)
    first = Plan(faults, seed=3)
    second = Plan(faults, seed=3)
    kinds = [first.decide(SEND).fault for _ in range(4000)]
    assert kinds == [second.decide(SEND).fault for _ in range(4000)]
    counts = Counter(kinds)
    assert 850 <= counts["server_error_after_accept"] <= 1150
    assert 850 <= counts["rate_limit"] <= 1150
    assert 1850 <= counts[None] <= 2150


def test_a_latency_range_is_drawn_within_bounds_from_the_seed():
    plan = Plan(Faults(latency=(0.01, 0.02)), seed=9)
    again = Plan(Faults(latency=(0.01, 0.02)), seed=9)
    drawn = [plan.decide(SEND).latency for _ in range(200)]
    assert drawn == [again.decide(SEND).latency for _ in range(200)]
    assert all(0.01 <= value <= 0.02 for value in drawn)
    assert len(set(drawn)) > 100


def test_faults_only_strike_their_endpoints():
    plan = Plan(Faults(server_error_before_accept=1.0, endpoints="sends"), seed=0)
    assert plan.decide(SEND).fault == "server_error_before_accept"
    assert plan.decide("POST /otp/send_otp").fault == "server_error_before_accept"
    assert plan.decide(STATUS).fault is None
    assert plan.decide("GET /account/sms_credits").fault is None


async def test_fail_next_strikes_n_times_then_stops(raw, fake):
    fake.fail_next("server_error_before_accept", 2)
    statuses = [(await send(raw)).status_code for _ in range(4)]
    assert statuses == [500, 500, 200, 200]


async def test_fail_next_can_target_endpoints_and_queues_in_order(raw, fake):
    fake.fail_next("rate_limit", endpoints=STATUS)
    fake.fail_next("html", endpoints="sends")
    fake.fail_next("server_error_before_accept", endpoints="sends")
    credits = await raw.get("/account/sms_credits", params={"api_token": TOKEN})
    assert credits.status_code == 200
    assert (await send(raw)).headers["content-type"].startswith("text/html")
    assert (await send(raw)).status_code == 500
    status = await raw.get(
        "/sms_messages/status", params={"api_token": TOKEN, "message_id": "x"}
    )
    assert status.status_code == 429
    assert (await send(raw)).status_code == 200


def test_fail_next_refuses_unknown_kinds_and_counts(fake):
    with pytest.raises(ValueError, match="unknown fault"):
        fake.fail_next("explode")
    with pytest.raises(ValueError, match="whole number >= 1"):
        fake.fail_next("html", 0)
    with pytest.raises(ValueError, match="unknown endpoint"):
        fake.fail_next("html", endpoints="GET /nope")


async def test_faults_change_at_runtime_and_clear(raw, fake):
    assert (await send(raw)).status_code == 200
    fake.faults = Faults(server_error_before_accept=1.0)
    assert (await send(raw)).status_code == 500
    changed = fake.update_faults(server_error_before_accept=0.0, rate_limit=1.0)
    assert changed == fake.faults
    assert changed.rate_limit == 1.0
    assert (await send(raw)).status_code == 429
    fake.fail_next("html", 5)
    fake.clear_faults()
    assert fake.faults == Faults()
    assert (await send(raw)).status_code == 200
    with pytest.raises(ConfigurationError, match="faults must be a Faults"):
        fake.faults = {"rate_limit": 1.0}


async def test_faults_given_at_construction_apply():
    fake = FakeGateway(token=TOKEN, faults=Faults(server_error_after_accept=1.0))
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url
    ) as http:
        assert (await send(http)).status_code == 500
    assert len(fake.messages) == 1


# --- what each kind does -------------------------------------------------------------


async def test_server_error_before_accept_stores_nothing(raw, fake):
    fake.update_faults(server_error_status=503)
    fake.fail_next("server_error_before_accept")
    response = await send(raw)
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert fake.messages == []
    assert fake.credits == FakeGateway().credits


async def test_server_error_after_accept_stores_and_bills_the_text(raw, fake):
    fake.fail_next("server_error_after_accept")
    response = await send(raw)
    assert response.status_code == 500
    assert fake.texts_to(NUMBER) == ["hello"]
    assert fake.credits == FakeGateway().credits - 1


async def test_server_error_after_accept_on_a_delete_deletes(raw, fake):
    await raw.post(
        "/message-reminders",
        json=with_token(
            phone_number=NUMBER, message="x", scheduled_at="2025-03-08 05:00AM"
        ),
    )
    fake.fail_next("server_error_after_accept")
    response = await raw.delete("/message-reminders/1", params={"api_token": TOKEN})
    assert response.status_code == 500
    assert fake.reminders == {}


@pytest.mark.parametrize(
    ("after", "header"), [(0.25, "0.25"), (2.0, "2"), (None, None)]
)
async def test_rate_limit_sends_retry_after_and_stores_nothing(
    raw, fake, after, header
):
    fake.update_faults(retry_after=after)
    fake.fail_next("rate_limit")
    response = await send(raw)
    assert response.status_code == 429
    assert response.headers.get("retry-after") == header
    assert fake.messages == []
    assert (await send(raw)).status_code == 200
    assert len(fake.messages) == 1


async def test_html_replaces_the_answer_and_stores_nothing(raw, fake):
    fake.update_faults(html_status=502)
    fake.fail_next("html")
    response = await send(raw)
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content.startswith(b"<!DOCTYPE html>")
    assert fake.messages == []


@pytest.mark.parametrize(
    ("kind", "stored"), [("drop_before_accept", 0), ("drop_after_accept", 1)]
)
async def test_a_drop_raises_what_httpx_raises_for_a_real_drop(raw, fake, kind, stored):
    fake.fail_next(kind)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await send(raw)
    assert str(caught.value) == "Server disconnected without sending a response."
    assert len(fake.messages) == stored
    assert fake.in_flight == 0


async def test_a_slow_answer_past_the_read_timeout_is_a_read_timeout_after_acting(fake):
    fake.update_faults(slow_seconds=10)
    fake.fail_next("slow")
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url, timeout=0.05
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await send(http)
    assert len(fake.messages) == 1
    assert fake.in_flight == 0
    # Within the timeout a slow answer is just slow.
    fake.update_faults(slow_seconds=0.01)
    fake.fail_next("slow")
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url, timeout=5
    ) as http:
        assert (await send(http)).status_code == 200
    assert len(fake.messages) == 2


async def test_latency_past_the_read_timeout_times_out_before_acting(fake):
    fake.faults = Faults(latency=10)
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=fake.base_url, timeout=0.05
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await send(http)
    assert fake.messages == []


async def test_no_read_timeout_waits_as_long_as_it_takes(fake):
    fake.faults = Faults(latency=0.01)
    async with httpx.AsyncClient(
        transport=fake.transport(),
        base_url=fake.base_url,
        timeout=None,  # noqa: S113 -- waiting without limit is what is tested
    ) as http:
        assert (await send(http)).status_code == 200
