"""Every mistake of the user's is one line that says what is accepted, and exit 2.

Each command runs as a user runs it, in its own process, so nothing of
pytest's (its capture, its event loop) can hide a traceback.
"""

import os
import socket
import subprocess
import sys

import pytest

from iprogsms_async.cli import ExitCode
from iprogsms_async.cli._parser import parse_args

CLI = [sys.executable, "-m", "iprogsms_async.cli"]


def run_cli(*argv, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("IPROGSMS_API_TOKEN", None)
    return subprocess.run(
        [*CLI, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=cwd,
    )


def the_error_line(result):
    """The one line of stderr that reports the error (the sandbox adds notes)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def recipients(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("phone_number\n09171234567\n09181234567\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--concurrency", "0"], ["--concurrency", "a whole number >= 1", "'0'"]),
        (["--concurrency", "many"], ["--concurrency", "a whole number >= 1"]),
        (["--rate-limit", "-1"], ["--rate-limit", "a number > 0", "'-1'"]),
        (["--batch-size", "0"], ["--batch-size", "a whole number >= 1"]),
        (["--poll-timeout", "-5"], ["--poll-timeout", "seconds >= 0", "'-5'"]),
        (["--timeout", "0"], ["--timeout", "seconds > 0"]),
        (["--provider", "7"], ["--provider", "choose from 0, 1, 2"]),
    ],
)
def test_a_bad_broadcast_option_is_one_line_and_exit_2(recipients, options, says):
    result = run_cli("broadcast", str(recipients), "-m", "Hi", "--sandbox", *options)
    assert result.returncode == ExitCode.BAD_INPUT
    line = the_error_line(result)
    for fragment in says:
        assert fragment in line


def test_a_journal_in_a_missing_folder_is_one_line_and_exit_2(recipients, tmp_path):
    journal = tmp_path / "nonexistent" / "dir" / "j.sqlite"
    result = run_cli(
        "broadcast", str(recipients), "-m", "Hi", "--sandbox", "--journal", str(journal)
    )
    assert result.returncode == ExitCode.BAD_INPUT
    line = the_error_line(result)
    assert str(journal) in line
    assert "existing, writable directory" in line
    # Nothing was shown of a broadcast that never started.
    assert "0/2" not in result.stderr


def test_an_error_inside_the_broadcast_task_group_is_unwrapped(recipients, tmp_path):
    journal = tmp_path / "not-a-journal.sqlite"
    journal.write_text("plain text, not SQLite\n" * 100, encoding="utf-8")
    result = run_cli(
        "broadcast", str(recipients), "-m", "Hi", "--sandbox", "--journal", str(journal)
    )
    assert result.returncode == ExitCode.BAD_INPUT
    assert "is not a broadcast journal" in the_error_line(result)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["send", "09171234567", "-m", "Hi", "--timeout", "0"], "seconds > 0"),
        (["otp", "send", "09171234567", "--expires-in", "0"], "whole number >= 1"),
        (["demo", "--recipients", "-5"], "a whole number >= 1, not '-5'"),
        (["demo", "--concurrency", "0"], "a whole number >= 1, not '0'"),
        (["sandbox", "serve", "--port", "99999"], "from 0 to 65535, not '99999'"),
        (["sandbox", "serve", "--failure-rate", "2"], "a number from 0 to 1"),
        (["sandbox", "serve", "--credits", "-1"], "a whole number >= 0"),
        (["sandbox", "serve", "--host", "0.0.0.0"], "not a loopback address"),  # noqa: S104 -- refused, the point
        ([], "required: COMMAND"),
        (["reminders"], "required: ACTION"),
        (["credits", "--token", "abc"], "unrecognized arguments: --token"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(argv, says):
    result = run_cli(*argv)
    assert result.returncode == ExitCode.BAD_INPUT
    assert says in the_error_line(result)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--sandbox"],
        ["demo", "--base-url", "http://127.0.0.1:9/api/v1"],
        ["demo", "--token-file", "token"],
        ["demo", "--timeout", "5"],
        ["--sandbox", "demo"],
        ["--timeout", "5", "demo"],
        ["--token-file", "token", "demo"],
        ["--json", "sandbox", "serve"],
        ["sandbox", "serve", "--sandbox"],
    ],
)
def test_an_option_a_command_ignores_is_refused(argv):
    result = run_cli(*argv)
    assert result.returncode == ExitCode.BAD_INPUT
    option = next(arg for arg in argv if arg.startswith("--"))
    assert option in the_error_line(result)


def test_sandbox_serve_on_a_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("sandbox", "serve", "--port", str(port))
    assert result.returncode == ExitCode.BAD_INPUT
    line = the_error_line(result)
    assert f"port {port}" in line
    assert "choose another --port" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["--sandbox", "credits", "--json"],
        ["credits", "--sandbox", "--json"],
        ["--sandbox", "--json", "credits"],
        ["--json", "credits", "--sandbox"],
        ["--timeout", "5", "--sandbox", "credits", "--json"],
    ],
)
def test_global_options_go_before_or_after_the_command(argv):
    result = run_cli(*argv)
    assert result.returncode == ExitCode.OK, result.stderr
    assert result.stdout.strip() == '{"load_balance": 1000000.0}'


def test_an_option_after_the_command_wins_over_one_before():
    args = parse_args(["--timeout", "5", "credits", "--timeout", "7"])
    assert args.timeout == 7.0
    assert parse_args(["--timeout", "5", "credits"]).timeout == 5.0
    defaults = parse_args(["credits"])
    assert (defaults.timeout, defaults.sandbox, defaults.json) == (30.0, False, False)
    assert (defaults.token_file, defaults.base_url) == (None, None)
    demo = parse_args(["--json", "demo"])
    assert demo.json is True
    assert not hasattr(demo, "timeout")
