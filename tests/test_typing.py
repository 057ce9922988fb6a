"""A user's typo in a status, a fault's name or a broadcast option fails mypy.

Runs mypy on a small program the way a user's project would be checked, and
asserts it reports exactly the lines marked ``# error``, and nothing else.
"""

import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from iprogsms_async.testing import FaultChanges, Faults

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """\
from iprogsms_async import (
    BroadcastOptionChanges,
    BroadcastOptions,
    BroadcastReport,
    BroadcastResult,
    GatewayStatus,
    IProgSMS,
)
from iprogsms_async.broadcast import ACCEPTED, UNKNOWN
from iprogsms_async.testing import FakeGateway, FaultChanges


def statuses(report: BroadcastReport, result: BroadcastResult) -> None:
    report.with_status("unknown", "delivered", "accepted", "dry_run")
    report.with_status(ACCEPTED, UNKNOWN, GatewayStatus("Held-By-Carrier"))
    report.with_status(result.status)
    report.with_status("unkown")  # error
    report.with_status("Held-By-Carrier")  # error


def faults(fake: FakeGateway, changes: FaultChanges) -> None:
    fake.update_faults(rate_limit=0.2, retry_after=None, latency=(0.0, 0.1))
    fake.update_faults(endpoints="sends", html_status=502)
    fake.update_faults(**changes)
    fake.update_faults(rate_limt=0.2)  # error
    fake.update_faults(rate_limit="often")  # error


async def broadcasts(client: IProgSMS, changes: BroadcastOptionChanges) -> None:
    options = BroadcastOptions(concurrency=5, progress_interval=0.5)
    await client.broadcast(["09171251234"], options=options, message="Hi")
    await client.broadcast(["09171251234"], message="Hi", progress_interval=1.0)
    await client.broadcast(["09171251234"], options=options.replace(poll=False))
    async with client.broadcast_stream(["09171251234"], **changes) as results:
        async for result in results:
            result.status
    await client.broadcast(["09171251234"], concurency=5)  # error
    await client.broadcast(["09171251234"], poll="no")  # error
    await client.broadcast(["09171251234"], options={"poll": False})  # error
    BroadcastOptions(dry_run="yes")  # error
    options.replace(concurency=5)  # error
"""


@pytest.mark.timeout(600)  # a cold mypy cache analyses httpx, anyio and attrs
def test_mypy_strict_catches_typos_in_statuses_and_fault_names(tmp_path):
    pytest.importorskip("mypy")
    program = tmp_path / "user_code.py"
    program.write_text(PROGRAM, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(program)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    reported = {
        int(match.group(1))
        for match in re.finditer(r"user_code\.py:(\d+): error", result.stdout)
    }
    expected = {
        number
        for number, line in enumerate(PROGRAM.splitlines(), start=1)
        if line.endswith("# error")
    }
    assert reported == expected, result.stdout + result.stderr


def test_fault_changes_names_every_field_of_faults():
    assert set(FaultChanges.__annotations__) == {
        field.name for field in attrs.fields(Faults)
    }
