"""Every subcommand, run as a user would, against the fake gateway over HTTP."""

import os
import stat

import pytest

from iprogsms_async.cli import ExitCode, run


def test_send_then_status(cli):
    code, sent, _ = cli.json(
        "send", "0917 125 1234", "-m", "Your bill is due", "--provider", "2"
    )
    assert code == ExitCode.OK
    assert sent["phone_number"] == "09171251234"
    recorded = cli.fake.message(sent["message_id"])
    assert recorded.message == "Your bill is due"
    assert recorded.sms_provider == 2
    code, status, _ = cli.json("status", sent["message_id"])
    assert code == ExitCode.OK
    assert status == {"message_id": sent["message_id"], "status": "delivered"}


def test_send_prints_a_table_without_json(cli):
    code, out, _ = cli("send", "09171251234", "-m", "Hi")
    assert code == ExitCode.OK
    assert "message_id" in out
    assert "iSms-" in out
    assert "09171251234" in out


def test_send_bulk(cli):
    code, sent, _ = cli.json("send-bulk", "09171111111", "+639182222222", "-m", "Hello")
    assert code == ExitCode.OK
    assert [s["phone_number"] for s in sent] == ["09171111111", "09182222222"]
    assert all(cli.fake.message(s["message_id"]).message == "Hello" for s in sent)


def test_credits(cli):
    code, credits, _ = cli.json("credits")
    assert code == ExitCode.OK
    assert credits == {"load_balance": float(cli.fake.credits)}


def test_reminders_create_get_update_delete(cli):
    code, created, _ = cli.json(
        "reminders",
        "create",
        "09171251234",
        "-m",
        "Internet Bill.",
        "--at",
        "2030-03-08 05:00AM",
    )
    assert code == ExitCode.OK
    assert created["scheduled_at"] == "2030-03-08T05:00:00+08:00"
    reminder_id = str(created["id"])
    code, got, _ = cli.json("reminders", "get", reminder_id)
    assert got["message"] == "Internet Bill."
    code, updated, _ = cli.json(
        "reminders", "update", reminder_id, "--at", "2030-03-08T06:30"
    )
    assert code == ExitCode.OK
    assert updated["scheduled_at"] == "2030-03-08T06:30:00+08:00"
    code, deleted, _ = cli.json("reminders", "delete", reminder_id)
    assert code == ExitCode.OK
    assert deleted["id"] == created["id"]
    assert int(reminder_id) not in cli.fake.reminders


def test_detect(cli):
    code, network, _ = cli.json("detect", "09181234567")
    assert code == ExitCode.OK
    assert network["network"] == "Smart/TNT"
    assert network["is_smart_tnt"] is True


def test_otp_send_and_verify(cli):
    code, sent, _ = cli.json("otp", "send", "09175550000", "--expires-in", "5")
    assert code == ExitCode.OK
    assert sent["otp_code"] == cli.fake.otp_for("09175550000")
    code, verified, _ = cli.json("otp", "verify", "09175550000", sent["otp_code"])
    assert code == ExitCode.OK
    assert verified == {"phone_number": "09175550000", "verified": True}
    code, again, _ = cli.json("otp", "verify", "09175550000", sent["otp_code"])
    assert code == ExitCode.API  # used up
    assert again["verified"] is False


def test_bad_input_exits_2_before_any_request(cli):
    before = sum(cli.fake.requests.values())
    code, _, err = cli("send", "12345", "-m", "hi")
    assert code == ExitCode.BAD_INPUT
    assert "not a Philippine mobile number" in err
    code, error, _ = cli.json("send", "09171251234", "-m", "   ")
    assert code == ExitCode.BAD_INPUT
    assert error["error"] == "ValidationError"
    assert error["maybe_sent"] is False
    assert sum(cli.fake.requests.values()) == before


def test_an_api_error_exits_3_and_says_whether_it_may_have_been_sent(cli):
    cli.fake.fail_next("server_error_after_accept", endpoints="sends")
    code, error, _ = cli.json("send", "09171251234", "-m", "maybe")
    assert code == ExitCode.API
    assert error["error"] == "ServerError"
    assert error["maybe_sent"] is True
    code, _, err = cli("status", "iSms-nope")
    assert code == ExitCode.API
    assert "404" in err


def test_no_token_is_bad_input(cli, monkeypatch):
    monkeypatch.delenv("IPROGSMS_API_TOKEN")
    code, _, err = cli("credits")
    assert code == ExitCode.BAD_INPUT
    assert "IPROGSMS_API_TOKEN" in err
    assert "--token-file" in err


def test_the_token_can_come_from_a_file(cli, monkeypatch, tmp_path):
    monkeypatch.delenv("IPROGSMS_API_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text(cli.fake.token + "\n")
    token_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
    code, credits, err = cli.json("credits", "--token-file", str(token_file))
    assert code == ExitCode.OK
    assert "load_balance" in credits
    assert "warning" not in err
    if os.name == "posix":
        token_file.chmod(0o644)
        code, _, err = cli.json("credits", "--token-file", str(token_file))
        assert code == ExitCode.OK
        assert "readable by other users" in err


def test_a_wrong_token_is_an_api_error_that_never_shows_the_token(cli, monkeypatch):
    monkeypatch.setenv("IPROGSMS_API_TOKEN", "wrong-secret-token")
    code, out, err = cli("credits")
    assert code == ExitCode.API
    assert "401" in err
    assert "wrong-secret-token" not in out + err


def test_there_is_no_token_argument():
    with pytest.raises(SystemExit) as caught:
        run(["credits", "--token", "abc"])
    assert caught.value.code == 2


def test_sandbox_runs_any_command_without_a_token(cli, monkeypatch):
    monkeypatch.delenv("IPROGSMS_API_TOKEN")
    monkeypatch.delenv("IPROGSMS_BASE_URL")
    before = len(cli.fake.messages)
    code, sent, err = cli.json("send", "09171251234", "-m", "sandboxed", "--sandbox")
    assert code == ExitCode.OK
    assert sent["message_id"].startswith("iSms-")
    assert "sandbox" in err
    assert len(cli.fake.messages) == before  # the served fake saw nothing
