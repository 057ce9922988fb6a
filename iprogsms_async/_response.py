"""Reading the gateway's answer: a success body, or the APIError it amounts to.

The gateway is loosely specified, so success is narrow: HTTP 2xx whose JSON
object does not say otherwise in its own ``status`` (``"error"``, or a number
of 400 or more). Everything else becomes an `APIError` subclass that keeps the
status code, the gateway's message and the decoded body.

Whatever is kept of an answer is redacted of the token first (see _redact):
the decoded body, to any depth, before anything reads it (so a model's
``raw`` and an error's ``body`` are both clean), and text before it is cut
to length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from ._redact import Secret, may_hold_a_token, redact, redact_data, shorten
from ._retry import parse_retry_after
from ._validation import lone_surrogate_at

__all__ = [
    "JSONObject",
    "RequestContext",
    "api_error",
    "decode_body",
    "says_out_of_credits",
    "success_body",
]

JSONObject = Mapping[str, Any]

_NOT_JSON = object()
_DECODER = json.JSONDecoder()
_JSON_WHITESPACE = " \t\n\r"
_MESSAGE_KEYS = ("message", "error", "errors", "detail")
_ERROR_WORDS = frozenset({"error", "fail", "failed", "failure"})
_MAX_MESSAGE = 500
_MAX_DEPTH = 20
_MAX_TEXT_BODY = 2000
_MAX_HINT = 80
_TITLE_SPAN = 4096
_FUNDS = r"(?:credits?|balance|load(?!\s*balanc(?:er|ing)))"
_OUT_OF_CREDITS = re.compile(
    # "insufficient credits", "not enough load balance", "out of SMS credits"
    r"\b(?:insufficient|not\s+enough|out\s+of|no(?:\s+more|\s+remaining)?|zero)"
    r"\s+(?:sms\s+|account\s+|load\s+)?" + _FUNDS + r"(?![\w-])"
    # "your balance is insufficient", "credits are exhausted"
    r"|\b" + _FUNDS + r"\s+(?:is\s+|are\s+|was\s+|has\s+been\s+)?"
    r"(?:insufficient|not\s+enough|too\s+low|exhausted|depleted|used\s+up)\b",
    re.IGNORECASE,
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class RequestContext:
    """What an error needs to know about the request it came from."""

    __slots__ = ("method", "secret", "sends_sms", "url")

    def __init__(
        self, method: str, url: str, *, sends_sms: bool, secret: Secret
    ) -> None:
        self.method = method
        self.url = url  # already free of the token
        self.sends_sms = sends_sms
        self.secret = secret


def decode_body(content: bytes) -> Any:
    """Decode a JSON body, redacted of the token.

    The `_NOT_JSON` marker when it is not JSON.
    """
    if not content:
        return _NOT_JSON
    try:
        if content[:2] == b'{"':
            # An object, in UTF-8 (as json.loads would find): read without
            # json.loads' sniffing of the encoding and its regex at each end
            # (a fifth of an answer's cost), unless something follows it.
            text = content.decode("utf-8", "surrogatepass")  # as json.loads does
            body, end = _DECODER.raw_decode(text)
            if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
                return _NOT_JSON  # extra data
        else:
            body = json.loads(content)
    except (ValueError, RecursionError):
        return _NOT_JSON
    # Most answers cannot hold a token at all, and are kept as they came.
    return redact_data(body) if may_hold_a_token(content) else body


def success_body(
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    context: RequestContext,
) -> JSONObject:
    """Return the decoded body of a successful answer, or raise its `APIError`."""
    body = decode_body(content)
    if not 200 <= status_code < 300:
        raise api_error(status_code, headers, content, body, context)
    if not isinstance(body, dict):
        what = "a non-JSON body" if body is _NOT_JSON else "JSON that is not an object"
        raise ResponseFormatError(
            _message(context, f"HTTP {status_code} with {what}", _text_hint(content)),
            status_code=status_code,
            body=_kept_body(body, content),
            method=context.method,
            url=context.url,
            maybe_sent=context.sends_sms,
        )
    declared = _declared_error_status(body.get("status"))
    if declared is not None:
        raise api_error(status_code, headers, content, body, context, declared)
    return body


def api_error(
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    body: Any,
    context: RequestContext,
    declared: int | str | None = None,
) -> APIError:
    """Build the `APIError` subclass for an error answer: the one status mapping.

    The class follows the HTTP status, or the status the body declares when the
    HTTP status claims success (kept as ``declared_status``; a declared word
    such as ``"error"`` names no class, and makes a plain `APIError` unless
    the message says the credits ran out). ``maybe_sent`` is True for a send
    the gateway failed on (5xx) or redirected (3xx, which after a POST often
    means done): a 4xx or a declared error means it refused. ``body`` is
    `decode_body`'s of ``content``: already redacted, and kept as it is.
    """
    effective: int | None
    if declared is None:
        effective = status_code
    else:
        effective = declared if isinstance(declared, int) else None
    detail = _gateway_message(body) if isinstance(body, dict) else _text_hint(content)
    if declared is not None and declared != status_code:
        prefix = f"HTTP {status_code}, body status {body.get('status')!r}"
    else:
        prefix = f"HTTP {status_code}"
    message = _message(context, prefix, detail)
    kept = _kept_body(body, content)
    common: dict[str, Any] = {
        "status_code": status_code,
        "body": kept,
        "method": context.method,
        "url": context.url,
        "declared_status": declared,
    }
    server_failed = effective is not None and effective >= 500
    # A 3xx after a POST often means "done, look elsewhere": not a refusal.
    redirected = 300 <= status_code < 400
    maybe_sent = context.sends_sms and (server_failed or redirected)
    if effective == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        return RateLimitError(message, retry_after=retry_after, **common)
    cls: type[APIError]
    if server_failed:
        cls = ServerError
    elif effective == 402 or (
        not redirected and effective != 401 and says_out_of_credits(detail)
    ):
        cls = InsufficientCreditsError
    elif effective in (400, 422):
        cls = BadRequestError
    elif effective in (401, 403):
        cls = AuthenticationError
    elif effective == 404:
        cls = NotFoundError
    else:
        cls = APIError
    return cls(message, maybe_sent=maybe_sent, **common)


def says_out_of_credits(message: str | None) -> bool:
    """Whether a refusal's message says the account's credits ran out.

    The gateway's wording is undocumented (the fake answers 402), so this
    reads the usual phrasings: "insufficient credits", "not enough load",
    "no remaining balance", "your balance is too low"... and not
    "insufficient permissions" or a "load balancer" failing.
    """
    return message is not None and _OUT_OF_CREDITS.search(message) is not None


def _declared_error_status(status: object) -> int | str | None:
    """The error a body's own ``status`` declares: a code, a word, or None."""
    if isinstance(status, bool):
        return None
    if isinstance(status, int):
        return status if status >= 400 else None
    if isinstance(status, str):
        word = status.strip().lower()
        if word in _ERROR_WORDS:
            return word
        if word.isdecimal():  # what int() reads: isdigit() passes "²" too
            # int() refuses thousands of digits; such a "code" is an error.
            code = int(word) if len(word) <= 9 else 999
            return code if code >= 400 else None
    return None


def _gateway_message(body: Mapping[str, Any]) -> str | None:
    for key in _MESSAGE_KEYS:
        if key in body:
            text = _flatten(body[key])
            if text:
                return text
    return None


def _flatten(value: object, depth: int = 0) -> str:
    """Turn a string, a list or a field-to-messages mapping into one line."""
    if isinstance(value, str):
        return value.strip()
    if depth > _MAX_DEPTH:  # JSON nested deeper than the stack allows
        return "..."
    if isinstance(value, list | tuple):
        return "; ".join(filter(None, (_flatten(item, depth + 1) for item in value)))
    if isinstance(value, Mapping):
        parts = (f"{key}: {_flatten(item, depth + 1)}" for key, item in value.items())
        return "; ".join(parts)
    if value is None:
        return ""
    return str(value)


def _text_hint(content: bytes) -> str | None:
    """A short description of a non-JSON body: an HTML title, or its start."""
    if not content:
        return "empty body"
    head = content[:_TITLE_SPAN]
    title = _TITLE.search(head)
    if title:
        text = title.group(1).decode("utf-8", "replace")
        return f"HTML page {redact(' '.join(text.split()))!r}"
    if head.lstrip()[:1] == b"<":
        return "HTML page"
    return repr(_head_text(content, _MAX_HINT))


def _head_text(content: bytes, limit: int) -> str:
    """The first ``limit`` characters of ``content`` as text, redacted before cut.

    Decoded with room to spare (a character takes up to 4 bytes, a token a
    few hundred), so a token straddling the cut is whole when redacted.
    """
    return redact(content[: 4 * limit + 1024].decode("utf-8", "replace"))[:limit]


def _message(context: RequestContext, prefix: str, detail: str | None) -> str:
    text = f"{prefix}: {detail}" if detail else prefix
    if lone_surrogate_at(text) is not None:
        # The gateway's words may hold a lone surrogate (a JSON \ud800
        # escape): shown escaped, the message can go to a journal, a file, a
        # terminal.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return shorten(text, _MAX_MESSAGE, context.secret)


def _kept_body(body: Any, content: bytes) -> Any:
    if body is _NOT_JSON:
        return _head_text(content, _MAX_TEXT_BODY)
    return body
