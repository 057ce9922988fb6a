"""The progress line and the demo's prose read well at 80 columns."""

import io
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console

from iprogsms_async.broadcast import BroadcastProgress
from iprogsms_async.cli._broadcast import ProgressLine

BAR_CELLS = re.compile(r"[━╸╺╾╼]+")  # the done part (without colours, only it shows)
CLOCK_AT_END = re.compile(r" \d+:\d\d:\d\d$")


def snapshot(done, *, failed=0, unknown=0, elapsed=12.0, read=None):
    delivered = done - failed - unknown
    return BroadcastProgress(
        counts={"delivered": delivered, "failed": failed, "unknown": unknown},
        read=done if read is None else read,
        accepted=done,
        in_flight=0,
        requests=2 * done,
        elapsed=elapsed,
    )


def render(width, total, progress, done):
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    with ProgressLine(console, total) as line:
        line.update(progress, done=done)
    lines = [text for text in out.getvalue().splitlines() if text.strip()]
    assert len(lines) == 1, out.getvalue()
    return lines[0]


def bar_width(line, count):
    """The cells before the count: the bar, done and to do, and one space."""
    assert f" {count} " in line, line
    return line.index(f" {count} ")


@pytest.mark.parametrize("width", [80, 60, 100])
@pytest.mark.parametrize(
    ("total", "progress"),
    [
        (2000, snapshot(1204, failed=12, unknown=1)),
        (100_000, snapshot(99_999, failed=12_345, unknown=1_234, elapsed=4000)),
        (50, snapshot(0, read=5)),
    ],
)
def test_the_progress_line_fits_with_a_real_bar_and_a_whole_clock(
    width, total, progress
):
    done = progress.settled
    line = render(width, total, progress, done)
    assert len(line) <= width
    assert bar_width(line, f"{done}/{total}") >= 12, line
    assert CLOCK_AT_END.search(line), line


def test_at_80_columns_it_keeps_what_matters_and_leaves_out_the_rest():
    line = render(80, 2000, snapshot(1204, failed=12, unknown=1), 1204)
    assert "delivered 1191" in line
    assert "failed 12" in line
    assert "unknown 1" in line
    assert "/s" not in line  # the rate goes first


def test_a_wide_terminal_shows_every_count():
    line = render(200, 2000, snapshot(1204, failed=12, unknown=1), 1204)
    for part in ("accepted 1204", "delivered 1191", "failed 12", "unknown 1", "/s"):
        assert part in line
    assert bar_width(line, "1204/2000") >= 24


def test_nothing_is_shown_before_the_first_recipient_is_read():
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    with ProgressLine(console, 10) as line:
        line.update(snapshot(0), done=0)
    assert out.getvalue().strip() == ""


def test_the_demo_wraps_its_prose_at_words_at_80_columns():
    result = subprocess.run(
        [sys.executable, "-m", "iprogsms_async.cli", "demo", "--recipients", "30"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(len(line) <= 80 for line in lines), result.stderr
    intro = []
    for line in lines:
        if BAR_CELLS.match(line):
            break
        intro.append(line)
    assert len(intro) > 1  # it did wrap
    assert " ".join(" ".join(intro).split()).startswith(
        "Broadcasting to 30 generated recipients through the embedded fake gateway "
        "(latency, a few server errors, rate limits and dropped connections; "
        "nothing is really sent)."
    )
