"""``iprogsms broadcast-status``: a broadcast's progress, one query of its journal."""

import pytest

from iprogsms_async.cli import ExitCode


def write_numbers(path, count, first=1):
    path.write_text("".join(f"0917420{first + i:04d}\n" for i in range(count)))
    return path


def test_a_sqlite_journal_shows_the_counts_the_broadcast_reported(cli, tmp_path):
    recipients = write_numbers(tmp_path / "may.txt", 4)
    code, summary, _ = cli.json("broadcast", str(recipients), "-m", "Hi")
    assert code == ExitCode.OK
    journal = f"{recipients}.journal.sqlite"
    code, status, err = cli.json("broadcast-status", "--journal", journal)
    assert (code, err) == (ExitCode.OK, "")
    assert status["recipients"] == 4
    assert status["accepted"] == 4
    assert status["delivered"] == summary["counts"].get("delivered", 0)
    assert status["failed"] == summary["counts"].get("failed", 0)
    assert status["delivered"] + status["failed"] == status["settled"] == 4
    assert (status["unknown"], status["sending"], status["not sent"]) == (0, 0, 0)
    # For people: a table with the same words.
    code, out, _ = cli("broadcast-status", "--journal", journal)
    assert code == ExitCode.OK
    assert "recipients" in out
    assert "accepted" in out
    assert "4" in out


def test_a_postgres_journal_is_read_by_name(cli, tmp_path, postgres_url):
    recipients = write_numbers(tmp_path / "june.txt", 3, first=101)
    code, _, _ = cli(
        "broadcast", str(recipients), "-m", "Hi", "--journal", postgres_url,
        "--name", "june", "--no-poll",
    )  # fmt: skip
    assert code == ExitCode.OK
    code, status, _ = cli.json(
        "broadcast-status", "--journal", postgres_url, "--name", "june"
    )
    assert code == ExitCode.OK
    assert (status["recipients"], status["accepted"], status["still polled"]) == (
        3,
        3,
        3,
    )
    code, out, err = cli("broadcast-status", "--journal", postgres_url)
    assert code == ExitCode.BAD_INPUT
    assert out == ""
    assert "needs a broadcast name" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli("broadcast-status", "--journal", postgres_url, "--name", "july")
    assert code == ExitCode.BAD_INPUT
    assert "no broadcast named 'july'" in err


@pytest.mark.parametrize(
    ("journal", "message"),
    [
        ("{tmp}/missing.sqlite", "no journal at"),
        ("redis://127.0.0.1/0", "not a redis:// URL"),
    ],
)
def test_a_journal_that_is_not_there_is_one_line_and_exit_2(
    cli, tmp_path, journal, message
):
    code, out, err = cli("broadcast-status", "--journal", journal.format(tmp=tmp_path))
    assert code == ExitCode.BAD_INPUT
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
    code, document, _ = cli.json(
        "broadcast-status", "--journal", journal.format(tmp=tmp_path)
    )
    assert code == ExitCode.BAD_INPUT
    assert message in document["message"]


def test_the_journal_is_required(cli):
    with pytest.raises(SystemExit) as exit_:
        cli("broadcast-status")
    assert exit_.value.code == ExitCode.BAD_INPUT
