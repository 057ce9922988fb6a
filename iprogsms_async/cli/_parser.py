"""The ``iprogsms`` command's arguments: one subcommand for every operation.

Imports nothing but argparse and the package's own checks, so ``iprogsms
--help`` and a mistyped option answer at once. Every mistake in the arguments
is one line on stderr and exit code 2. A flag's number is checked here, to
name the flag, by the same `Check` the library applies to the option it sets,
so the two cannot disagree on a limit.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn, TypeVar

from .._validation import (
    LEASE,
    NON_NEGATIVE_INT,
    OTP_PLACEHOLDER,
    PORT,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    POSITIVE_SECONDS,
    SECONDS,
    SHARE,
    SMS_PROVIDERS,
    TOKEN_VARIABLE,
    Check,
)
from .._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

T = TypeVar("T", int, float)

__all__ = ["build_parser", "parse_args"]

DESCRIPTION = """\
Send SMS through the iProgSMS gateway.

The API token comes from the IPROGSMS_API_TOKEN environment variable or
--token-file, never from a command-line argument (it would end up in your
shell history and in `ps`). --sandbox runs any command against an embedded
fake gateway: no network, no credits, no real texts. The connection and
output options go before or after the command: `iprogsms --sandbox credits`
is `iprogsms credits --sandbox`.
"""

EPILOG = """\
exit codes: 0 done; 2 bad arguments or input; 3 the gateway or network
failed; 4 a broadcast finished with some recipients not sent or delivered;
130 interrupted (Ctrl-C or SIGTERM), after finishing the sends already on
the wire.
"""

DEFAULT_TIMEOUT = 30.0
DEFAULT_PORT = 8080

_CONNECTION = "connection"
_OUTPUT = "output"
_GLOBAL_DEFAULTS: dict[str, tuple[str, object]] = {
    # dest: (which group, the default when the command takes it and it is not given)
    "token_file": (_CONNECTION, None),
    "base_url": (_CONNECTION, None),
    "sandbox": (_CONNECTION, False),
    "timeout": (_CONNECTION, DEFAULT_TIMEOUT),
    "json": (_OUTPUT, False),
}
_GROUPS_DEST = "_global_groups"


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: what was wrong, where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written, and shows every option's default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = "%(default)" in text or "(default" in text
        if (
            not shown
            and action.option_strings
            and action.default not in (None, False, argparse.SUPPRESS)
            and not isinstance(action, argparse._HelpAction | argparse._VersionAction)  # noqa: SLF001 -- argparse has no public name for them
        ):
            text = f"{text} (default: %(default)s)"
        return text


# --- argument types: each error message says what is accepted --------------


def _typed(check: Check[T], parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type: ``parse`` the text, then apply the library's ``check``."""

    def convert(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not check.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {check.accepted}, not {text!r}")
        return value

    convert.__name__ = check.accepted  # what argparse would call the type
    return convert


_count = _typed(POSITIVE_INT, int)
_positive_seconds = _typed(POSITIVE_SECONDS, float)
_seconds = _typed(SECONDS, float)
_per_second = _typed(POSITIVE_NUMBER, float)
_share = _typed(SHARE, float)


# --- the options every operation takes ---------------------------------------


def _global_options(parser: argparse.ArgumentParser, groups: Sequence[str]) -> None:
    """Add the connection and output options; unset unless given.

    They are on the main parser and on each command that uses them, so they
    work before the command or after it; `parse_args` fills in the defaults.
    """
    if _CONNECTION in groups:
        group = parser.add_argument_group("connection options (before or after it)")
        group.add_argument(
            "--token-file",
            metavar="PATH",
            default=argparse.SUPPRESS,
            help="read the API token from the first line of this file "
            f"(default: the {TOKEN_VARIABLE} environment variable)",
        )
        group.add_argument(
            "--base-url",
            metavar="URL",
            default=argparse.SUPPRESS,
            help="the API root (default: IPROGSMS_BASE_URL or "
            "https://www.iprogsms.com/api/v1)",
        )
        group.add_argument(
            "--sandbox",
            action="store_true",
            default=argparse.SUPPRESS,
            help="run against an embedded fake gateway that starts empty for each "
            "command: nothing is really sent (default: off)",
        )
        group.add_argument(
            "--timeout",
            type=_positive_seconds,
            default=argparse.SUPPRESS,
            metavar="SECONDS",
            help=f"timeout of each request (default: {DEFAULT_TIMEOUT:g})",
        )
    if _OUTPUT in groups:
        group = parser.add_argument_group("output options (before or after it)")
        group.add_argument(
            "--json",
            action="store_true",
            default=argparse.SUPPRESS,
            help="print machine-readable JSON (default: tables)",
        )


def _provider(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        type=int,
        choices=SMS_PROVIDERS,
        dest="sms_provider",
        help="the gateway's SMS provider (default: the gateway's, 0)",
    )


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 -- the whole CLI
    """The whole command line, with help for every subcommand."""
    parser = _Parser(
        prog="iprogsms",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Formatter,
        # No prefixes: "--token SECRET" must not pass as "--token-file SECRET".
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    _global_options(parser, (_CONNECTION, _OUTPUT))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        help_text: str,
        parent: argparse._SubParsersAction[_Parser] = commands,
        *,
        uses: Sequence[str] = (_CONNECTION, _OUTPUT),
        description: str | None = None,
        spelled: str | None = None,
    ) -> argparse.ArgumentParser:
        sub = parent.add_parser(
            name,
            help=help_text,
            description=description or help_text,
            formatter_class=_Formatter,
            allow_abbrev=False,
        )
        if spelled is not None:  # the words it is typed as, in its messages
            sub.prog = f"iprogsms {spelled}"
        _global_options(sub, uses)
        sub.set_defaults(**{_GROUPS_DEST: frozenset(uses)})
        return sub

    def group(name: str, help_text: str) -> argparse._SubParsersAction[_Parser]:
        holder = commands.add_parser(
            name, help=help_text, formatter_class=_Formatter, allow_abbrev=False
        )
        return holder.add_subparsers(dest="action", required=True, metavar="ACTION")

    send = command("send", "text one number")
    send.add_argument("phone_number", help="any Philippine mobile notation")
    send.add_argument("-m", "--message", required=True, help="the text")
    _provider(send)

    bulk = command("send-bulk", "text one message to many numbers in one request")
    bulk.add_argument(
        "phone_numbers", nargs="+", metavar="phone_number", help="the numbers"
    )
    bulk.add_argument("-m", "--message", required=True, help="the text")
    _provider(bulk)

    status = command("status", "read a message's delivery status")
    status.add_argument("message_id", help="the id a send printed (iSms-...)")

    command("credits", "show the account's remaining credits")

    actions = group("reminders", "scheduled messages")
    at_help = (
        'when, in Manila time: "2025-03-08 05:00AM" or ISO 8601 '
        "(2025-03-08T05:00, with an offset if not Manila)"
    )
    create = command("create", "schedule a message", actions)
    create.add_argument("phone_number", help="any Philippine mobile notation")
    create.add_argument("-m", "--message", required=True, help="the text")
    create.add_argument("--at", required=True, dest="scheduled_at", help=at_help)
    get = command("get", "show a reminder", actions)
    get.add_argument("reminder_id", type=int, help="the id create printed")
    update = command("update", "change a reminder", actions)
    update.add_argument("reminder_id", type=int, help="the id create printed")
    update.add_argument("--phone-number", help="the new number (default: unchanged)")
    update.add_argument("-m", "--message", help="the new text (default: unchanged)")
    update.add_argument(
        "--at",
        dest="scheduled_at",
        help=f"the new time, {at_help} (default: unchanged)",
    )
    delete = command("delete", "cancel a reminder", actions)
    delete.add_argument("reminder_id", type=int, help="the id create printed")

    detect = command("detect", "show which network a number is on")
    detect.add_argument("phone_number", help="any Philippine mobile notation")

    otp_actions = group("otp", "one-time passwords")
    otp_send = command("send", "text a one-time password", otp_actions)
    otp_send.add_argument("phone_number", help="any Philippine mobile notation")
    otp_send.add_argument(
        "-m",
        "--message",
        help=f"a custom text with {OTP_PLACEHOLDER} where the code goes "
        "(default: the gateway's)",
    )
    otp_send.add_argument(
        "--expires-in",
        type=_count,
        dest="expires_in_minutes",
        metavar="MINUTES",
        help="how long the code stays valid (default: the gateway's)",
    )
    _provider(otp_send)
    verify = command("verify", "check a one-time password", otp_actions)
    verify.add_argument("phone_number", help="the number the code was sent to")
    verify.add_argument("code", help="the code to check")

    _broadcast(
        command(
            "broadcast",
            "text everyone in a CSV file, with progress and resume",
            description=BROADCAST_DESCRIPTION,
        )
    )
    # "broadcast work" and "broadcast status" are these two: `parse_args`
    # reads the words after "broadcast" as them (see _spelled_as_words).
    _work(
        command(
            "broadcast-work",
            "join a shared broadcast as one more worker (or: broadcast work)",
            description=WORK_DESCRIPTION,
            spelled="broadcast work",
        )
    )
    progress = command(
        "broadcast-status",
        "count a broadcast's recipients by state, from its journal "
        "(or: broadcast status)",
        uses=(_OUTPUT,),
        description="Count a broadcast's recipients by state in one query of its "
        "journal, in the progress bar's words, while it runs or after. Reads only: "
        "a PostgreSQL journal can be read while workers run; a SQLite journal is "
        "held by the broadcast running on it and is read once that ends.",
        spelled="broadcast status",
    )
    progress.add_argument(
        "--journal",
        required=True,
        metavar="PATH_OR_URL",
        help="the journal's file, or a postgresql:// URL",
    )
    progress.add_argument(
        "--name",
        metavar="NAME",
        help="the broadcast's name: required for a postgresql:// journal "
        "(default for a file journal: not checked)",
    )

    sandbox_actions = group("sandbox", "the embedded fake gateway")
    serve = command(
        "serve",
        "serve the fake gateway over HTTP on 127.0.0.1",
        sandbox_actions,
        uses=(),
        description="Serve the fake gateway over HTTP on 127.0.0.1 until Ctrl-C, "
        "for curl, a sequence of iprogsms commands, or another program. Its state "
        "(texts, reminders, credits) lasts until it stops. Needs the 'fake' extra "
        "(uvicorn).",
    )
    serve.add_argument(
        "--port",
        type=_typed(PORT, int),
        default=DEFAULT_PORT,
        help="the TCP port; 0 picks a free one",
    )
    serve.add_argument("--host", default="127.0.0.1", help="a loopback address")
    serve.add_argument("--token", default="test-token", help="the token it accepts")
    serve.add_argument(
        "--credits",
        type=_typed(NON_NEGATIVE_INT, int),
        default=1_000_000,
        help="the starting balance",
    )
    serve.add_argument(
        "--delivery-delay",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="how long a text stays pending before it is delivered",
    )
    serve.add_argument(
        "--failure-rate",
        type=_share,
        default=0.02,
        metavar="SHARE",
        help="the share of texts (0 to 1) that end failed instead of delivered",
    )

    demo = command(
        "demo",
        "a broadcast of generated recipients against the sandbox",
        uses=(_OUTPUT,),
    )
    demo.add_argument(
        "--recipients",
        type=_count,
        default=2000,
        metavar="N",
        help="how many generated numbers to text",
    )
    demo.add_argument(
        "--concurrency",
        type=_count,
        default=50,
        metavar="N",
        help="requests in flight at most",
    )
    return parser


BROADCAST_DESCRIPTION = """\
Text everyone in a CSV file, with a progress bar, a journal to resume from,
and a summary.

With --shared (and a postgresql:// --journal), this process is one worker of a
broadcast that others, on any machines, work on too: it loads the file's
recipients into the journal (once, whichever worker comes first), then claims
and sends its share. Other workers join with `iprogsms broadcast work`.

`iprogsms broadcast work ...` and `iprogsms broadcast status ...` are commands
of their own (see their --help): to broadcast a file named `work` or
`status`, write it as `./work`.
"""

WORK_DESCRIPTION = """\
Join a shared broadcast as one more worker: claim batches of its recipients
from its PostgreSQL journal, send and poll them alongside the other workers,
take up what a worker that died left, and stop once nothing is left for
anyone. The recipients come from the journal, loaded by a worker given the
file (`iprogsms broadcast FILE --shared ...`); until then this one waits (up
to --plan-timeout). The progress bar and summary count this worker's own
recipients; `iprogsms broadcast status` counts the whole broadcast.
"""


def _broadcast(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "recipients",
        metavar="RECIPIENTS",
        help="a CSV with a phone_number column and an optional message column, "
        "or one number a line",
    )
    parser.add_argument(
        "-m",
        "--message",
        help="the text for rows without a message (default: rows must have one)",
    )
    _sending(parser)
    parser.add_argument(
        "--journal",
        metavar="PATH",
        help="record every send here to resume without a second text "
        "(default: RECIPIENTS.journal.sqlite beside the file; none with --sandbox), "
        "or a postgresql:// URL",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="the broadcast's name in its journal (default for a postgresql:// "
        "journal: the RECIPIENTS file's name; none for a file journal)",
    )
    parser.add_argument(
        "--no-journal",
        action="store_true",
        help="keep no journal (a rerun may text people again)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file and estimate segments and credits; send nothing",
    )
    parser.add_argument(
        "--check-credits",
        action="store_true",
        help="refuse to start if the account's credits do not cover the estimate",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="be one worker of a broadcast others work on too (needs a "
        "postgresql:// --journal): load the file into it once, then send a share",
    )
    _worker(parser)


def _work(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        required=True,
        metavar="URL",
        help="the broadcast's postgresql:// journal",
    )
    parser.add_argument(
        "--name", required=True, metavar="NAME", help="the broadcast's name in it"
    )
    _sending(parser)
    _worker(parser)
    parser.add_argument(
        "--plan-timeout",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for a worker with the file to load it",
    )


def _worker(parser: argparse.ArgumentParser) -> None:
    """The options of a worker of a shared broadcast."""
    parser.add_argument(
        "--worker-id",
        metavar="ID",
        help="this worker's id in the journal (default: hostname:pid; a suffix "
        "of the process's own is added)",
    )
    parser.add_argument(
        "--lease",
        type=_typed(LEASE, float),
        default=30.0,
        metavar="SECONDS",
        help="how long a worker's claims hold unless renewed: a worker that "
        "dies is taken over this long after",
    )
    parser.add_argument(
        "--claim-size",
        type=_count,
        metavar="N",
        help="recipients claimed at a time (default: twice --concurrency)",
    )


def _sending(parser: argparse.ArgumentParser) -> None:
    """The options of how a broadcast sends, polls and reports."""
    parser.add_argument(
        "--concurrency",
        type=_count,
        default=50,
        metavar="N",
        help="requests in flight at most",
    )
    parser.add_argument(
        "--rate-limit",
        type=_per_second,
        metavar="PER_SECOND",
        help="requests a second at most (default: no limit)",
    )
    parser.add_argument(
        "--batch-size",
        type=_count,
        metavar="N",
        help="send recipients sharing a text in bulk requests of N "
        "(default: one request a recipient)",
    )
    _provider(parser)
    parser.add_argument(
        "--no-poll",
        action="store_false",
        dest="poll",
        help="do not wait for delivery statuses (default: poll until final)",
    )
    parser.add_argument(
        "--poll-timeout",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="stop polling a text after this long",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="write one CSV row per recipient to this file (default: none)",
    )


_BROADCAST_WORDS = ("work", "status")
"""Words after ``broadcast`` that name a command, not a recipients file."""
_TAKES_A_VALUE = frozenset({"--token-file", "--base-url", "--timeout"})
"""The main parser's options that take the next argument as their value."""


def _spelled_as_words(argv: list[str]) -> list[str]:
    """``broadcast work ...`` as ``broadcast-work ...`` (and ``status`` alike).

    Only the bare word right after the command: a file named ``work`` is
    reached as ``./work`` (or any other path to it).
    """
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            break
        if word.startswith("-"):
            index += 2 if word in _TAKES_A_VALUE else 1
            continue
        following = argv[index + 1] if index + 1 < len(argv) else None
        if word == "broadcast" and following in _BROADCAST_WORDS:
            return [*argv[:index], f"broadcast-{following}", *argv[index + 2 :]]
        break
    return argv


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: the process's); exit 2 with one line on a mistake.

    A connection or output option given before the command must be one the
    command takes (``iprogsms --sandbox demo`` is refused, as
    ``iprogsms demo --sandbox`` is); the ones it takes and was not given get
    their defaults.
    """
    parser = build_parser()
    given = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(_spelled_as_words(given))
    takes: frozenset[str] = vars(args).pop(_GROUPS_DEST, frozenset())
    command = args.command
    if command.startswith("broadcast-"):  # typed as words, or hyphenated
        command = command.replace("-", " ", 1)
    name = " ".join(
        part for part in (parser.prog, command, getattr(args, "action", None)) if part
    )
    for dest, (group, default) in _GLOBAL_DEFAULTS.items():
        if group not in takes:
            if dest in vars(args):
                option = "--" + dest.replace("_", "-")
                parser.error(f"'{name}' does not take {option}")
        elif dest not in vars(args):
            setattr(args, dest, default)
    return args
