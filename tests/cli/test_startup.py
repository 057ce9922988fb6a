"""``iprogsms --help`` and a mistyped option import nothing heavy.

What they import is deterministic, unlike how long it takes (that is measured
in benchmarks/bench_cli_startup.py).
"""

import json
import subprocess
import sys

import pytest

HEAVY = (
    "rich",
    "uvicorn",
    "aiohttp",
    "httpx",
    "anyio",
    "attrs",
    "iprogsms_async._client",
    "iprogsms_async.broadcast",
    "iprogsms_async.testing",
)

PROGRAM = """
import json, sys
from iprogsms_async.cli import run
try:
    run(sys.argv[1:])
except SystemExit:
    pass
heavy = [name for name in json.loads({heavy!r}) if name in sys.modules]
sys.stderr.write("\\nIMPORTED " + json.dumps(heavy) + "\\n")
"""


def imported_by(*argv):
    program = PROGRAM.format(heavy=json.dumps(HEAVY))
    result = subprocess.run(
        [sys.executable, "-c", program, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    marker = result.stderr.rpartition("IMPORTED ")[2]
    return json.loads(marker)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["broadcast", "--help"],
        ["broadcast-status", "--help"],
        ["broadcast-status"],
        ["sandbox", "serve", "--help"],
        ["demo", "--recipients", "-5"],
        ["--sandbox", "demo"],
        ["--version"],
    ],
)
def test_help_and_mistakes_import_nothing_heavy(argv):
    assert imported_by(*argv) == []


def test_importing_the_package_loads_its_parts_on_first_use():
    program = (
        "import sys, iprogsms_async\n"
        "before = 'httpx' in sys.modules\n"
        "iprogsms_async.IProgSMS\n"
        "print(before, 'httpx' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["False", "True"]


def test_every_public_name_is_where_the_package_says():
    import iprogsms_async  # noqa: PLC0415 -- the lazy loading is the point

    assert set(iprogsms_async._HOMES) | {"__version__"} == set(iprogsms_async.__all__)
    for name in iprogsms_async.__all__:
        assert getattr(iprogsms_async, name) is not None
    assert set(iprogsms_async.__all__) <= set(dir(iprogsms_async))
    with pytest.raises(AttributeError, match="IProgSMs"):
        _ = iprogsms_async.IProgSMs
