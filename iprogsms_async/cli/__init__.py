"""The ``iprogsms`` command: every operation, broadcasts from CSV, a sandbox.

Needs the ``cli`` extra (rich). See ``iprogsms --help``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import (
    ConfigurationError,
    IProgSMSError,
    ValidationError,
)
from .._validation import TOKEN_VARIABLE
from ._exit import ExitCode
from ._parser import parse_args

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio brings
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from .._client import IProgSMS

__all__ = ["ExitCode", "main", "run"]


def main(argv: list[str] | None = None) -> None:
    """The console script: run ``iprogsms`` and exit with its code."""
    raise SystemExit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run ``iprogsms`` with ``argv`` (default: the process's); return the exit code.

    Every mistake of the user's (arguments, input, a port in use) ends in one
    line on stderr and `ExitCode.BAD_INPUT`; only a bug shows a traceback.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    # First, before importing anything heavy: --help and mistakes answer at once.
    args = parse_args(arguments)
    try:
        from rich.console import Console  # noqa: PLC0415 -- the cli extra
    except ImportError:  # pragma: no cover - depends on the install
        sys.stderr.write(
            "iprogsms needs the 'cli' extra: pip install 'iprogsms-async[cli]'\n"
        )
        return ExitCode.BAD_INPUT
    console = Console(highlight=False)
    # An error stays one line, whatever the width (a pipe or a script reads it
    # whole); prose passes soft_wrap=False to be wrapped at words instead.
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "sandbox":
            from ._sandbox import serve_command  # noqa: PLC0415 -- needs uvicorn

            return serve_command(args, errors=errors)
        import anyio  # noqa: PLC0415 -- not needed to parse

        return anyio.run(_run, args, arguments, console, errors)
    except KeyboardInterrupt:
        errors.print("interrupted", markup=False)
        return ExitCode.INTERRUPTED
    except IProgSMSError as error:
        return _failed(error, args, console, errors)
    except OSError as error:
        errors.print(f"error: {error}", markup=False)
        return ExitCode.BAD_INPUT


async def _run(
    args: argparse.Namespace, argv: list[str], console: Console, errors: Console
) -> ExitCode:
    """Run the command; an error from inside a task group comes out on its own."""
    try:
        return await _command(args, argv, console, errors)
    except BaseExceptionGroup as group:
        from .._groups import single_error  # noqa: PLC0415

        raise single_error(group) from None


async def _command(
    args: argparse.Namespace, argv: list[str], console: Console, errors: Console
) -> ExitCode:
    if args.command == "demo":
        from ._sandbox import demo_command  # noqa: PLC0415

        return await demo_command(args, console=console, errors=errors)
    if args.command == "broadcast-status":
        from ._status import status_command  # noqa: PLC0415

        return await status_command(args, console=console)
    async with _client(args, errors) as client:
        if args.command == "broadcast":
            from ._broadcast import broadcast_command  # noqa: PLC0415

            return await broadcast_command(
                client, args, console=console, errors=errors, argv=argv
            )
        if args.command == "broadcast-work":
            from ._broadcast import work_command  # noqa: PLC0415

            return await work_command(
                client, args, console=console, errors=errors, argv=argv
            )
        from ._commands import call_operation  # noqa: PLC0415
        from ._render import emit  # noqa: PLC0415

        result, title = await call_operation(client, args)
        emit(console, result, as_json=args.json, title=title)
        if args.command == "otp" and args.action == "verify":
            return ExitCode.OK if result["verified"] else ExitCode.API  # type: ignore[index]
        return ExitCode.OK


def _client(args: argparse.Namespace, errors: Console) -> IProgSMS:
    if args.sandbox:
        from ..testing import FakeGateway  # noqa: PLC0415

        errors.print(
            "(sandbox: an embedded fake gateway; nothing is really sent)", markup=False
        )
        return FakeGateway(seed=None).client(timeout=args.timeout)
    from .._client import IProgSMS  # noqa: PLC0415

    return IProgSMS(_token(args, errors), base_url=args.base_url, timeout=args.timeout)


def _token(args: argparse.Namespace, errors: Console) -> str | None:
    """The token from ``--token-file``; None leaves it to IPROGSMS_API_TOKEN."""
    if args.token_file is None:
        if not os.environ.get(TOKEN_VARIABLE):
            raise ConfigurationError(
                f"no API token: set {TOKEN_VARIABLE} or pass --token-file PATH "
                "(or try --sandbox)"
            )
        return None
    path = Path(args.token_file)
    token = path.read_text(encoding="utf-8").partition("\n")[0].strip()
    if not token:
        raise ConfigurationError(f"--token-file {path} is empty")
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        errors.print(
            f"warning: {path} is readable by other users; chmod 600 it", markup=False
        )
    return token


def _failed(
    error: IProgSMSError, args: argparse.Namespace, console: Console, errors: Console
) -> ExitCode:
    # Refused input is the user's to fix; everything else the gateway's or network's.
    # A broadcast's error: --help loads no broadcast.
    from ..broadcast._errors import JournalError  # noqa: PLC0415

    bad_input = isinstance(error, ValidationError | ConfigurationError | JournalError)
    code = ExitCode.BAD_INPUT if bad_input else ExitCode.API
    if getattr(args, "json", False):
        from ._render import to_json  # noqa: PLC0415

        document = {
            "error": type(error).__name__,
            "message": str(error),
            "maybe_sent": error.maybe_sent,
            "status_code": getattr(error, "status_code", None),
        }
        console.file.write(json.dumps(to_json(document), ensure_ascii=False) + "\n")
    else:
        errors.print(f"error: {error}", markup=False)
        if error.maybe_sent:
            errors.print(
                "the gateway may have sent this text anyway: "
                "check before sending it again",
                markup=False,
            )
    return code
