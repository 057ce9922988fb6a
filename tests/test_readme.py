"""The README's client examples run as written, against the fake gateway over HTTP."""

import re
import textwrap
from pathlib import Path

import pytest

from iprogsms_async.testing import FakeGateway

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.skipif(
    not README.exists(), reason="no README beside the tests"
)


def block_after(heading: str) -> str:
    """The first python code block of the section with this heading."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.fixture
def served(monkeypatch):
    fake = FakeGateway(token="...", seed=1)
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", "...")
        yield fake


def test_the_quick_start_runs_as_written(served, capsys):
    exec(compile(block_after("Quick start"), "README quick start", "exec"), {})  # noqa: S102
    message_id, status = capsys.readouterr().out.split()
    assert served.message(message_id).phone_number == "09171251234"
    assert status == "delivered"  # the fake delivers at once unless told otherwise


def test_every_operation_runs_as_written(served):
    body = textwrap.indent(block_after("Every operation"), "    ")
    program = f"import anyio\n\nasync def _main():\n{body}\n\nanyio.run(_main)\n"
    exec(compile(program, "README every operation", "exec"), {})  # noqa: S102
    assert served.texts_to("09171251234")  # the single send, the bulk one, the OTP
    assert served.reminders == {}  # created, then deleted
