"""The ``iprogsms`` command's arguments: one subcommand for every operation."""

from __future__ import annotations

import argparse

from .._version import __version__

__all__ = ["build_parser"]

DESCRIPTION = """\
Send SMS through the iProgSMS gateway.

The API token comes from the IPROGSMS_API_TOKEN environment variable or
--token-file, never from a command-line argument (it would end up in your
shell history and in `ps`). --sandbox runs any command against an embedded
fake gateway: no network, no credits, no real texts.
"""

EPILOG = """\
exit codes: 0 done; 2 bad arguments or input; 3 the gateway or network
failed; 4 a broadcast finished with some recipients not sent or delivered;
130 interrupted (Ctrl-C), after finishing the sends already on the wire.
"""


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes, before or after its own arguments."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    group = common.add_argument_group("connection and output")
    group.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the API token from the first line of this file "
        "(default: the IPROGSMS_API_TOKEN environment variable)",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help="the API root (default: IPROGSMS_BASE_URL or "
        "https://www.iprogsms.com/api/v1)",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="run against an embedded fake gateway: nothing is really sent",
    )
    group.add_argument(
        "--json", action="store_true", help="print machine-readable JSON"
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="timeout of each request (default: 30)",
    )
    return common


def _provider(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        type=int,
        choices=(0, 1, 2),
        dest="sms_provider",
        help="the gateway's SMS provider (default: the gateway's, 0)",
    )


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 -- the whole CLI
    """The whole command line, with help for every subcommand."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="iprogsms",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # No prefixes: "--token SECRET" must not pass as "--token-file SECRET".
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        help_text: str,
        parent: argparse._SubParsersAction[argparse.ArgumentParser] = commands,
    ) -> argparse.ArgumentParser:
        return parent.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            allow_abbrev=False,
        )

    send = command("send", "text one number")
    send.add_argument("phone_number", help="any Philippine mobile notation")
    send.add_argument("-m", "--message", required=True, help="the text")
    _provider(send)

    bulk = command("send-bulk", "text one message to many numbers in one request")
    bulk.add_argument("phone_numbers", nargs="+", metavar="phone_number")
    bulk.add_argument("-m", "--message", required=True, help="the text")
    _provider(bulk)

    status = command("status", "read a message's delivery status")
    status.add_argument("message_id")

    command("credits", "show the account's remaining credits")

    reminders = commands.add_parser(
        "reminders", help="scheduled messages", allow_abbrev=False
    )
    actions = reminders.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = command("create", "schedule a message", actions)
    create.add_argument("phone_number")
    create.add_argument("-m", "--message", required=True)
    create.add_argument(
        "--at",
        required=True,
        dest="scheduled_at",
        help='when, in Manila time: "2025-03-08 05:00AM" or ISO 8601 '
        "(2025-03-08T05:00, with an offset if not Manila)",
    )
    get = command("get", "show a reminder", actions)
    get.add_argument("reminder_id", type=int)
    update = command("update", "change a reminder", actions)
    update.add_argument("reminder_id", type=int)
    update.add_argument("--phone-number")
    update.add_argument("-m", "--message")
    update.add_argument("--at", dest="scheduled_at")
    delete = command("delete", "cancel a reminder", actions)
    delete.add_argument("reminder_id", type=int)

    detect = command("detect", "show which network a number is on")
    detect.add_argument("phone_number")

    otp = commands.add_parser("otp", help="one-time passwords", allow_abbrev=False)
    otp_actions = otp.add_subparsers(dest="action", required=True, metavar="ACTION")
    otp_send = command("send", "text a one-time password", otp_actions)
    otp_send.add_argument("phone_number")
    otp_send.add_argument(
        "-m", "--message", help="a custom text with :otp where the code goes"
    )
    otp_send.add_argument(
        "--expires-in", type=int, dest="expires_in_minutes", metavar="MINUTES"
    )
    _provider(otp_send)
    verify = command("verify", "check a one-time password", otp_actions)
    verify.add_argument("phone_number")
    verify.add_argument("code")

    _broadcast(
        command("broadcast", "text everyone in a CSV file, with progress and resume")
    )

    sandbox = commands.add_parser(
        "sandbox", help="the embedded fake gateway", allow_abbrev=False
    )
    sandbox_actions = sandbox.add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    serve = sandbox_actions.add_parser(
        "serve",
        allow_abbrev=False,
        help="serve the fake gateway over HTTP on 127.0.0.1",
        description="Serve the fake gateway over HTTP on 127.0.0.1 until Ctrl-C, "
        "for curl or another program. Needs the 'fake' extra (uvicorn).",
    )
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="127.0.0.1", help="a loopback address")
    serve.add_argument("--token", default="test-token", help="the token it accepts")
    serve.add_argument("--credits", type=int, default=1_000_000)
    serve.add_argument("--delivery-delay", type=float, default=2.0, metavar="SECONDS")
    serve.add_argument("--failure-rate", type=float, default=0.02)

    demo = command("demo", "a broadcast of generated recipients against the sandbox")
    demo.add_argument("--recipients", type=int, default=2000, metavar="N")
    demo.add_argument("--concurrency", type=int, default=50)
    return parser


def _broadcast(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "recipients",
        metavar="RECIPIENTS",
        help="a CSV with a phone_number column and an optional message column, "
        "or one number a line",
    )
    parser.add_argument("-m", "--message", help="the text for rows without a message")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="requests in flight at most (default: 50)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="PER_SECOND",
        help="requests a second at most",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="send recipients sharing a text in bulk requests of N",
    )
    _provider(parser)
    parser.add_argument(
        "--no-poll",
        action="store_false",
        dest="poll",
        help="do not wait for delivery statuses",
    )
    parser.add_argument(
        "--poll-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="stop polling a text after this long (default: 600)",
    )
    parser.add_argument(
        "--out", metavar="PATH", help="write one CSV row per recipient to this file"
    )
    parser.add_argument(
        "--journal",
        metavar="PATH",
        help="record every send here to resume without a second text "
        "(default: RECIPIENTS.journal.sqlite beside the file)",
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
