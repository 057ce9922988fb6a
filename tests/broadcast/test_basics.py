"""A broadcast reports one result per input item, in order, with the right status."""

import inspect

import attrs
import httpx
import pytest

from iprogsms_async import (
    ConfigurationError,
    InsufficientCreditsError,
    IProgSMS,
    IProgSMSError,
    ValidationError,
)
from iprogsms_async.broadcast import (
    ACCEPTED,
    DRY_RUN,
    DUPLICATE,
    INVALID,
    REJECTED,
    BroadcastEstimate,
    BroadcastOptionChanges,
    BroadcastOptions,
    Outgoing,
)
from iprogsms_async.testing import FakeGateway

from ..support import TOKEN
from .conftest import numbers

pytestmark = pytest.mark.anyio

FAST_POLL = {"poll_interval": 0.01, "poll_max_interval": 0.02}


async def test_every_recipient_gets_one_result_in_input_order(fake, client):
    recipients = numbers(120)
    report = await client.broadcast(recipients, message="Your bill is due", **FAST_POLL)
    assert [r.index for r in report.results] == list(range(120))
    assert report.counts == {"delivered": 120}
    assert len(report) == 120
    for result, number in zip(report.results, recipients, strict=True):
        assert fake.texts_to(number) == ["Your bill is due"]
        assert result.phone_number == fake.message(result.message_id).phone_number
        assert result.sent
        assert result.error is None


async def test_inputs_may_be_numbers_pairs_or_outgoing_sync_or_async(fake, client):
    async def source():
        yield "09171111111"
        yield ("09172222222", "Just for you")
        yield Outgoing("+639173333333", "Outgoing text")
        yield ["09174444444", "A list pair"]

    report = await client.broadcast(source(), message="Default", poll=False)
    assert report.counts == {ACCEPTED: 4}
    assert fake.texts_to("09171111111") == ["Default"]
    assert fake.texts_to("09172222222") == ["Just for you"]
    assert fake.texts_to("09173333333") == ["Outgoing text"]
    assert fake.texts_to("09174444444") == ["A list pair"]
    assert [r.message for r in report.results] == [
        "Default",
        "Just for you",
        "Outgoing text",
        "A list pair",
    ]


async def test_bad_items_are_invalid_and_never_requested(fake, client):
    items = [
        "09171111111",
        "12345",
        ("09172222222", "   "),
        42,
        ("09173333333", None),
        ("not a number", "hi"),
        ("0917", "a", "b"),
        "9" * 10_000_000,
    ]
    report = await client.broadcast(items, message="Hello", poll=False)
    statuses = [r.status for r in report.results]
    assert statuses == [ACCEPTED] + [INVALID] * 7
    for result in report.results[1:]:
        assert isinstance(result.error, ValidationError)
        assert len(result.phone_number) <= 70
    assert fake.requests == {"POST /sms_messages": 1}


async def test_a_bare_number_without_a_message_is_invalid(fake, client):
    report = await client.broadcast(["09171111111", ("09172222222", "hi")], poll=False)
    assert [r.status for r in report.results] == [INVALID, ACCEPTED]
    assert "no message" in str(report.results[0].error)


class _Text(str):
    __slots__ = ()


async def test_the_broadcasts_message_is_checked_once_and_sent_as_a_plain_str(
    fake, client
):
    # Checked as an option, it is not checked again for each number; a str
    # subclass still reaches the results (and the wire) as a plain str, as a
    # pair's own text, checked at each item, does.
    report = await client.broadcast(
        ["09171250001", ("09171250002", _Text("Own")), ("09171250003", " ")],
        message=_Text("Hi"),
        poll=False,
    )
    first, second, third = report.results
    assert (first.message, type(first.message)) == ("Hi", str)
    assert (second.message, type(second.message)) == ("Own", str)
    assert third.status == INVALID
    assert isinstance(third.error, ValidationError)
    assert third.error.field == "recipients[2].message"
    assert [m.message for m in fake.messages] == ["Hi", "Own"]


async def test_duplicates_are_sent_once(fake, client):
    items = [
        "09171111111",
        "+63 917 111 1111",  # the same number in another notation
        ("09171111111", "Other text"),  # same number, other text: not a duplicate
        "09172222222",
        "0917-111-1111",
    ]
    report = await client.broadcast(items, message="Hi", poll=False)
    assert [r.status for r in report.results] == [
        ACCEPTED,
        DUPLICATE,
        ACCEPTED,
        ACCEPTED,
        DUPLICATE,
    ]
    assert fake.texts_to("09171111111") == ["Hi", "Other text"]
    no_dedupe = await client.broadcast(
        ["09175555555"] * 2, message="Twice", poll=False, deduplicate=False
    )
    assert no_dedupe.counts == {ACCEPTED: 2}
    assert fake.texts_to("09175555555") == ["Twice", "Twice"]


async def test_a_rejected_text_does_not_stop_the_broadcast(no_backoff):
    # Running out of credits does stop it (tests/broadcast/test_credits.py);
    # a refusal of one text does not.
    accepted = iter(range(100))

    def gateway(request):
        if b"link" in request.content:
            body = {"status": "error", "message": "Message contains a suspicious link."}
            return httpx.Response(422, json=body)
        message_id = f"iSms-{next(accepted)}"
        return httpx.Response(200, json={"status": 200, "message_id": message_id})

    items = [
        (number, "see link" if index % 2 else "Hi")
        for index, number in enumerate(numbers(5))
    ]
    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        report = await client.broadcast(items, poll=False)
    assert report.counts == {ACCEPTED: 3, REJECTED: 2}
    rejected = list(report.with_status(REJECTED))
    assert all(r.error is not None and r.error.maybe_sent is False for r in rejected)
    assert all(r.message_id is None for r in rejected)


async def test_a_delivery_status_named_like_ours_is_told_apart_by_sent(no_backoff):
    # A carrier's "rejected" passes through as given; `sent` says it went out.
    def gateway(request):
        if request.method == "POST":
            if b"09170000002" in request.content:
                return httpx.Response(422, json={"message": "Invalid number."})
            return httpx.Response(200, json={"status": 200, "message_id": "iSms-1"})
        return httpx.Response(200, json={"status": 200, "message_status": "rejected"})

    async with IProgSMS(TOKEN, transport=httpx.MockTransport(gateway)) as client:
        report = await client.broadcast(
            ["09170000001", "09170000002"], message="Hi", **FAST_POLL
        )
    carrier, ours = report.results
    assert (carrier.status, carrier.sent, carrier.message_id) == (
        "rejected",
        True,
        "iSms-1",
    )
    assert (ours.status, ours.sent, ours.message_id) == (REJECTED, False, None)


async def test_polling_until_final(no_backoff):
    slow = FakeGateway(credits=1000, seed=1, delivery_delay=0.05, failure_rate=0.5)
    async with slow.client() as client:
        report = await client.broadcast(numbers(40), message="Hi", **FAST_POLL)
    assert set(report.counts) <= {"delivered", "failed"}
    assert sum(report.counts.values()) == 40
    assert report.counts["failed"] > 0
    polls = slow.requests["GET /sms_messages/status"]
    assert polls > 40  # at least one "pending" answer was polled again
    for result in report.results:
        assert result.status == slow.message(result.message_id).final_status


async def test_polling_stops_at_the_timeout_with_the_last_status(no_backoff):
    never = FakeGateway(credits=1000, seed=1, delivery_delay=3600)
    async with never.client() as client:
        report = await client.broadcast(
            numbers(10), message="Hi", poll_interval=0.01, poll_timeout=0.1
        )
    assert report.counts == {"pending": 10}
    assert all(r.message_id for r in report.results)


async def test_which_statuses_are_final_is_configurable(fake, client):
    report = await client.broadcast(
        numbers(3),
        message="Hi",
        non_final_statuses={"pending", "delivered"},  # keep polling even these
        poll_interval=0.01,
        poll_timeout=0.1,
    )
    assert report.counts == {"delivered": 3}
    assert fake.requests["GET /sms_messages/status"] >= 6


async def test_poll_false_leaves_texts_accepted(fake, client):
    report = await client.broadcast(numbers(5), message="Hi", poll=False)
    assert report.counts == {ACCEPTED: 5}
    assert fake.requests["GET /sms_messages/status"] == 0


async def test_batched_sends_go_through_send_bulk_and_map_back_in_order(fake, client):
    recipients = [*numbers(23), ("09990000001", "Other"), ("09990000002", "Other")]
    report = await client.broadcast(
        recipients, message="Bulk", batch_size=10, poll=False
    )
    assert report.counts == {ACCEPTED: 25}
    assert fake.requests["POST /sms_messages/send_bulk"] == 4  # 10 + 10 + 3, and 2
    assert fake.requests["POST /sms_messages"] == 0
    for result in report.results:
        recorded = fake.message(result.message_id)
        assert recorded.phone_number == result.phone_number
        assert recorded.message == result.message


async def test_dry_run_sends_nothing_and_estimates(fake, client):
    items = [
        *numbers(3),
        ("09171234567", "a" * 161),  # two GSM-7 segments
        ("09171234568", "Salamat po 🙏" * 6),  # 78 UCS-2 units: two segments
        "bad",
        numbers(1)[0],  # a duplicate of the first
    ]
    report = await client.broadcast(items, message="Hi", dry_run=True)
    assert report.estimate == BroadcastEstimate(
        recipients=7, valid=5, invalid=1, duplicates=1, segments=7
    )
    assert report.estimate.credits_needed == 7
    assert [r.status for r in report.results] == [DRY_RUN] * 5 + [INVALID, DUPLICATE]
    assert sum(fake.requests.values()) == 0


async def test_credit_check_refuses_to_start_when_short(fake, client):
    fake.credits = 3
    with pytest.raises(InsufficientCreditsError) as caught:
        await client.broadcast(numbers(4), message="Hi", check_credits=True)
    assert caught.value.needed == 4
    assert caught.value.available == 3
    assert "4" in str(caught.value)
    assert "3" in str(caught.value)
    assert fake.requests == {"GET /account/sms_credits": 1}
    assert isinstance(caught.value, IProgSMSError)


async def test_credit_check_lets_a_covered_broadcast_run(fake, client):
    fake.credits = 4

    def source():
        yield from numbers(4)

    report = await client.broadcast(
        source(), message="Hi", check_credits=True, poll=False
    )
    assert report.counts == {ACCEPTED: 4}
    assert report.estimate is not None
    assert report.estimate.segments == 4
    assert fake.credits == 0


async def test_progress_is_reported_and_ends_with_done(fake, client):
    snapshots = []
    await client.broadcast(
        numbers(50), message="Hi", poll=False, on_progress=snapshots.append
    )
    assert snapshots
    assert snapshots[-1].done
    assert snapshots[-1].counts == {ACCEPTED: 50}
    assert snapshots[-1].accepted == 50
    assert snapshots[-1].read == 50
    assert snapshots[-1].settled == 50
    assert all(not s.done for s in snapshots[:-1])


async def test_on_result_sees_every_result(fake, client):
    seen = []
    report = await client.broadcast(
        [*numbers(10), "bad"], message="Hi", poll=False, on_result=seen.append
    )
    assert sorted(seen, key=lambda r: r.index) == report.results


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("concurrency", 0),
        ("rate_limit", -1),
        ("batch_size", 0),
        ("poll_interval", 0),
        ("sms_provider", 7),
        ("non_final_statuses", "pending"),
    ],
)
async def test_bad_options_fail_before_anything_is_sent(fake, client, option, value):
    with pytest.raises(ValueError, match=option):
        await client.broadcast(numbers(2), message="Hi", **{option: value})
    assert sum(fake.requests.values()) == 0


async def test_the_stream_gives_the_same_results_as_they_settle(fake, client):
    seen = []
    async with client.broadcast_stream(
        numbers(30), message="Hi", poll=False
    ) as results:
        seen.extend([result async for result in results])
        assert results.progress().counts == {ACCEPTED: 30}
    assert sorted(r.index for r in seen) == list(range(30))


def test_broadcast_and_broadcast_stream_take_the_same_options():
    def options(method):
        return {
            name: (p.kind, p.default, p.annotation)
            for name, p in inspect.signature(method).parameters.items()
        }

    assert options(IProgSMS.broadcast) == options(IProgSMS.broadcast_stream)
    assert list(options(IProgSMS.broadcast)) == [
        "self",
        "recipients",
        "options",
        "changes",
    ]


def test_the_keywords_type_is_every_option_typed_as_options_takes_it():
    # BroadcastOptionChanges is what type checkers see of the keywords: it
    # must name every field, typed as BroadcastOptions' __init__ takes it.
    init = inspect.signature(BroadcastOptions.__init__).parameters
    fields = [f.name for f in attrs.fields(BroadcastOptions)]
    assert list(BroadcastOptionChanges.__annotations__) == fields
    for name in fields:
        keyword = BroadcastOptionChanges.__annotations__[name]
        assert getattr(keyword, "__forward_arg__", keyword) == init[name].annotation


async def test_every_option_is_reachable_by_keyword_and_by_object(fake, client):
    ticks = []
    by_keyword = await client.broadcast(
        numbers(3),
        message="Hi",
        poll=False,
        progress_interval=0.01,
        on_progress=ticks.append,
    )
    options = BroadcastOptions(message="Hi", poll=False, progress_interval=0.01)
    by_object = await client.broadcast(numbers(3), options=options)
    assert by_keyword.counts == by_object.counts == {ACCEPTED: 3}
    assert ticks
    assert ticks[-1].done


async def test_keywords_override_the_options_object(fake, client):
    base = BroadcastOptions(message="from the object", concurrency=2, poll=False)
    report = await client.broadcast(numbers(2), options=base, message="overridden")
    assert {r.message for r in report.results} == {"overridden"}
    assert fake.texts_to(numbers(1)[0]) == ["overridden"]
    assert base.message == "from the object"  # frozen: the object is unchanged
    async with client.broadcast_stream(numbers(1), options=base) as results:
        assert [r.message async for r in results] == ["from the object"]


@pytest.mark.parametrize("options", [{"concurrency": 2}, "fast", 5])
async def test_options_must_be_a_broadcast_options(fake, client, options):
    with pytest.raises(ConfigurationError, match="options must be a BroadcastOptions"):
        await client.broadcast(numbers(2), options=options)
    assert sum(fake.requests.values()) == 0


async def test_a_keyword_that_is_no_option_is_a_type_error(fake, client):
    with pytest.raises(TypeError, match="concurency"):
        await client.broadcast(numbers(2), message="Hi", concurency=2)
    assert sum(fake.requests.values()) == 0


def test_a_local_variable_cannot_become_an_option():
    # The options once came from broadcast()'s locals(): any local added above
    # that call would have become a field. They now come from the keywords.
    source = inspect.getsource(IProgSMS.broadcast_stream) + inspect.getsource(
        IProgSMS.broadcast
    )
    assert "locals()" not in source


def test_options_replace_checks_like_a_new_object():
    options = BroadcastOptions(concurrency=5)
    assert options.replace(poll=False) == BroadcastOptions(concurrency=5, poll=False)
    with pytest.raises(ConfigurationError, match="concurrency"):
        options.replace(concurrency=0)


async def test_without_its_own_rate_limit_a_broadcast_keeps_the_clients(fake):
    async with IProgSMS(
        fake.token, base_url=fake.base_url, transport=fake.transport(), rate_limit=5
    ) as limited:
        # What broadcast_stream hands the engine, for each option's rate_limit.
        sender = limited._broadcast_sender(BroadcastOptions().rate_limit)
        assert sender._requester._limiter is limited._settings.limiter
        own = limited._broadcast_sender(BroadcastOptions(rate_limit=50).rate_limit)
        assert own._requester._limiter.rate == 50


class _SharedLimit:
    """A limit shared with other processes (as RedisRateLimit is): it counts."""

    def __init__(self) -> None:
        self.acquired = 0
        self.paused: list[float] = []

    async def acquire(self) -> None:
        self.acquired += 1

    async def pause(self, seconds: float) -> None:
        self.paused.append(seconds)


async def test_a_broadcasts_own_rate_limit_keeps_a_shared_one_too(fake, no_backoff):
    shared = _SharedLimit()
    async with IProgSMS(
        fake.token,
        base_url=fake.base_url,
        transport=fake.transport(),
        rate_limit=shared,
    ) as client:
        report = await client.broadcast(
            numbers(6), message="Hi", rate_limit=1000.0, poll=False
        )
        fake.fail_next("rate_limit", endpoints="sends")
        await client.broadcast(numbers(1, start=100), message="Hi", rate_limit=1000.0)
    assert report.counts == {"accepted": 6}
    # Every request of both broadcasts went through the account's limit, and
    # the 429 reached it (for the other processes).
    assert (
        shared.acquired
        == fake.requests["POST /sms_messages"]
        + fake.requests["GET /sms_messages/status"]
    )
    assert len(shared.paused) == 1


async def test_progress_keeps_coming_while_texts_are_being_polled(no_backoff):
    slow = FakeGateway(credits=100, seed=1, delivery_delay=0.6)
    snapshots = []
    async with slow.client() as client:
        await client.broadcast(
            numbers(2), message="Hi", poll_interval=0.5, on_progress=snapshots.append
        )
    # Nothing settles for about half a second, yet progress was reported.
    assert len([s for s in snapshots if not s.done and not s.settled]) >= 1
