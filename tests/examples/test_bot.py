"""The bot example: one reply per command, never twice, whatever the gateway does."""

import anyio
import pytest

from examples.bot import Bot, Incoming, reply_to
from iprogsms_async.testing import FakeGateway, Faults

pytestmark = pytest.mark.anyio


async def run_bot(fake, commands, **options):
    send, inbox = anyio.create_memory_object_stream[Incoming](len(commands))
    async with fake.client() as client:
        bot = Bot(client, **options)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(bot.run, inbox)
            async with send:
                for number, text in commands:
                    await send.send(Incoming(number, text))
    return {o.incoming.phone_number: o for o in bot.outcomes}


async def test_each_command_gets_its_reply(no_backoff):
    fake = FakeGateway()
    outcomes = await run_bot(
        fake, [("09171111111", " balance "), ("09172222222", "nonsense")]
    )
    assert {n: o.status for n, o in outcomes.items()} == {
        "09171111111": "sent",
        "09172222222": "sent",
    }
    assert fake.texts_to("09171111111") == [reply_to("BALANCE")]
    assert fake.texts_to("09172222222") == [reply_to("HELP")]


async def test_a_reply_that_may_have_gone_out_is_not_sent_again(no_backoff):
    fake = FakeGateway()
    fake.fail_next("server_error_after_accept", endpoints="sends")
    outcomes = await run_bot(fake, [("09171111111", "DUE")], retry_delays=(0.01,))
    assert outcomes["09171111111"].status == "unknown"
    assert fake.texts_to("09171111111") == [reply_to("DUE")]  # once, not twice
    assert fake.requests["POST /sms_messages"] == 1


async def test_an_outage_longer_than_the_clients_retries_is_waited_out(no_backoff):
    fake = FakeGateway(faults=Faults(retry_after=0.0))
    fake.fail_next(
        "rate_limit", 4, endpoints="sends"
    )  # the client's 3 attempts, and one more
    outcomes = await run_bot(fake, [("09171111111", "HELP")], retry_delays=(0.01, 0.01))
    assert outcomes["09171111111"].status == "sent"
    assert fake.requests["POST /sms_messages"] == 5
    assert len(fake.texts_to("09171111111")) == 1


async def test_it_gives_up_when_the_outage_outlasts_it(no_backoff):
    fake = FakeGateway(faults=Faults(retry_after=0.0))
    fake.fail_next("rate_limit", 100, endpoints="sends")
    outcomes = await run_bot(fake, [("09171111111", "HELP")], retry_delays=(0.01,))
    assert outcomes["09171111111"].status == "given_up"
    assert fake.texts_to("09171111111") == []


async def test_a_refused_reply_is_rejected(no_backoff):
    fake = FakeGateway(credits=0)
    outcomes = await run_bot(fake, [("09171111111", "HELP")])
    assert outcomes["09171111111"].status == "rejected"
