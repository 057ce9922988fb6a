"""``iprogsms broadcast``: a CSV of recipients, a progress bar, resume after Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from .._errors import InsufficientCreditsError, IProgSMSError
from ..broadcast import BroadcastOptions, RecipientsFile
from ..broadcast._postgres import is_postgres_url
from ..broadcast._stores import journal_exists
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

__all__ = [
    "FAILURES",
    "BroadcastView",
    "ProgressLine",
    "broadcast_command",
    "work_command",
]

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


_MIN_BAR = 12
_MAX_BAR = 32


class ProgressLine:
    """The progress bar's one line, fitted to the width of the terminal.

    Rather than squeeze the bar or cut the elapsed time, it leaves out the
    counts that matter least, one at a time, until the line fits: the rate,
    then the accepted count, then zero counts. It appears with the first
    recipient read, so an error before that (a journal that cannot be
    opened) is not preceded by an empty bar.
    """

    def __init__(self, console: Console, total: int | None) -> None:
        self._console = console
        self._total = "?" if total is None else str(total)
        self._bar = BarColumn(bar_width=_MAX_BAR)
        self.progress = Progress(
            self._bar,
            TextColumn("{task.fields[count]}", table_column=Column(no_wrap=True)),
            TextColumn(
                "{task.fields[detail]}",
                table_column=Column(no_wrap=True, overflow="ellipsis"),
            ),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            console=console,
            transient=False,
        )
        self._task = self.progress.add_task(
            "broadcast", total=total, count=f"0/{self._total}", detail=""
        )
        self._started = False

    def update(self, snapshot: BroadcastProgress, *, done: int) -> None:
        """Show ``snapshot``, with ``done`` recipients of the total settled."""
        if not self._started:
            if not (snapshot.read or snapshot.settled or done):
                return
            self.progress.start()
            self._started = True
        count = f"{done}/{self._total}"
        elapsed = self.progress.tasks[0].elapsed or 0.0
        clock = str(timedelta(seconds=int(elapsed)))
        # The grid puts one space between its four columns.
        fixed = len(count) + len(clock) + 3
        width = self._console.width - 1  # the last column makes some terminals wrap
        detail = _fit(_fields(snapshot), width - fixed - _MIN_BAR)
        self._bar.bar_width = max(_MIN_BAR, min(_MAX_BAR, width - fixed - len(detail)))
        self.progress.update(self._task, completed=done, count=count, detail=detail)

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *_: object) -> None:
        if self._started:
            self.progress.stop()


def _fields(snapshot: BroadcastProgress) -> list[tuple[int, str]]:
    """The progress line's counts, each with how much it matters (higher: more)."""
    counts = snapshot.counts
    failed = counts.get("failed", 0)
    unknown = counts.get("unknown", 0)
    rate = snapshot.requests / snapshot.elapsed if snapshot.elapsed else 0.0
    return [
        (1, f"accepted {snapshot.accepted}"),
        (3, f"delivered {counts.get('delivered', 0)}"),
        (4 if failed else 2, f"failed {failed}"),
        (5 if unknown else 2, f"unknown {unknown}"),
        (0, f"{rate:.0f}/s"),
    ]


def _fit(fields: list[tuple[int, str]], room: int) -> str:
    """Join ``fields``, leaving out the least important ones until it fits ``room``."""
    kept = list(fields)
    while kept and len(_SEPARATOR.join(text for _, text in kept)) > room:
        # The least important; of equals, the one further right.
        least = min(range(len(kept)), key=lambda i: (kept[i][0], -i))
        del kept[least]
    return _SEPARATOR.join(text for _, text in kept)


_SEPARATOR = " · "


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
        recipients: Iterable[RecipientInput] | None,
        *,
        out: str | None,
        options: BroadcastOptions,
    ) -> None:
        """Broadcast with ``options``, stopping cleanly on the first Ctrl-C.

        No ``recipients``: join the shared broadcast ``options`` names, as a
        worker (`IProgSMS.broadcast_work_stream`).
        """
        line = ProgressLine(self.errors, self.total)

        def on_progress(snapshot: BroadcastProgress) -> None:
            line.update(snapshot, done=snapshot.settled + self.skipped())

        with line, _Output(out, self.line_of) as output:

            def on_result(result: BroadcastResult) -> None:
                # Called for every result the moment it is final, during a
                # Ctrl-C's drain too, so --out misses no text that went out.
                self.counts[result.status] += 1
                output.write(result)

            async def body() -> None:
                opening = (
                    client.broadcast_work_stream(
                        options=options, on_progress=on_progress, on_result=on_result
                    )
                    if recipients is None
                    else client.broadcast_stream(
                        recipients,
                        options=options,
                        on_progress=on_progress,
                        on_result=on_result,
                    )
                )
                async with opening as results:
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
                    soft_wrap=False,
                )
                self.errors.print(f"  {resume}", markup=False, highlight=False)
            else:
                self.errors.print(
                    "Interrupted. No journal was kept: running the same command "
                    "again would text again everyone already sent.",
                    markup=False,
                    soft_wrap=False,
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
    name: str | None = args.name
    if name is None and journal is not None and is_postgres_url(journal):
        name = path.name  # a PostgreSQL journal holds many broadcasts
    options = _options(args).replace(
        check_credits=args.check_credits,
        journal=journal,
        name=name,
        shared=args.shared,
    )
    if args.sandbox and journal and os.path.exists(journal):  # noqa: ASYNC240, PTH110 -- once
        errors.print(
            f"(sandbox: resuming from {journal}. This fake is new and does not know "
            "the earlier run's texts: they are not sent again, and keep the last "
            "status the journal recorded (an 'accepted' text stays 'accepted').)",
            markup=False,
            soft_wrap=False,
        )
    if args.dry_run:
        existing = journal if journal and journal_exists(journal) else None
        report = await client.broadcast(
            recipients,
            options=BroadcastOptions(dry_run=True, journal=existing, name=name),
        )
        return _estimate(
            report.estimate, recipients.problems, console, errors, args.json
        )

    view = BroadcastView(
        console=console,
        errors=errors,
        as_json=args.json,
        # A shared worker settles its share: no total to count towards.
        total=None if args.shared else _count_rows(path),
        line_of=lambda index: recipients.lines[index],
        skipped=lambda: len(recipients.problems),
    )
    await view.run(client, recipients, out=args.out, options=options)
    resume = shlex.join(["iprogsms", *argv]) if journal else None
    return view.summary(recipients.problems, out=args.out, resume=resume)


async def work_command(
    client: IProgSMS,
    args: argparse.Namespace,
    *,
    console: Console,
    errors: Console,
    argv: list[str],
) -> ExitCode:
    """``iprogsms broadcast work --journal URL --name NAME``: one more worker."""
    options = _options(args).replace(
        journal=args.journal,
        name=args.name,
        shared=True,
        plan_timeout=args.plan_timeout,
    )
    view = BroadcastView(
        console=console,
        errors=errors,
        as_json=args.json,
        total=None,
        line_of=lambda _: None,  # no file here: the journal's input positions
    )
    await view.run(client, None, out=args.out, options=options)
    return view.summary([], out=args.out, resume=shlex.join(["iprogsms", *argv]))


def _options(args: argparse.Namespace) -> BroadcastOptions:
    """The options both ``broadcast`` and ``broadcast work`` take."""
    return BroadcastOptions(
        concurrency=args.concurrency,
        rate_limit=args.rate_limit,
        batch_size=args.batch_size,
        sms_provider=args.sms_provider,
        poll=args.poll,
        poll_timeout=args.poll_timeout,
        worker_id=args.worker_id,
        lease=args.lease,
        claim_size=args.claim_size,
    )


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
    """Run ``body``; on Ctrl-C or SIGTERM cancel it (it drains) and return True.

    SIGTERM is how a service manager stops a process (Kubernetes, systemd,
    docker stop): it drains as Ctrl-C does, so that a stopped worker leaves
    no send in doubt if it is given the time (its timeout's total).
    """
    interrupted = False
    scope = anyio.CancelScope()

    async def watch(
        *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        nonlocal interrupted
        try:
            receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
        except (
            NotImplementedError
        ):  # pragma: no cover - Windows: KeyboardInterrupt then
            task_status.started()
            return
        with receiver as signals:
            task_status.started()
            async for received in signals:
                if interrupted:
                    os._exit(ExitCode.INTERRUPTED)  # a second one: leave at once
                interrupted = True
                how = "Ctrl-C" if received == signal.SIGINT else "SIGTERM"
                errors.print(
                    f"\nStopping ({how}): finishing the sends already on the wire "
                    f"({how} again to quit at once)...",
                    markup=False,
                    soft_wrap=False,
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
