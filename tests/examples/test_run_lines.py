"""Each web example says how to run it against the sandbox, and it works so.

The run line in each docstring is started for real, against a served fake,
and one text is sent through the app it starts.
"""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from iprogsms_async.cli._parser import DEFAULT_PORT
from iprogsms_async.testing import FakeGateway

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("fastapi_app.py", "aiohttp_app.py")


def run_line(name):
    """The docstring's command (backslash continuation joined), as argv with env."""
    doc = (ROOT / "examples" / name).read_text(encoding="utf-8").split('"""')[1]
    assert "iprogsms sandbox serve" in doc
    assert '".[examples]"' in doc
    match = re.search(r"\n    (IPROGSMS_BASE_URL=.*?\\\n\s+.*?)\n", doc)
    assert match, doc
    words = shlex.split(match.group(1).replace("\\\n", " "))
    env = dict(word.split("=", 1) for word in words if "=" in word[:20])
    argv = [word for word in words if "=" not in word[:20]]
    return env, argv


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_run_line_points_at_what_sandbox_serve_serves(name):
    env, argv = run_line(name)
    assert env == {
        "IPROGSMS_BASE_URL": f"http://127.0.0.1:{DEFAULT_PORT}/api/v1",
        "IPROGSMS_API_TOKEN": "test-token",
    }
    assert "8000" in argv  # not the sandbox's own port


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_run_line_starts_an_app_that_texts_through_the_sandbox(name):
    env, argv = run_line(name)
    fake = FakeGateway(token=env["IPROGSMS_API_TOKEN"], seed=4)
    port = free_port()
    argv = [str(port) if word == "8000" else word for word in argv]
    if argv[0] == "python":
        argv[0] = sys.executable
    else:  # a console script installed beside this Python
        argv[0] = str(Path(sys.executable).with_name(argv[0]))
    with fake.serve_in_thread() as base_url:
        app = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env, "IPROGSMS_BASE_URL": base_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = httpx.post(
                        f"http://127.0.0.1:{port}/texts",
                        json={"phone_number": "09171234567", "message": "Hi"},
                        timeout=30,
                    )
                    break
                except httpx.TransportError:
                    assert app.poll() is None, app.communicate()[1]
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
        finally:
            app.terminate()
            app.communicate(timeout=30)
    assert answer.status_code == 200, answer.text
    assert fake.texts_to("09171234567") == ["Hi"]


def test_the_examples_extra_installs_what_they_run_on():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = pyproject["project"]["optional-dependencies"]["examples"]
    names = {re.split(r"[<>=\[; ]", requirement)[0] for requirement in wanted}
    assert {"fastapi", "aiohttp", "uvicorn", "procrastinate", "psycopg"} <= names
