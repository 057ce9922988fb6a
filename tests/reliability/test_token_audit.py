"""The token audit of tests/conftest.py sees what it must, and stays out of the way."""

from __future__ import annotations

import logging
import threading

import pytest

from iprogsms_async import APIConnectionError, IProgSMSError

from ..support import TOKEN


def taken(audit):
    """The leaks the audit noted so far, which this test then forgives."""
    audit.check_errors()
    leaks, audit.leaks = list(audit.leaks), []
    return leaks


def test_debug_records_of_the_libraries_are_audited(audited_tokens):
    logging.getLogger("iprogsms_async").debug("sent with %s", TOKEN)
    logging.getLogger("httpcore.http11").debug("trace %s", TOKEN)
    # (No "api_token=" in it: the client's own filter would redact that first.)
    logging.getLogger("httpx").info("HTTP Request: GET /x?token=%s", TOKEN)
    leaks = taken(audited_tokens)
    assert len(leaks) == 3
    assert all(TOKEN not in leak for leak in leaks)  # reported redacted


def test_records_from_another_thread_are_audited(audited_tokens):
    server = threading.Thread(
        target=logging.getLogger("uvicorn.error").debug, args=(f"echo {TOKEN}",)
    )
    server.start()
    server.join()
    assert len(taken(audited_tokens)) == 1


def test_a_test_can_add_its_own_token(audited_tokens):
    logging.getLogger("iprogsms_async").debug("my-own-token-4242")
    assert taken(audited_tokens) == []
    audited_tokens.add("my-own-token-4242")
    logging.getLogger("iprogsms_async").debug("my-own-token-4242")
    assert len(taken(audited_tokens)) == 1


def fail_with_the_token_in_the_cause():
    try:
        int(f"GET https://h/p?api_token={TOKEN} failed")  # raises ValueError
    except ValueError as exc:
        raise APIConnectionError(
            "GET https://h/p failed", method="GET", url="u", maybe_sent=False
        ) from exc


def test_the_chained_cause_of_an_error_is_audited(audited_tokens):
    with pytest.raises(IProgSMSError):
        fail_with_the_token_in_the_cause()
    leaks = taken(audited_tokens)
    assert len(leaks) == 1
    assert leaks[0].startswith("APIConnectionError")


def test_an_error_without_the_token_passes(audited_tokens):
    APIConnectionError("GET https://h/p failed", method="GET", url="u", maybe_sent=True)
    assert taken(audited_tokens) == []


def test_debug_records_do_not_reach_pytests_own_capture(request):
    report = request.config.pluginmanager.get_plugin("logging-plugin").report_handler
    logging.getLogger("iprogsms_async").debug("quiet")
    logging.getLogger("iprogsms_async").warning("loud")
    messages = [record.getMessage() for record in report.records]
    assert "loud" in messages
    assert "quiet" not in messages  # pytest keeps and shows what it did before


def test_a_test_reading_caplog_keeps_its_own_levels(caplog):
    logging.getLogger("iprogsms_async").debug("not shown")
    logging.getLogger("httpx").info("not shown either")
    assert caplog.records == []
