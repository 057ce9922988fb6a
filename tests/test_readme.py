"""The README's examples run as written, against the fake gateway over HTTP."""

from collections import Counter

import pytest

from iprogsms_async.testing import FakeGateway

from .doc_blocks import code_block, run_async_block


@pytest.fixture
def served(monkeypatch):
    fake = FakeGateway(token="...", seed=1)
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", "...")
        yield fake


def test_the_first_example_runs_as_written(served, anyio_backend, capsys):
    code = code_block("README.md", "iprogsms-async")
    run_async_block(code, {}, backend=anyio_backend, name="README first example")
    message_id = capsys.readouterr().out.strip()
    assert served.message(message_id).message == "Your bill is due on the 8th"


def test_the_quick_start_runs_as_written(served, capsys):
    code = code_block("README.md", "Quick start")
    exec(compile(code, "README quick start", "exec"), {})  # noqa: S102
    message_id, status = capsys.readouterr().out.split()
    assert served.message(message_id).phone_number == "09171251234"
    assert status == "delivered"  # the fake delivers at once unless told otherwise


def test_the_broadcast_runs_as_written_and_resumes(
    served, anyio_backend, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code = code_block("README.md", "A broadcast")
    run_async_block(code, {}, backend=anyio_backend, name="README broadcast")
    assert capsys.readouterr().out.strip() == "Counter({'delivered': 3})"
    assert (tmp_path / "bills-2025-03.sqlite").exists()
    assert sorted(m.phone_number for m in served.messages) == [
        "09171251234",
        "09181234567",
        "09181234568",
    ]
    # Run again, as the comment says: the journal sends no one a second text.
    run_async_block(code, {}, backend=anyio_backend, name="README broadcast")
    assert capsys.readouterr().out.strip() == "Counter({'delivered': 3})"
    assert len(served.messages) == 3
    assert served.requests["POST /sms_messages"] == 3


def test_the_testing_example_runs_as_written(anyio_backend):
    code = code_block("README.md", "Testing your code")
    found = run_async_block(code, {}, backend=anyio_backend, name="README testing")
    assert found["sent"].phone_number == "09171251234"
    assert Counter(found["fake"].requests) == Counter({"POST /sms_messages": 1})
