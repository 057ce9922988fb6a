"""The broadcasts page's examples run as written; its option table is the real one."""

import re

import attrs
import pytest

from iprogsms_async import BroadcastOptions, InsufficientCreditsError
from iprogsms_async.testing import FakeGateway

from ..doc_blocks import ROOT, code_block, run_async_block

PAGE = "docs/broadcasts.md"

NUMBERS = ["0917 125 1234", "+639181234567", "12345", "09171251234"]
"""Two good numbers, a malformed one, and the first again (a duplicate)."""


@pytest.fixture
def served(monkeypatch):
    fake = FakeGateway(seed=1)
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", fake.token)
        yield fake


def test_the_file_broadcast_runs_as_written(
    served, anyio_backend, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "customers.csv").write_text(
        "phone_number,message\n"
        "0917 125 1234,\n"
        "09181234567,Your order has shipped\n"
        "12345,\n"
        "09191234567,\n",
        encoding="utf-8",
    )
    served.fail_next("server_error_after_accept", endpoints="sends")
    found = run_async_block(
        code_block(PAGE, "Broadcasts"), {}, backend=anyio_backend, name="broadcasts"
    )
    report = found["report"]
    assert report.counts == {"delivered": 2, "unknown": 1}
    out = capsys.readouterr().out
    (unknown,) = report.with_status("unknown")
    line = found["recipients"].lines[unknown.index]
    assert f"line {line}: {unknown.phone_number} unknown: " in out
    assert re.search(r"^line 4: .*12345", out, re.MULTILINE), out
    assert (tmp_path / "bills-2025-03.sqlite").exists()
    assert sorted(m.message for m in served.messages) == [
        "Your bill is due on the 8th",
        "Your bill is due on the 8th",
        "Your order has shipped",
    ]


@pytest.mark.iprogsms(credits=2)
def test_running_out_of_credits_runs_as_written(
    iprogsms_client, iprogsms_fake, anyio_backend, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    numbers = [f"0917125{n:04}" for n in range(5)]
    namespace = {
        "client": iprogsms_client,
        "numbers": numbers,
        "text": "Hello",
        "InsufficientCreditsError": InsufficientCreditsError,
    }
    code = code_block(PAGE, "How it runs")
    found = run_async_block(code, namespace, backend=anyio_backend, name="credits")
    assert capsys.readouterr().out == "3 not sent: top up and run again\n"
    assert found["report"].counts == {"delivered": 2, "not_sent": 3}
    assert (tmp_path / "j.sqlite").exists()
    assert len(iprogsms_fake.messages) == 2


def test_the_preflight_runs_as_written(iprogsms_client, iprogsms_fake, anyio_backend):
    namespace = {"client": iprogsms_client, "numbers": NUMBERS, "text": "Hi €"}
    code = code_block(PAGE, "Preflight")
    found = run_async_block(code, namespace, backend=anyio_backend, name="preflight")
    estimate = found["estimate"]
    assert (estimate.valid, estimate.invalid, estimate.duplicates) == (2, 1, 1)
    assert estimate.segments == 2  # one GSM-7 part for each valid recipient
    assert iprogsms_fake.messages == []


def test_the_stream_runs_as_written(
    iprogsms_client, iprogsms_fake, anyio_backend, capsys
):
    saved = []
    namespace = {
        "client": iprogsms_client,
        "numbers": NUMBERS,
        "text": "Hello",
        "save": saved.append,
    }
    code = code_block(PAGE, "Streaming")
    run_async_block(code, namespace, backend=anyio_backend, name="streaming")
    assert sorted(result.status for result in saved) == [
        "delivered",
        "delivered",
        "duplicate",
        "invalid",
    ]
    assert len(capsys.readouterr().out.splitlines()) == len(NUMBERS)
    assert len(iprogsms_fake.messages) == 2


def test_the_option_table_lists_every_option_with_its_real_default():
    page = (ROOT / PAGE).read_text(encoding="utf-8")
    section = page.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|", section, re.MULTILINE)
    options = attrs.fields(BroadcastOptions)
    assert [name for name, _ in rows] == [option.name for option in options]
    for (name, shown), option in zip(rows, options, strict=True):
        if name == "non_final_statuses":
            assert set(shown.split(", ")) == set(option.default)
        else:
            assert shown == f"`{option.default!r}`", name


def test_an_options_object_runs_as_written(
    iprogsms_client, iprogsms_fake, anyio_backend
):
    namespace = {"client": iprogsms_client, "numbers": NUMBERS[:2]}
    found = run_async_block(
        code_block(PAGE, "Broadcasts", index=1),
        namespace,
        backend=anyio_backend,
        name="options",
    )
    nightly, quiet = found["nightly"], found["quiet"]
    assert (nightly.concurrency, nightly.rate_limit) == (20, 10.0)
    assert (quiet.concurrency, quiet.poll, quiet.on_progress) == (20, False, None)
    assert found["report"].counts == {"delivered": 2}
    assert sorted(m.message for m in iprogsms_fake.messages) == ["Your bill is due"] * 2
