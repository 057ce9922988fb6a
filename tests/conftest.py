"""Shared fixtures: both event loops, a token, respx, retries without waiting.

And the token audit, for every test of the suite: no API token the tests use
may appear in a log record (every logger, at DEBUG, from any thread), in the
text of an `IProgSMSError` (with its chained causes), in the text of an
exception a test ends with, or in a test's captured output. Response bodies
kept in ``APIError.body`` are data, not text shown to anyone, and are not
audited (some tests put the token there on purpose to see it redacted).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import threading

import anyio
import pytest
import respx

from iprogsms_async import IProgSMS, IProgSMSError
from iprogsms_async.testing import FakeGateway, set_testing

from .servers import (  # noqa: F401 -- fixtures for the tests of the stores
    iprogsms_postgresql_database,
    iprogsms_postgresql_server,
    iprogsms_redis_server,
    postgres_url,
    redis_key,
    redis_url,
)
from .support import BASE, TOKEN, exception_text


def pytest_collection_finish(session: pytest.Session) -> None:
    """Import now what anyio and hypothesis would import lazily, mid-test.

    pytest rewrites the modules of a pytest plugin's package (both are
    plugins) when they are first imported, and CPython 3.11.7's parser can
    fail with "SystemError: AST constructor recursion depth mismatch" when
    that comes deep in a test's stack (a fuzz test's shrinking does). Not at
    conftest import: hypothesis warns of work done while plugins load.
    """
    for name in dir(anyio):
        getattr(anyio, name)
    importlib.import_module("hypothesis.internal.conjecture.optimiser")
    importlib.import_module("hypothesis.strategies._internal.regex")


# Every distinctive token the suite uses (short ones like "t" or "wrong" would
# match ordinary words). A test can add its own with the `audited_tokens`
# fixture.
AUDITED_TOKENS = frozenset(
    {
        TOKEN,
        FakeGateway().token,  # the fake's default
        "fake-token-0123456789",  # tests/testing/helpers.py
        "bench-token-0123456789",  # benchmarks
        "env-token",
        "other-token",
        "not-the-token",
        "wrong-token-98765",
    }
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture
def no_backoff():
    """Make computed backoff waits zero; server-given Retry-After still counts."""
    with set_testing(True):
        yield


@pytest.fixture
def gateway():
    """A respx router for the real gateway's base URL; nothing else is reachable."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client(gateway, no_backoff):
    async with IProgSMS(TOKEN) as client:
        yield client


# --- the token audit ---------------------------------------------------------------


class TokenAudit(logging.Handler):
    """A root handler that notes every log record whose text holds a token."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.tokens: set[str] = set(AUDITED_TOKENS)
        self._pattern = _pattern(self.tokens)
        self.leaks: list[str] = []
        self.errors: list[BaseException] = []
        self._errors_lock = threading.Lock()

    def add(self, *tokens: str) -> None:
        self.tokens.update(tokens)
        self._pattern = _pattern(self.tokens)

    def reset(self) -> None:
        self.tokens = set(AUDITED_TOKENS)
        self._pattern = _pattern(self.tokens)
        self.leaks.clear()
        with self._errors_lock:
            self.errors.clear()

    def search(self, text: str) -> re.Match[str] | None:
        return self._pattern.search(text)

    def find(self, text: str) -> str | None:
        match = self._pattern.search(text)
        return None if match is None else match.group()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 -- a bad record is logging's problem
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + exception_text(record.exc_info[1])
        if self.find(text):
            self.leaks.append(f"log record from {record.name!r}: {self.redact(text)}")

    def note_error(self, error: BaseException) -> None:
        with self._errors_lock:
            self.errors.append(error)

    def check_errors(self) -> None:
        with self._errors_lock:
            errors, self.errors = self.errors, []
        for error in errors:
            text = exception_text(error)
            if self.find(text):
                self.leaks.append(f"{type(error).__name__}: {self.redact(text)}")

    def redact(self, text: str) -> str:
        return self._pattern.sub("[TOKEN]", text)[:2000]


def _pattern(tokens: set[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len)[::-1]))


_AUDIT = TokenAudit()
_original_error_init = IProgSMSError.__init__


def _noting_init(self: IProgSMSError, *args: object, **kwargs: object) -> None:
    _original_error_init(self, *args, **kwargs)  # type: ignore[arg-type]
    _AUDIT.note_error(self)


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_AUDIT)
    # Every IProgSMSError is noted where it is made, and its text (and its
    # causes', known by then) is checked after the test.
    IProgSMSError.__init__ = _noting_init  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_AUDIT)
    IProgSMSError.__init__ = _original_error_init  # type: ignore[method-assign]


# Loggers raised to DEBUG for the audit, and the level each had before.
AUDITED_LOGGERS = ("iprogsms_async", "httpx", "httpcore", "uvicorn")


class _AsBefore(logging.Filter):
    """On pytest's own log handlers: let a record through only if the levels
    before the audit raised them would have, so that pytest captures (and
    keeps in memory, and shows) what it would have anyway."""

    def __init__(self) -> None:
        super().__init__()
        self.thresholds: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        thresholds = self.thresholds
        if not thresholds:
            return True
        top = record.name.partition(".")[0]
        threshold = thresholds.get(top)
        if threshold is None or record.levelno >= threshold:
            return True
        # A level set below the audited logger decided, as it did before.
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger.name != top:
            if logger.level:
                return True
            logger = logger.parent
        return False


_AS_BEFORE = _AsBefore()


def _gate_pytest_handlers(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    for name in ("caplog_handler", "report_handler", "log_file_handler"):
        handler = getattr(plugin, name, None)
        if handler is not None and _AS_BEFORE not in handler.filters:
            handler.addFilter(_AS_BEFORE)


@contextlib.contextmanager
def _debug_for_the_audit():
    loggers = [logging.getLogger(name) for name in AUDITED_LOGGERS]
    saved = [(logger, logger.level) for logger in loggers]
    _AS_BEFORE.thresholds = {
        logger.name: logger.getEffectiveLevel() for logger in loggers
    }
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)
        _AS_BEFORE.thresholds = {}


@pytest.fixture(autouse=True)
def _token_audit(request):
    """Log the libraries at DEBUG (unless the test reads caplog), then check it all.

    A test that asserts on ``caplog`` keeps the logging levels it sets itself:
    its records are audited all the same, at those levels.
    """
    _gate_pytest_handlers(request.config)
    _AUDIT.reset()
    debug = (
        contextlib.nullcontext()
        if "caplog" in request.fixturenames
        else _debug_for_the_audit()
    )
    with debug:
        yield _AUDIT
    _AUDIT.check_errors()
    leaks, _AUDIT.leaks = _AUDIT.leaks, []
    if leaks:
        pytest.fail(
            "TOKEN AUDIT: an API token appears in\n  " + "\n  ".join(leaks[:10]),
            pytrace=False,
        )


@pytest.fixture
def audited_tokens(_token_audit):
    """Add tokens to audit in this test: ``audited_tokens.add("my-token")``."""
    return _token_audit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail a test whose exception or captured output shows a token, redacted."""
    report = yield
    texts = {  # this phase's own: a later report repeats the earlier ones
        name.lower(): content
        for name, content in report.sections
        if name.endswith(f" {call.when}")
    }
    if call.excinfo is not None:
        texts["exception"] = exception_text(call.excinfo.value)
    for where, text in texts.items():
        match = _AUDIT.search(text)
        if match is None:
            continue
        around = text[max(0, match.start() - 300) : match.end() + 100]
        original = _AUDIT.redact(str(report.longrepr or ""))
        report.outcome = "failed"
        report.longrepr = (
            f"TOKEN AUDIT: an API token appears in the {where} of the "
            f"{call.when} phase:\n...{_AUDIT.redact(around)}...\n\n{original}"
        )
        report.sections = [
            (name, _AUDIT.redact(content)) for name, content in report.sections
        ]
        break
    return report
