"""The fake's side of HTTP: reading a request's fields, writing its answer.

Kept free of any server or client library, so the in-process transport and the
ASGI app share it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "HTML_TYPE",
    "JSON_TYPE",
    "Drop",
    "MalformedBodyError",
    "Reply",
    "error_reply",
    "html_reply",
    "json_reply",
    "read_fields",
    "timestamp",
]

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@attrs.frozen
class Reply:
    """An HTTP answer: status, body and headers besides Content-Type and -Length."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Drop:
    """No complete answer: the connection is closed instead.

    ``processed`` says whether the gateway acted on the request first.
    """

    processed: bool


class MalformedBodyError(ValueError):
    """The request body claims to be JSON (or a form) and is not."""


def read_fields(query: bytes, body: bytes, content_type: str | None) -> dict[str, Any]:
    """Merge the fields of the body and of the query string.

    The gateway is a Rails application (its timestamps and ``status`` fields
    say so), and Rails lets the query string win over the body; so does this.
    A JSON body keeps its types; form and query values are strings.
    """
    fields: dict[str, Any] = {}
    if body:
        fields.update(_body_fields(body, content_type or ""))
    if query:
        fields.update(
            parse_qsl(query.decode("ascii", "replace"), keep_blank_values=True)
        )
    return fields


def _body_fields(body: bytes, content_type: str) -> dict[str, Any]:
    kind = content_type.lower()
    if "json" in kind or (not kind and body.lstrip()[:1] == b"{"):
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            raise MalformedBodyError("the body is not valid JSON") from None
        if not isinstance(decoded, dict):
            raise MalformedBodyError("the JSON body is not an object")
        return decoded
    if "x-www-form-urlencoded" in kind:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise MalformedBodyError("the form body is not UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    return {}


def json_reply(
    status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
) -> Reply:
    """A JSON answer, encoded compactly in UTF-8 as Rails does."""
    return Reply(status, _encode(payload).encode(), JSON_TYPE, headers)


def error_reply(
    status: int,
    message: str,
    data: object = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """The documented error shape: ``{"status": "error", "message", "data"?}``."""
    payload: dict[str, object] = {"status": "error", "message": message}
    if data is not None:
        payload["data"] = data
    return json_reply(status, payload, headers)


def html_reply(status: int, title: str, text: str) -> Reply:
    """An HTML page, as a proxy or the framework answers instead of JSON."""
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f"<title>{title}</title>\n"
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        "</head>\n<body>\n"
        f'<div class="dialog"><h1>{title}</h1><p>{text}</p></div>\n'
        "</body>\n</html>\n"
    )
    return Reply(status, page.encode(), HTML_TYPE)


def timestamp(when: datetime) -> str:
    """An aware datetime as the gateway writes it: ``2025-03-07T16:11:38.937+08:00``."""
    return when.isoformat(timespec="milliseconds")
