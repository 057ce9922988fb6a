"""The client guide's examples run as written; its option list is the real one."""

import ast
import inspect

import httpx
import pytest

from iprogsms_async import IProgSMS
from iprogsms_async.testing import FakeGateway

from .doc_blocks import code_block, run_async_block


@pytest.fixture
def served(monkeypatch):
    fake = FakeGateway(token="...", seed=1)
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", "...")
        yield fake


def test_every_operation_runs_as_written(served, anyio_backend):
    code = code_block("docs/client.md", "Every operation")
    run_async_block(code, {}, backend=anyio_backend, name="docs every operation")
    assert served.texts_to("09171251234")  # the single send, the bulk one, the OTP
    assert served.reminders == {}  # created, then deleted


def test_the_configuration_lists_every_option_with_its_real_default():
    call = ast.parse(code_block("docs/client.md", "Configuration"), mode="eval").body
    assert isinstance(call, ast.Call)
    assert ast.unparse(call.func) == "IProgSMS"
    shown = {keyword.arg: keyword.value for keyword in call.keywords}
    parameters = inspect.signature(IProgSMS).parameters
    assert list(shown) == list(parameters)
    for name, value in shown.items():
        default = eval(ast.unparse(value), {"httpx": httpx})  # noqa: S307 -- our docs
        assert default == parameters[name].default, name
