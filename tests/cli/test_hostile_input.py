"""The command line meets bytes that are not UTF-8, times past year 9999, no credits.

Each ends in one line saying what was wrong and the documented exit code,
never a traceback.
"""

import csv
import subprocess
import sys

import pytest

from iprogsms_async.cli import ExitCode

CLI = [sys.executable, "-m", "iprogsms_async.cli"]

# What Python's argv holds for bytes that are not UTF-8 (surrogateescape).
NOT_UTF8 = "caf\udce9"


@pytest.mark.parametrize(
    "argv",
    [
        ("send", "09171251234", "-m", NOT_UTF8),
        ("send-bulk", "09171251234", "09181234567", "-m", NOT_UTF8),
        ("status", "iSms-" + NOT_UTF8),
        ("otp", "send", "09171251234", "-m", NOT_UTF8 + " :otp"),
        ("otp", "verify", "09171251234", "12" + NOT_UTF8),
        (
            "reminders",
            "create",
            "09171251234",
            "-m",
            NOT_UTF8,
            "--at",
            "2030-01-01T05:00",
        ),
        ("reminders", "update", "1", "-m", NOT_UTF8),
        (
            "reminders",
            "create",
            "09171251234",
            "-m",
            "Bill",
            "--at",
            "9999-12-31T23:59:00+00:00",
        ),
        (
            "reminders",
            "create",
            "09171251234",
            "-m",
            "Bill",
            "--at",
            "0001-01-01T00:00:00+14:00",
        ),
        ("reminders", "update", "1", "--at", "9999-12-31T23:59:00+00:00"),
    ],
    ids=lambda argv: " ".join(argv[:2]) + (" --at" if "--at" in argv[-2:] else " -m"),
)
def test_unsendable_input_is_one_line_and_exit_2(cli, argv):
    before = sum(cli.fake.requests.values())
    code, out, err = cli(*argv)
    assert code == ExitCode.BAD_INPUT
    assert "Traceback" not in out + err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "cannot be sent" in line or "Manila time" in line
    assert sum(cli.fake.requests.values()) == before
    code, document, _ = cli.json(*argv)
    assert code == ExitCode.BAD_INPUT
    assert document["error"] == "ValidationError"


def test_a_broadcast_default_message_that_is_not_utf8_is_refused(cli, tmp_path):
    recipients = tmp_path / "numbers.txt"
    recipients.write_text("09171251234\n")
    code, _, err = cli("broadcast", str(recipients), "-m", NOT_UTF8, "--no-journal")
    assert code == ExitCode.BAD_INPUT
    assert "error: message holds a byte that is not UTF-8 (0xE9)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "--sandbox", "09171251234", "-m", b"bad \xff bytes"],
        [
            "reminders",
            "create",
            "--sandbox",
            "09171251234",
            "-m",
            "Bill",
            "--at",
            "9999-12-31T23:59:00+00:00",
        ],
    ],
    ids=["-m bytes", "--at 9999"],
)
def test_the_real_command_with_real_bytes(argv):
    finished = subprocess.run(
        [*CLI, *argv], capture_output=True, timeout=60, check=False
    )
    assert finished.returncode == ExitCode.BAD_INPUT, finished.stderr
    err = finished.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")]


def test_a_broadcast_out_of_credits_reports_everyone_and_resumes(cli, tmp_path):
    recipients = tmp_path / "r.csv"
    with recipients.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["phone_number"])
        writer.writerows([f"0917800{i:04d}"] for i in range(12))
    out = tmp_path / "out.csv"
    argv = ["broadcast", str(recipients), "-m", "Hi", "--no-poll", "--concurrency", "1"]
    saved = cli.fake.credits
    cli.fake.credits = 5
    try:
        code, _, err = cli(*argv, "--out", str(out))
        assert code == ExitCode.PARTIAL
        assert "Traceback" not in err
        assert "error: the account ran out of credits: 7 recipients" in err
        assert "After a top-up, send the rest with:" in err
        with out.open(newline="", encoding="utf-8") as file:
            statuses = [row["status"] for row in csv.DictReader(file)]
        assert sorted(statuses) == ["accepted"] * 5 + ["not_sent"] * 7
        cli.fake.credits = 100
        code, summary, _ = cli.json(*argv)
        assert code == ExitCode.OK
        assert summary["counts"] == {"accepted": 12}
        assert summary["error"] is None
    finally:
        cli.fake.credits = saved
    for i in range(12):
        assert cli.fake.texts_to(f"0917800{i:04d}") == ["Hi"]


def test_a_broadcast_stopped_by_the_account_is_one_line_too(cli, monkeypatch, tmp_path):
    # A bad token, or a credit check that comes up short, ends the broadcast
    # with the error itself, not a traceback of the task group it ran in.
    recipients = tmp_path / "numbers.txt"
    recipients.write_text("09178880001\n09178880002\n")
    saved = cli.fake.credits
    cli.fake.credits = 1
    try:
        code, _, err = cli("broadcast", str(recipients), "-m", "Hi", "--check-credits")
    finally:
        cli.fake.credits = saved
    assert code == ExitCode.API
    assert "error: the broadcast needs 2 credits" in err
    assert "Traceback" not in err
    monkeypatch.setenv("IPROGSMS_API_TOKEN", "wrong-token-98765")
    code, _, err = cli("broadcast", str(recipients), "-m", "Hi", "--no-journal")
    assert code == ExitCode.API
    assert "error: HTTP 401" in err
    assert "Traceback" not in err
    assert cli.fake.texts_to("09178880001") == []
