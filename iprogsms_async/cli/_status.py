"""``iprogsms broadcast-status``: a broadcast's progress, read from its journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..broadcast._journal_store import (
    STATE_ACCEPTED,
    STATE_FINAL,
    STATE_IN_DOUBT,
    STATE_NOT_SENT,
    STATE_SENDING,
)
from ..broadcast._postgres import STATE_CLAIMED, STATE_PLANNED
from ..broadcast._stores import journal_status
from ._exit import ExitCode
from ._render import emit

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from ..broadcast._journal_store import JournalCounts

__all__ = ["status_command", "status_document"]


async def status_command(args: argparse.Namespace, *, console: Console) -> ExitCode:
    """Print the counts of the broadcast in ``--journal`` (``--name`` on PostgreSQL)."""
    counts = await journal_status(args.journal, name=args.name)
    title = f"broadcast {args.name}" if args.name else "broadcast"
    emit(console, status_document(counts), as_json=args.json, title=title)
    return ExitCode.OK


def status_document(counts: JournalCounts) -> dict[str, object]:
    """The counts in the progress bar's words, then every state and final status.

    ``accepted`` counts every text the gateway took (settled or still
    polled), as the bar does; ``delivered``, ``failed`` and the gateway's
    other final words count settled texts; ``unknown`` the sends in doubt;
    ``sending`` those with a committed intent and no outcome yet (on the wire
    while a broadcast runs, in doubt once none does); ``waiting`` recipients
    loaded but not yet started by a worker (PostgreSQL).
    """
    states = counts.states
    document: dict[str, object] = {
        "recipients": counts.total,
        "accepted": counts.accepted,
        "delivered": counts.final.get("delivered", 0),
        "failed": counts.final.get("failed", 0),
    }
    for status, count in sorted(counts.final.items()):
        document.setdefault(status, count)
    document |= {
        "unknown": states.get(STATE_IN_DOUBT, 0),
        "sending": states.get(STATE_SENDING, 0),
        "not sent": states.get(STATE_NOT_SENT, 0),
        "waiting": states.get(STATE_PLANNED, 0) + states.get(STATE_CLAIMED, 0),
        "still polled": states.get(STATE_ACCEPTED, 0),
        "settled": states.get(STATE_FINAL, 0),
    }
    return document
