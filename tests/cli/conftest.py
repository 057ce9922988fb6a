"""The command line runs against the fake gateway: in-process, or served on loopback."""

from __future__ import annotations

import json

import pytest

from iprogsms_async.cli import run
from iprogsms_async.testing import FakeGateway


class CLI:
    """Runs ``iprogsms`` in-process against a fake served over loopback HTTP."""

    def __init__(self, capsys, monkeypatch, fake, base_url):
        self.capsys = capsys
        self.fake = fake
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", fake.token)
        monkeypatch.setenv("COLUMNS", "200")

    def __call__(self, *argv):
        self.capsys.readouterr()
        code = run(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv):
        code, out, err = self(*argv, "--json")
        return code, json.loads(out), err


@pytest.fixture(scope="module")
def served_fake():
    fake = FakeGateway(seed=3)
    with fake.serve_in_thread() as base_url:
        yield fake, base_url


@pytest.fixture
def cli(capsys, monkeypatch, served_fake):
    fake, base_url = served_fake
    return CLI(capsys, monkeypatch, fake, base_url)
