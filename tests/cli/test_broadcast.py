"""``iprogsms broadcast``: bad rows, --out, --json, dry runs, Ctrl-C and resume."""

import csv
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from iprogsms_async.cli import ExitCode
from iprogsms_async.testing import FakeGateway, Faults

CLI = [sys.executable, "-m", "iprogsms_async.cli"]


def write_csv(path, rows, header=("phone_number", "message")):
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def read_out(path):
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_a_csv_with_bad_rows_sends_the_rest_and_reports_each_bad_row(cli, tmp_path):
    recipients = write_csv(
        tmp_path / "r.csv",
        [
            ("09171000001", "Hello A"),
            ("12345", "bad number"),
            ("+63 917 100 0002", ""),  # takes --message
            ("09171000001", "Hello A"),  # duplicate
            ("+1 415 555 0100", "foreign"),
        ],
    )
    out = tmp_path / "out.csv"
    code, _, err = cli(
        "broadcast", str(recipients), "-m", "Default", "--out", str(out), "--no-poll"
    )
    assert code == ExitCode.PARTIAL
    assert "line 3:" in err  # the header is line 1
    assert "line 6:" in err
    rows = sorted(read_out(out), key=lambda row: int(row["line"]))
    assert [(r["line"], r["status"]) for r in rows] == [
        ("2", "accepted"),
        ("4", "accepted"),
        ("5", "duplicate"),
    ]
    assert cli.fake.texts_to("09171000001") == ["Hello A"]
    assert cli.fake.texts_to("09171000002") == ["Default"]
    assert (tmp_path / "r.csv.journal.sqlite").exists()


def test_a_clean_broadcast_exits_0_and_json_summarises(cli, tmp_path):
    recipients = tmp_path / "numbers.txt"
    recipients.write_text("09172000001\n09172000002\n\n09172000003\n")
    code, summary, _ = cli.json(
        "broadcast", str(recipients), "-m", "Hi", "--no-journal"
    )
    assert code == ExitCode.OK
    assert summary["counts"] == {"delivered": 3}
    assert summary["skipped"] == []
    assert summary["interrupted"] is False


def test_dry_run_estimates_and_sends_nothing(cli, tmp_path):
    recipients = write_csv(
        tmp_path / "r.csv",
        [("09173000001", "a" * 161), ("09173000002", "Short"), ("bad", "x")],
    )
    before = sum(cli.fake.requests.values())
    code, estimate, _ = cli.json("broadcast", str(recipients), "--dry-run")
    assert code == ExitCode.BAD_INPUT  # there is a bad row
    assert estimate["to_send"] == 2
    assert estimate["segments"] == 3
    assert estimate["credits_needed"] == 3
    assert estimate["skipped"] == [
        {"line": 4, "reason": estimate["skipped"][0]["reason"]}
    ]
    assert sum(cli.fake.requests.values()) == before


def test_a_file_that_does_not_exist_is_bad_input(cli, tmp_path):
    code, _, err = cli("broadcast", str(tmp_path / "missing.csv"), "-m", "Hi")
    assert code == ExitCode.BAD_INPUT
    assert "not a file" in err


def test_ctrl_c_stops_cleanly_and_the_printed_command_resumes(tmp_path):
    fake = FakeGateway(seed=9, faults=Faults(latency=0.03))
    numbers = [f"0917400{i:04d}" for i in range(300)]
    recipients = write_csv(tmp_path / "r.csv", [(n, "") for n in numbers])
    out = tmp_path / "out.csv"
    journal = tmp_path / "j.sqlite"
    with fake.serve_in_thread() as base_url:
        env = {
            **os.environ,
            "IPROGSMS_BASE_URL": base_url,
            "IPROGSMS_API_TOKEN": fake.token,
            "COLUMNS": "200",
        }
        argv = [
            "broadcast",
            str(recipients),
            "-m",
            "Hi",
            "--journal",
            str(journal),
            "--out",
            str(out),
            "--concurrency",
            "4",
            "--no-poll",
        ]
        process = subprocess.Popen(
            [*CLI, *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while len(fake.messages) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == ExitCode.INTERRUPTED, err
        sent_before = len(fake.messages)
        assert 40 <= sent_before < 300
        assert "none is in doubt" in err
        resume_line = err.split("Resume with:", 1)[1].strip().splitlines()[0]
        resume = shlex.split(resume_line)
        assert resume == ["iprogsms", *argv]
        # Every text the gateway holds was written to --out before the exit.
        written = {row["message_id"] for row in read_out(out)}
        assert {m.message_id for m in fake.messages} == written

        finished = subprocess.run(
            [*CLI, *resume[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert finished.returncode == ExitCode.OK, finished.stderr
    for number in numbers:
        assert fake.texts_to(number) == ["Hi"]
    rows = read_out(out)
    assert len(rows) == 300
    assert {row["status"] for row in rows} == {"accepted"}


def test_the_console_script_and_demo_run(tmp_path):
    demo = subprocess.run(
        [*CLI, "demo", "--recipients", "120", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert demo.returncode == ExitCode.OK, demo.stderr
    summary = json.loads(demo.stdout)
    assert sum(summary["counts"].values()) == 120
    assert "numbers texted twice: 0" in demo.stderr


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_sandbox_serve_answers_over_http_until_ctrl_c(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [*CLI, "sandbox", "serve", "--port", str(port), "--token", "sandbox-token"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        env = {
            **os.environ,
            "IPROGSMS_BASE_URL": f"http://127.0.0.1:{port}/api/v1",
            "IPROGSMS_API_TOKEN": "sandbox-token",
        }
        deadline = time.monotonic() + 20
        while True:
            credits = subprocess.run(
                [*CLI, "credits", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if credits.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert credits.returncode == ExitCode.OK, credits.stderr
        assert json.loads(credits.stdout)["load_balance"] == 1_000_000
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=20)
    assert server.returncode == 0
    assert f"http://127.0.0.1:{port}/api/v1" in err


def test_sandbox_serve_refuses_a_public_host():
    result = subprocess.run(
        [*CLI, "sandbox", "serve", "--host", "0.0.0.0"],  # noqa: S104 -- refused, the point
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == ExitCode.BAD_INPUT
    assert "not a loopback address" in result.stderr


def test_a_sandbox_rerun_with_a_journal_agrees_with_itself_and_says_why(tmp_path):
    rows = [(f"0917{i:07d}", "Hi") for i in range(40)]
    journal = tmp_path / "j.sqlite"
    env = {**os.environ, "COLUMNS": "200"}

    def broadcast(rows, name, *options):
        recipients = write_csv(tmp_path / name, rows)
        command = ["broadcast", str(recipients), "--sandbox", "--journal", str(journal)]
        return subprocess.run(
            [*CLI, *command, *options],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )

    assert broadcast(rows[:20], "first.csv").returncode == ExitCode.OK  # delivered
    assert broadcast(rows[20:], "second.csv", "--no-poll").returncode == ExitCode.OK
    again = broadcast(rows, "all.csv", "--json")
    assert again.returncode == ExitCode.OK, again.stderr
    # A new fake does not know the earlier ids: each keeps its journaled status.
    assert json.loads(again.stdout)["counts"] == {"delivered": 20, "accepted": 20}
    assert "This fake is new and does not know the earlier run's texts" in " ".join(
        again.stderr.split()
    )
    progress = [line for line in again.stderr.splitlines() if "40/40" in line]
    assert progress, again.stderr
    assert "accepted 40 " in progress[-1]  # as many as the results say were sent


def test_name_is_recorded_in_a_file_journal_and_a_different_one_refused(cli, tmp_path):
    recipients = tmp_path / "numbers.txt"
    recipients.write_text("09174000001\n09174000002\n")
    journal = str(tmp_path / "j.sqlite")
    command = ["broadcast", str(recipients), "-m", "Hi", "--journal", journal]
    code, _, _ = cli(*command, "--name", "june-bills")
    assert code == ExitCode.OK
    code, _, err = cli(*command, "--name", "july-bills")
    assert code == ExitCode.BAD_INPUT
    assert "holds the broadcast 'june-bills'" in err
    code, summary, _ = cli.json(*command, "--name", "june-bills")
    assert code == ExitCode.OK
    assert summary["counts"] == {"delivered": 2}
    assert cli.fake.texts_to("09174000001") == ["Hi"]  # resumed, not resent


def test_a_postgres_journal_is_named_after_the_file_and_resumes(
    cli, tmp_path, postgres_url
):
    recipients = tmp_path / "june.txt"
    recipients.write_text("09174100001\n09174100002\n09174100003\n")
    command = ["broadcast", str(recipients), "-m", "Hi", "--journal", postgres_url]
    code, _, _ = cli(*command)
    assert code == ExitCode.OK
    code, summary, _ = cli.json(*command)
    assert code == ExitCode.OK
    assert summary["counts"] == {"delivered": 3}
    for number in ("09174100001", "09174100002", "09174100003"):
        assert cli.fake.texts_to(number) == ["Hi"]
    import psycopg  # noqa: PLC0415 -- only with a server

    with psycopg.connect(postgres_url) as db:
        names = db.execute("SELECT DISTINCT broadcast FROM iprogsms_recipients")
        assert [row[0] for row in names] == ["june.txt"]
