"""The command line's exit codes: one meaning each, documented in docs/cli.md."""

from __future__ import annotations

import enum

__all__ = ["ExitCode"]


class ExitCode(enum.IntEnum):
    """How an ``iprogsms`` command ended."""

    OK = 0
    """Done: every recipient sent (and delivered, where polled)."""
    INTERNAL = 1
    """A bug in iprogsms itself: please report it."""
    BAD_INPUT = 2
    """Bad arguments or input: an invalid number, an unreadable file, no token."""
    API = 3
    """The gateway or the network failed the command (or refused it)."""
    PARTIAL = 4
    """A broadcast finished, but some recipients were not sent or delivered."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C or SIGTERM (after finishing the sends already on the wire)."""
