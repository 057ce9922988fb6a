"""The command line page's commands work as a sequence against a served sandbox."""

import re
import shlex

from iprogsms_async.cli import ExitCode, run
from iprogsms_async.cli._parser import DEFAULT_PORT
from iprogsms_async.testing import FakeGateway

from ..doc_blocks import code_block


def commands_block():
    return code_block("docs/cli.md", "Command line", language="console").splitlines()


def test_the_command_line_list_runs_in_order_against_sandbox_serve(capsys, monkeypatch):
    lines = commands_block()
    assert lines[0].startswith("$ iprogsms sandbox serve ")
    export = shlex.split(lines[1].removeprefix("$ "), comments=True)
    assert export[0] == "export"
    env = dict(word.split("=", 1) for word in export[1:])
    assert env["IPROGSMS_BASE_URL"] == f"http://127.0.0.1:{DEFAULT_PORT}/api/v1"
    # What `iprogsms sandbox serve` serves by default, on a free port here.
    fake = FakeGateway(token=env["IPROGSMS_API_TOKEN"], credits=1_000_000, seed=None)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("IPROGSMS_API_TOKEN", env["IPROGSMS_API_TOKEN"])
    printed = {}
    out = ""
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        for number, line in enumerate(lines[2:], start=2):
            if not line.startswith("$ "):
                assert out.strip() == line  # the output the page shows
                continue
            argv = shlex.split(line.removeprefix("$ "), comments=True)[1:]
            argv = [printed.get(word, word) for word in argv]
            capsys.readouterr()
            code = run(argv)
            out = capsys.readouterr().out
            assert code == ExitCode.OK, (number, line, out)
            if argv[0] == "send":
                printed["iSms-XHYBk"] = re.search(r"iSms-\w+", out).group()
            if argv[:2] == ["otp", "send"]:
                printed["123456"] = fake.otp_for("09171251234")
    assert fake.reminders == {}  # created, updated and deleted
