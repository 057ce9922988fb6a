"""An async SMS bot: answers incoming commands by texting back, never twice.

Incoming messages arrive on a stream (in production: a webhook, a queue, a
GSM modem). Each one gets at most one reply, and the bot says what became of
it:

- ``sent``: the gateway accepted the reply.
- ``unknown``: the reply may have gone out although the call failed
  (``maybe_sent``): it is NOT sent again; a person should look.
- ``rejected``: the gateway refused it (a bad number, no credits).
- ``given_up``: it certainly was not sent, and retrying later did not help.

The client already retries blips that cannot have texted anyone (a refused
connection, a 429). The bot adds a slower retry on top for the same safe
cases, for outages that last longer than the client's retries.

Run it with ``python examples/bot.py`` (against the sandbox: no token needed).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import attrs

from iprogsms_async import APIError, IProgSMS, IProgSMSError, RateLimitError

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream

logger = logging.getLogger("sms-bot")

REPLIES = {
    "BALANCE": "Your balance is PHP 1,250.00 as of today.",
    "DUE": "Your next bill of PHP 899.00 is due on the 8th.",
    "HELP": "Text BALANCE, DUE or STOP.",
    "STOP": "You will no longer receive reminders. Text START to resume.",
}


@attrs.frozen
class Incoming:
    """A text someone sent the bot."""

    phone_number: str
    text: str


@attrs.frozen
class Outcome:
    """What became of the reply to one incoming text."""

    incoming: Incoming
    status: str  # "sent", "unknown", "rejected" or "given_up"
    message_id: str | None = None
    error: str | None = None


def reply_to(text: str) -> str:
    """The bot's answer to a command (case and spaces do not matter)."""
    return REPLIES.get(text.strip().upper(), REPLIES["HELP"])


class Bot:
    """Answers each incoming text once, with up to ``concurrency`` at a time."""

    def __init__(
        self,
        client: IProgSMS,
        *,
        concurrency: int = 10,
        retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0),
    ) -> None:
        self.client = client
        self.limit = anyio.CapacityLimiter(concurrency)
        self.retry_delays = retry_delays
        self.outcomes: list[Outcome] = []

    async def run(self, inbox: ObjectReceiveStream[Incoming]) -> None:
        """Answer everything that arrives until the inbox is closed."""
        async with anyio.create_task_group() as tasks, inbox:
            async for incoming in inbox:
                tasks.start_soon(self.answer, incoming)

    async def answer(self, incoming: Incoming) -> Outcome:
        """Text the reply, retrying later only while it certainly was not sent."""
        text = reply_to(incoming.text)
        async with self.limit:
            for delay in (*self.retry_delays, None):
                outcome = await self._attempt(incoming, text, last=delay is None)
                if outcome is not None:
                    self.outcomes.append(outcome)
                    return outcome
                logger.info("reply to %s not sent; again in %s s", incoming, delay)
                await anyio.sleep(delay or 0)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, incoming: Incoming, text: str, *, last: bool
    ) -> Outcome | None:
        """One try: its outcome, or None to try again later (it was not sent)."""
        try:
            sent = await self.client.sms.send(incoming.phone_number, text)
        except IProgSMSError as error:
            if error.maybe_sent:
                # Sending again could text them twice: leave it to a person.
                logger.warning("reply to %s may have gone out: %s", incoming, error)
                return Outcome(incoming, "unknown", error=str(error))
            if isinstance(error, APIError) and not isinstance(error, RateLimitError):
                return Outcome(incoming, "rejected", error=str(error))
            return Outcome(incoming, "given_up", error=str(error)) if last else None
        return Outcome(incoming, "sent", message_id=sent.message_id)


async def main() -> None:
    """Feed the bot a few commands, against the embedded fake gateway."""
    from iprogsms_async.testing import FakeGateway  # noqa: PLC0415 -- demo only

    fake = FakeGateway()
    fake.fail_next(
        "server_error_after_accept", endpoints="sends"
    )  # one ambiguous reply
    send, inbox = anyio.create_memory_object_stream[Incoming](100)
    async with fake.client() as client:
        bot = Bot(client)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(bot.run, inbox)
            async with send:
                for number, command in [
                    ("09171234567", "balance"),
                    ("09181234567", "DUE"),
                    ("09191234567", "what?"),
                ]:
                    await send.send(Incoming(number, command))
    for outcome in bot.outcomes:
        incoming = outcome.incoming
        print(f"{incoming.phone_number} {incoming.text!r}: {outcome.status}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    anyio.run(main)
