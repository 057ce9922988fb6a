"""The keep-alive rules: the server's stated timeout, the default, and a close seen."""

import socket

import pytest

from iprogsms_async._keepalive import (
    DEFAULT_KEEPALIVE_EXPIRY,
    InputWatch,
    has_pending_input,
    server_idle_limit,
)
from iprogsms_async._pool import _expiry
from iprogsms_async._transports import DEFAULT_AIOHTTP_LIMITS, DEFAULT_LIMITS


@pytest.mark.parametrize(
    ("header", "limit"),
    [
        ("timeout=5, max=100", 4.0),  # Apache's: a second before the server
        ("timeout=5", 4.0),
        ("max=100, timeout=75", 74.0),
        ("Timeout = 2", 1.0),
        ('timeout="1"', 0.5),  # under 2 s: half of it
        ("timeout=1", 0.5),
        ("timeout=0.5", 0.25),
        ("timeout=0", 0.0),  # the server keeps nothing: never reuse
    ],
)
def test_a_stated_timeout_gives_a_limit_before_it(header, limit):
    assert server_idle_limit(header) == limit


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "max=100",
        "timeout=",
        "timeout=soon",
        "timeout=-1",
        "timeout=inf",
        "timeout=nan",
    ],
)
def test_no_usable_timeout_gives_no_limit(header):
    assert server_idle_limit(header) is None


def test_a_connection_expires_at_the_sooner_of_the_pool_and_the_server():
    assert _expiry(4.0, None) == 4.0
    assert _expiry(4.0, "timeout=1") == 0.5
    assert _expiry(4.0, "timeout=75") == 4.0
    assert _expiry(None, "timeout=2") == 1.0
    assert _expiry(None, None) is None


def test_the_default_expiry_is_below_common_server_timeouts():
    # Apache, Node.js, uvicorn and lighttpd close idle connections after 5 s.
    assert 0 < DEFAULT_KEEPALIVE_EXPIRY <= 4.0
    for limits in (DEFAULT_LIMITS, DEFAULT_AIOHTTP_LIMITS):
        assert limits.keepalive_expiry == DEFAULT_KEEPALIVE_EXPIRY


def test_pending_input_tells_a_closed_peer_from_a_quiet_one():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not has_pending_input(ours)  # idle, open: reusable
        theirs.close()
        assert has_pending_input(ours)  # the peer's close is there to read
    assert has_pending_input(ours)  # closed on our side: gone
    assert has_pending_input(None)


def test_one_watch_answers_each_look_as_it_comes():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        watch = InputWatch(ours)  # made once a connection, asked before each reuse
        assert [watch.pending(), watch.pending()] == [False, False]
        theirs.sendall(b"HTTP/1.1 400 Bad Request\r\n")  # a protocol break
        assert watch.pending()
        ours.recv(100)
        assert not watch.pending()
        theirs.close()
        assert watch.pending()
    assert InputWatch(None).pending()
