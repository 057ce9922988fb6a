"""The errors only a broadcast raises, and the credit errors it builds.

`JournalError` and `InterruptedSendError` belong to the broadcast alone; both
are kinds of `IProgSMSError`, re-exported at the top level. `InsufficientCreditsError`
is the core's (a 402 from the gateway); what is the broadcast's is how it
words one: the credit check's before anything is sent (`short_of_credits`),
and the one that ends a run that ran out part way (`ran_out_of_credits`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .._errors import InsufficientCreditsError, IProgSMSError
from ._report import NOT_SENT

if TYPE_CHECKING:
    from .._models import Credits

__all__ = [
    "InterruptedSendError",
    "JournalError",
    "ran_out_of_credits",
    "short_of_credits",
]


class JournalError(IProgSMSError):
    """A broadcast's journal cannot be opened or written; nothing more is sent."""

    ends_broadcast: ClassVar[bool] = True


class InterruptedSendError(IProgSMSError):
    """An earlier run of this broadcast could not tell whether this text went out.

    It stopped (a crash, a kill) while the send was on the wire, or the
    gateway's answer was lost (a timeout, a 5xx, a dropped connection). The
    text may have been delivered (``maybe_sent`` is True), so a journaled rerun
    does not send it again.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_sent=True)


def short_of_credits(
    needed: int, valid: int, segments: int, account: Credits, url: str
) -> InsufficientCreditsError:
    """The credit check's refusal: the account cannot pay for the broadcast."""
    balance = account.load_balance
    return InsufficientCreditsError(
        f"the broadcast needs {needed} credits "
        f"({valid} texts, {segments} segments) "
        f"but the account has {balance:g}; nothing was sent",
        status_code=200,
        body=account.raw,
        method="GET",
        url=url,
        needed=needed,
        available=balance,
    )


def ran_out_of_credits(
    first: InsufficientCreditsError, unsent: int, *, journaled: bool
) -> InsufficientCreditsError:
    """The error that ends a run which ran out of credits, saying what is left.

    ``first`` is the gateway's refusal, kept as the cause.
    """
    if journaled:
        then = "run the broadcast again with the same journal to send only them"
    else:
        then = f"send them again: they are the results with status {NOT_SENT!r}"
    error = InsufficientCreditsError(
        f"the account ran out of credits: {unsent} "
        f"{'recipient was' if unsent == 1 else 'recipients were'} not sent "
        f"(status {NOT_SENT!r}); top up, then {then}. "
        f"The gateway said: {first.message}",
        status_code=first.status_code,
        body=first.body,
        method=first.method,
        url=first.url,
        needed=first.needed,
        available=first.available,
        unsent=unsent,
    )
    error.__cause__ = first
    return error
