"""The broadcast is a layer on top of the core: it never reaches into the client."""

from __future__ import annotations

import ast
from pathlib import Path

import iprogsms_async
from iprogsms_async import _sender
from iprogsms_async.broadcast._sender import Sender

BROADCAST = Path(iprogsms_async.__file__).parent / "broadcast"
# The core modules the broadcast may import: below the client, above nothing
# of the broadcast's. Never _client, never the request machinery itself.
FORBIDDEN = {
    "_client",
    "_request",
    "_sender",
    "_transports",
    "_pool",
    "_wire",
    "_httpx",
    "_aiohttp",
    "_decoding",
    "resources",
}


def _imported(path):
    """Every module of the package ``path`` imports, at run time or for types."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 2:
            found.add((node.module or "").split(".")[0])
    return found


def test_no_broadcast_module_imports_the_client_or_its_request_machinery():
    for path in sorted(BROADCAST.glob("*.py")):
        assert not _imported(path) & FORBIDDEN, path.name


def test_the_client_hands_the_broadcast_a_sender():
    # Structurally: every method the engine calls, with the same names.
    wanted = {"send", "send_bulk", "status", "credits", "credits_url", "connections"}
    assert wanted <= set(dir(Sender))
    assert wanted <= set(dir(_sender.RequesterSender)) | set(
        _sender.RequesterSender.__slots__
    )
