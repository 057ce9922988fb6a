"""Checks before a broadcast sends: the estimate (dry run) and the credit check."""

from __future__ import annotations

from collections.abc import AsyncIterable
from functools import lru_cache
from typing import TYPE_CHECKING

from .._segments import count_segments
from ._errors import InterruptedSendError
from ._journal_store import STATE_ACCEPTED, STATE_FINAL, STATE_SENDING, text_digest
from ._recipients import DuplicateTracker, Recipient, read_recipients
from ._report import (
    DRY_RUN,
    DUPLICATE,
    INVALID,
    UNKNOWN,
    BroadcastEstimate,
    BroadcastResult,
    gateway_status,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._journal_store import JournalEntry, JournalStore
    from ._options import BroadcastOptions
    from ._recipients import RecipientInput, Recipients

__all__ = ["estimate", "materialize", "resumed_result"]


@lru_cache(maxsize=4096)
def _segments(text: str) -> int:
    return count_segments(text).segments


async def materialize(recipients: Recipients) -> list[RecipientInput]:
    """Read the whole input into a list, for checks that must see it all first."""
    if isinstance(recipients, AsyncIterable):
        return [item async for item in recipients]
    return list(recipients)


async def estimate(
    recipients: Recipients,
    config: BroadcastOptions,
    journal: JournalStore | None,
    on_result: Callable[[BroadcastResult], Awaitable[None]] | None = None,
) -> BroadcastEstimate:
    """Check every recipient and count the segments that would be sent.

    Sends nothing. With ``on_result``, also reports each recipient as it would
    fare: ``invalid``, ``duplicate``, ``dry_run`` (would be sent), or what a
    journal recorded for it.
    """
    read = valid = invalid = duplicates = segments = already = 0
    seen = DuplicateTracker(config.message)
    async for recipient in read_recipients(recipients, config.message):
        read += 1
        result: BroadcastResult | None = None
        message = recipient.message
        if recipient.problem is not None or message is None:
            invalid += 1
            result = recipient.result(INVALID, error=recipient.problem)
        elif config.deduplicate and seen.seen_before(recipient.phone_number, message):
            duplicates += 1
            result = recipient.result(DUPLICATE)
        else:
            entry = (
                journal.lookup(recipient.phone_number, text_digest(message))
                if journal is not None
                else None
            )
            if entry is not None:
                already += 1
                result = resumed_result(recipient, entry)
            else:
                valid += 1
                segments += _segments(message)
                result = recipient.result(DRY_RUN)
        if on_result is not None:
            await on_result(result)
    return BroadcastEstimate(
        recipients=read,
        valid=valid,
        invalid=invalid,
        duplicates=duplicates,
        segments=segments,
        already_sent=already,
    )


def resumed_result(recipient: Recipient, entry: JournalEntry) -> BroadcastResult:
    """The result of a recipient an earlier run sent (or may have), without polling."""
    if entry.state in (STATE_ACCEPTED, STATE_FINAL) and entry.message_id is not None:
        return recipient.result(
            gateway_status(entry.status), message_id=entry.message_id
        )
    if entry.state == STATE_SENDING:
        why = "stopped while this text was being sent"
    else:
        why = f"got no clear answer for this text ({entry.error or 'no detail'})"
    return recipient.result(
        UNKNOWN,
        message_id=entry.message_id,
        error=InterruptedSendError(
            f"an earlier run of this broadcast {why}; it may have gone out, "
            "so it is not sent again"
        ),
    )
