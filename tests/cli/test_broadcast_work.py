"""``iprogsms broadcast work`` and ``broadcast FILE --shared``: many workers at once.

Against a real PostgreSQL. The end-to-end test runs the workers as separate
processes of the console command, as a job system would start them.
"""

import asyncio
import csv
import os
import subprocess
import sys
from collections import Counter

import psycopg
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async.cli import ExitCode
from iprogsms_async.cli._parser import parse_args
from iprogsms_async.testing import FakeGateway, Faults

CLI = [sys.executable, "-m", "iprogsms_async.cli"]


def read_out(path):
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def write_numbers(path, numbers):
    path.write_text("".join(f"{number}\n" for number in numbers))
    return path


def states(url, name):
    with psycopg.connect(url, autocommit=True) as db:
        return Counter(
            state
            for (state,) in db.execute(
                "SELECT state FROM iprogsms_recipients WHERE broadcast = %s", (name,)
            )
        )


def test_workers_in_separate_processes_share_one_broadcast(tmp_path, postgres_url):
    fake = FakeGateway(seed=21, faults=Faults(latency=(0.01, 0.03)))
    numbers = [f"0917500{i:04d}" for i in range(300)]
    recipients = write_numbers(tmp_path / "july.txt", [*numbers, "12345"])
    with fake.serve_in_thread() as base_url:
        env = {
            **os.environ,
            "IPROGSMS_BASE_URL": base_url,
            "IPROGSMS_API_TOKEN": fake.token,
            "COLUMNS": "200",
        }
        common = ["--journal", postgres_url, "--name", "july", "--concurrency", "4"]
        common += ["--lease", "10"]
        commands = [
            ["broadcast", "work", *common, "--out", str(tmp_path / "w1.csv")],
            ["broadcast", "work", *common, "--out", str(tmp_path / "w2.csv")],
            [
                *("broadcast", str(recipients), "-m", "Hi", "--shared", *common),
                *("--out", str(tmp_path / "planner.csv")),
            ],
        ]
        processes = [
            subprocess.Popen(
                [*CLI, *argv, "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for argv in commands
        ]
        outputs = [process.communicate(timeout=240) for process in processes]
    codes = [process.returncode for process in processes]
    # The planner's file has a bad row: it reports it (exit 4, PARTIAL); the
    # workers settled everything they took.
    assert codes == [ExitCode.OK, ExitCode.OK, ExitCode.PARTIAL], outputs
    rows = [
        row
        for name in ("w1", "w2", "planner")
        for row in read_out(tmp_path / f"{name}.csv")
    ]
    assert sorted(int(row["index"]) for row in rows) == list(range(300))
    assert {row["status"] for row in rows} <= {"delivered", "failed"}
    assert '"skipped": [{"line": 301' in outputs[2][0]
    for number in numbers:
        assert fake.texts_to(number) == ["Hi"]
    assert states(postgres_url, "july") == {"final": 300}


def test_broadcast_work_finishes_what_was_planned_and_status_counts_it(
    cli, tmp_path, postgres_url
):
    numbers = [f"0917600{i:04d}" for i in range(40)]

    async def plan():
        async with IProgSMS(
            cli.fake.token, base_url=os.environ["IPROGSMS_BASE_URL"]
        ) as client:
            return await client.broadcast_plan(
                numbers, message="Hello", journal=postgres_url, name="aug"
            )

    planned = asyncio.run(plan())
    assert len(planned) == 0  # nothing invalid or duplicate
    out = tmp_path / "out.csv"
    code, summary, err = cli.json(
        "broadcast", "work", "--journal", postgres_url, "--name", "aug",
        "--out", str(out), "--lease", "5", "--concurrency", "8",
    )  # fmt: skip
    assert code == ExitCode.OK, err
    assert sum(summary["counts"].values()) == 40
    assert sorted(int(row["index"]) for row in read_out(out)) == list(range(40))
    assert {row["line"] for row in read_out(out)} == {""}  # no file here
    for number in numbers:
        assert cli.fake.texts_to(number) == ["Hello"]
    # `broadcast status` is `broadcast-status`: the whole broadcast, by state.
    code, status, _ = cli.json(
        "broadcast", "status", "--journal", postgres_url, "--name", "aug"
    )
    assert code == ExitCode.OK
    assert (status["recipients"], status["settled"], status["waiting"]) == (40, 40, 0)
    assert status["delivered"] + status["failed"] == 40
    assert (
        status
        == cli.json("broadcast-status", "--journal", postgres_url, "--name", "aug")[1]
    )
    # A second worker finds nothing left, and says so in an empty summary.
    code, summary, _ = cli.json(
        "broadcast", "work", "--journal", postgres_url, "--name", "aug"
    )
    assert (code, summary["counts"]) == (ExitCode.OK, {})


def test_a_worker_with_no_plan_gives_up_in_one_line(cli, postgres_url):
    code, _, err = cli(
        "broadcast", "work", "--journal", postgres_url, "--name", "nothing",
        "--plan-timeout", "0.2",
    )  # fmt: skip
    assert code == ExitCode.BAD_INPUT
    assert "no complete plan after 0.2 s" in err
    assert len(err.strip().splitlines()) == 1


def test_shared_needs_a_postgres_journal(cli, tmp_path):
    recipients = write_numbers(tmp_path / "r.txt", ["09177000001"])
    code, _, err = cli("broadcast", str(recipients), "-m", "Hi", "--shared")
    assert code == ExitCode.BAD_INPUT
    assert "shared=True needs a postgresql:// journal" in err
    assert len(err.strip().splitlines()) == 1
    assert cli.fake.texts_to("09177000001") == []


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["broadcast", "work", "--journal", "u", "--name", "n"], "broadcast-work"),
        (["--json", "broadcast", "status", "--journal", "u"], "broadcast-status"),
        (["--timeout", "5", "broadcast", "work", "--journal", "u", "--name", "n"],
         "broadcast-work"),
        (["broadcast", "./work", "-m", "Hi"], "broadcast"),
        (["broadcast", "status.csv", "-m", "Hi"], "broadcast"),
        (["broadcast", "-m", "Hi", "work"], "broadcast"),
    ],
)  # fmt: skip
def test_the_words_after_broadcast_name_its_commands(argv, command):
    args = parse_args(argv)
    assert args.command == command
    if command == "broadcast":
        assert args.recipients in ("./work", "status.csv", "work")


def test_a_file_named_work_is_reached_as_dot_slash_work(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_numbers(tmp_path / "work", ["09177000002"])
    code, summary, err = cli.json("broadcast", "./work", "-m", "Hi", "--no-poll")
    assert code == ExitCode.OK, err
    assert summary["counts"] == {"accepted": 1}
    with pytest.raises(SystemExit) as exited:
        cli("broadcast", "work", "-m", "Hi")
    assert exited.value.code == ExitCode.BAD_INPUT
    err = cli.capsys.readouterr().err
    assert "iprogsms broadcast work: error:" in err
    assert "required: --journal, --name" in err
