"""``iprogsms broadcast``: a CSV of recipients, a progress bar, resume after Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._errors import InsufficientCreditsError, IProgSMSError
from ..broadcast import RecipientsFile
from ._exit import ExitCode

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Iterable

    from rich.console import Console

    from .._client import IProgSMS
    from ..broadcast import (
        BroadcastEstimate,
        BroadcastProgress,
        BroadcastResult,
        FileProblem,
        RecipientInput,
    )

__all__ = ["FAILURES", "BroadcastView", "broadcast_command"]

FAILURES = frozenset({"failed", "rejected", "error", "unknown", "invalid", "not_sent"})
"""Statuses that make a finished broadcast exit with `ExitCode.PARTIAL`."""

_OUT_COLUMNS = (
    "line",
    "index",
    "phone_number",
    "status",
    "message_id",
    "error",
    "message",
)
_SHOWN_PROBLEMS = 10


class BroadcastView:
    """Runs a broadcast with a progress bar on stderr and a summary at the end."""

    def __init__(
        self,
        *,
        console: Console,
        errors: Console,
        as_json: bool,
        total: int | None,
        line_of: Callable[[int], int | None],
        skipped: Callable[[], int] = lambda: 0,
    ) -> None:
        self.console = console
        self.errors = errors
        self.as_json = as_json
        self.total = total
        self.line_of = line_of
        self.skipped = skipped
        self.counts: Counter[str] = Counter()
        self.interrupted = False
        self.out_of_credits: InsufficientCreditsError | None = None

    async def run(
        self,
        client: IProgSMS,
        recipients: Iterable[RecipientInput],
        *,
        out: str | None,
        options: dict[str, Any],
    ) -> None:
        """Broadcast, stopping cleanly on the first Ctrl-C."""
        progress = Progress(
            BarColumn(bar_width=24),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.errors,
            transient=False,
        )
        task = progress.add_task("broadcast", total=self.total, detail="")

        def on_progress(snapshot: BroadcastProgress) -> None:
            counts = snapshot.counts
            rate = snapshot.requests / snapshot.elapsed if snapshot.elapsed else 0.0
            detail = " · ".join(
                (
                    f"accepted {snapshot.accepted}",
                    f"delivered {counts.get('delivered', 0)}",
                    f"failed {counts.get('failed', 0)}",
                    f"unknown {counts.get('unknown', 0)}",
                    f"{rate:.0f}/s",
                )
            )
            done = snapshot.settled + self.skipped()
            progress.update(task, completed=done, detail=detail)

        with progress, _Output(out, self.line_of) as output:

            def on_result(result: BroadcastResult) -> None:
                # Called for every result the moment it is final, during a
                # Ctrl-C's drain too, so --out misses no text that went out.
                self.counts[result.status] += 1
                output.write(result)

            async def body() -> None:
                async with client.broadcast_stream(
                    recipients, on_progress=on_progress, on_result=on_result, **options
                ) as results:
                    async for _ in results:
                        pass

            try:
                self.interrupted = await _until_interrupted(body, self.errors)
            except InsufficientCreditsError as error:
                if not error.unsent:
                    raise  # the credit check: nothing was sent
                # Every recipient is reported: a summary, then what to do.
                self.out_of_credits = error

    def summary(
        self, problems: list[FileProblem], *, out: str | None, resume: str | None
    ) -> ExitCode:
        """Print the counts and skipped rows; return the exit code they call for."""
        if self.as_json:
            self._json_summary(problems, out=out, resume=resume)
        else:
            self._table_summary(problems, out=out)
        if self.out_of_credits is not None:
            self.errors.print(f"error: {self.out_of_credits}", markup=False)
            if resume:
                self.errors.print("After a top-up, send the rest with:", markup=False)
                self.errors.print(f"  {resume}", markup=False, highlight=False)
            return ExitCode.PARTIAL
        if self.interrupted:
            if resume:
                self.errors.print(
                    "Interrupted: the sends on the wire were finished and recorded; "
                    "none is in doubt. Resume with:",
                    markup=False,
                )
                self.errors.print(f"  {resume}", markup=False, highlight=False)
            else:
                self.errors.print(
                    "Interrupted. No journal was kept: running the same command "
                    "again would text again everyone already sent.",
                    markup=False,
                )
            return ExitCode.INTERRUPTED
        if problems or any(self.counts[status] for status in FAILURES):
            return ExitCode.PARTIAL
        return ExitCode.OK

    def _json_summary(
        self, problems: list[FileProblem], *, out: str | None, resume: str | None
    ) -> None:
        stopped = self.out_of_credits
        document = {
            "counts": dict(self.counts),
            "skipped": [{"line": p.line, "reason": p.reason} for p in problems],
            "out": out,
            "interrupted": self.interrupted,
            "resume": resume if self.interrupted or stopped else None,
            "error": None
            if stopped is None
            else {
                "error": type(stopped).__name__,
                "message": str(stopped),
                "unsent": stopped.unsent,
            },
        }
        self.console.file.write(_json(document) + "\n")

    def _table_summary(self, problems: list[FileProblem], *, out: str | None) -> None:
        table = Table(title="broadcast summary")
        table.add_column("status")
        table.add_column("recipients", justify="right")
        for status, count in self.counts.most_common():
            style = "red" if status in FAILURES else None
            table.add_row(status, str(count), style=style)
        if problems:
            table.add_row("skipped (bad rows)", str(len(problems)), style="yellow")
        self.console.print(table)
        for problem in problems[:_SHOWN_PROBLEMS]:
            self.errors.print(
                f"line {problem.line}: {problem.reason}",
                markup=False,
                highlight=False,
            )
        if len(problems) > _SHOWN_PROBLEMS:
            self.errors.print(
                f"... and {len(problems) - _SHOWN_PROBLEMS} more bad rows"
            )
        if out:
            self.errors.print(f"one row per recipient in {out}", markup=False)


async def broadcast_command(
    client: IProgSMS,
    args: argparse.Namespace,
    *,
    console: Console,
    errors: Console,
    argv: list[str],
) -> ExitCode:
    """``iprogsms broadcast RECIPIENTS``."""
    path = Path(args.recipients)
    if not path.is_file():  # noqa: ASYNC240 -- once, before anything starts
        errors.print(f"error: {path} is not a file", markup=False)
        return ExitCode.BAD_INPUT
    recipients = RecipientsFile(path, message=args.message)
    journal: str | None = args.journal
    if journal is None and not args.no_journal and not args.sandbox:
        # Not in the sandbox: a journal of fake sends would make a real run
        # skip those recipients as already sent.
        journal = f"{path}.journal.sqlite"
    options: dict[str, Any] = {
        "concurrency": args.concurrency,
        "rate_limit": args.rate_limit,
        "batch_size": args.batch_size,
        "sms_provider": args.sms_provider,
        "poll": args.poll,
        "poll_timeout": args.poll_timeout,
        "check_credits": args.check_credits,
    }
    if args.dry_run:
        existing = journal if journal and os.path.exists(journal) else None  # noqa: ASYNC240, PTH110
        report = await client.broadcast(recipients, dry_run=True, journal=existing)
        return _estimate(
            report.estimate, recipients.problems, console, errors, args.json
        )

    view = BroadcastView(
        console=console,
        errors=errors,
        as_json=args.json,
        total=_count_rows(path),
        line_of=lambda index: recipients.lines[index],
        skipped=lambda: len(recipients.problems),
    )
    await view.run(
        client, recipients, out=args.out, options={**options, "journal": journal}
    )
    resume = shlex.join(["iprogsms", *argv]) if journal else None
    return view.summary(recipients.problems, out=args.out, resume=resume)


def _estimate(
    estimate: BroadcastEstimate | None,
    problems: list[FileProblem],
    console: Console,
    errors: Console,
    as_json: bool,
) -> ExitCode:
    if estimate is None:  # pragma: no cover - a dry run always makes one
        raise RuntimeError("the dry run gave no estimate")
    if as_json:
        document = {
            "recipients": estimate.recipients + len(problems),
            "to_send": estimate.valid,
            "segments": estimate.segments,
            "credits_needed": estimate.credits_needed,
            "already_sent": estimate.already_sent,
            "duplicates": estimate.duplicates,
            "skipped": [{"line": p.line, "reason": p.reason} for p in problems],
        }
        console.file.write(_json(document) + "\n")
    else:
        table = Table(title="dry run: nothing was sent", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("count", justify="right")
        table.add_row("rows read", str(estimate.recipients + len(problems)))
        table.add_row("texts to send", str(estimate.valid))
        table.add_row("SMS segments", str(estimate.segments))
        table.add_row("credits needed", str(estimate.credits_needed))
        table.add_row("already sent (journal)", str(estimate.already_sent))
        table.add_row("duplicates (sent once)", str(estimate.duplicates))
        table.add_row("bad rows (skipped)", str(len(problems)))
        console.print(table)
        for problem in problems[:_SHOWN_PROBLEMS]:
            errors.print(
                f"line {problem.line}: {problem.reason}", markup=False, highlight=False
            )
    return ExitCode.BAD_INPUT if problems else ExitCode.OK


class _Output:
    """The ``--out`` CSV: one row per recipient, written as each one settles."""

    def __init__(self, path: str | None, line_of: Callable[[int], int | None]) -> None:
        self._path = path
        self._line_of = line_of
        self._file: Any = None
        self._writer: Any = None

    def __enter__(self) -> _Output:
        if self._path is not None:
            # Line-buffered: a second Ctrl-C leaves at once, rows and all.
            self._file = open(  # noqa: PTH123 -- closed in __exit__
                self._path, "w", newline="", encoding="utf-8", buffering=1
            )
            self._writer = csv.writer(self._file)
            self._writer.writerow(_OUT_COLUMNS)
        return self

    def write(self, result: BroadcastResult) -> None:
        if self._writer is None:
            return
        self._writer.writerow(
            (
                self._line_of(result.index),
                result.index,
                result.phone_number,
                result.status,
                result.message_id or "",
                "" if result.error is None else str(result.error),
                result.message or "",
            )
        )

    def __exit__(self, *_: object) -> None:
        if self._file is not None:
            self._file.close()


async def _until_interrupted(
    body: Callable[[], Awaitable[None]], errors: Console
) -> bool:
    """Run ``body``; on Ctrl-C cancel it (it drains) and return True."""
    interrupted = False
    scope = anyio.CancelScope()

    async def watch(
        *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        nonlocal interrupted
        try:
            receiver = anyio.open_signal_receiver(signal.SIGINT)
        except (
            NotImplementedError
        ):  # pragma: no cover - Windows: KeyboardInterrupt then
            task_status.started()
            return
        with receiver as signals:
            task_status.started()
            async for _ in signals:
                if interrupted:
                    os._exit(ExitCode.INTERRUPTED)  # a second Ctrl-C: leave at once
                interrupted = True
                errors.print(
                    "\nStopping: finishing the sends already on the wire "
                    "(Ctrl-C again to quit at once)...",
                    markup=False,
                )
                scope.cancel()

    failure: IProgSMSError | OSError | None = None
    async with anyio.create_task_group() as group:
        await group.start(watch)
        with scope:
            try:
                await body()
            except (IProgSMSError, OSError) as error:
                # Raised out of the task group it would come wrapped in an
                # exception group, past the one-line error handling.
                failure = error
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return interrupted


def _count_rows(path: Path) -> int | None:
    """Non-blank lines in the file, less a header: the progress bar's total."""
    try:
        with path.open("rb") as file:
            lines = sum(1 for line in file if line.strip())
    except OSError:
        return None
    with path.open("rb") as file:
        first = file.readline(4096).lower()
    has_header = any(name in first for name in (b"phone", b"number", b"mobile"))
    return max(0, lines - 1) if has_header else lines


def _json(document: object) -> str:
    return json.dumps(document, ensure_ascii=False)
