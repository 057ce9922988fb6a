"""Keeping the API token out of text: URLs, messages, bodies, reprs and log records.

Every `Secret` alive is known here, weakly: text is redacted of every token a
client in the process holds (several clients may hold different ones), and a
token is forgotten with the last object holding it.

`redact` replaces each token, its URL- and JSON-escaped forms and any
``api_token=...`` query value; `redact_data` does so in every string of a
decoded body, at any depth. Text we cut to length is redacted first, then cut
(`shorten`), so our cuts never keep part of a token. Text made by others (a
library's log record or exception, which may have cut a token in two before
we see it) goes through `redact_foreign`, which also replaces any run of
`MIN_RUN` or more of a token's characters. Data is never redacted that way:
eight digits of a token may well be eight digits of a phone number.

Log records are redacted by a filter on every logger of the libraries that
may print a request or an answer (`install_log_filter`). It sits on each
logger that creates records, children included: a record goes through the
filters of its own logger only, never its parents', before any handler sees
it. It runs only for records that are emitted, so it costs nothing while
those loggers are below DEBUG or INFO.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import traceback
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MIN_RUN",
    "REDACTED",
    "Secret",
    "install_log_filter",
    "known_tokens",
    "may_hold_a_token",
    "redact",
    "redact_data",
    "redact_foreign",
    "redact_url",
    "shorten",
    "stand_in",
    "without_password",
]

REDACTED = "[REDACTED]"

MIN_RUN = 8
"""No run of this many characters of a token survives redaction."""

_TOKEN_IN_QUERY = re.compile(r"(api_token=)[^&#\s\"'>]*", re.IGNORECASE)


class Secret:
    """A string that does not show itself in ``repr`` or ``str``.

    Creating one makes its value known to `redact` for as long as it lives.
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        _register(self)

    def get(self) -> str:
        """Return the secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # A copy (copy.copy, pickle) goes through __init__, so it is known too.
        return (Secret, (self._value,))


# --- the tokens alive ---------------------------------------------------------------


class _Redactor:
    """What redacting needs of a set of tokens, built once per change of the set."""

    __slots__ = ("_runs", "_runs_built", "byte_forms", "forms", "tokens")

    def __init__(self, values: Iterable[str]) -> None:
        self.tokens = frozenset(values)
        forms: set[str] = set()
        for value in self.tokens:
            forms.update(
                (value, quote(value, safe=""), quote_plus(value), _json_form(value))
            )
        forms.discard("")
        # Longest first: a form that contains another is replaced whole.
        self.forms = tuple(sorted(forms, key=len, reverse=True))
        self.byte_forms = tuple(form.encode() for form in self.forms)
        self._runs: re.Pattern[str] | None = None
        self._runs_built = False

    @property
    def runs(self) -> re.Pattern[str] | None:
        """Any `MIN_RUN` characters of a token; built on first use (rare)."""
        if not self._runs_built:
            windows = {
                value[i : i + MIN_RUN]
                for value in self.tokens
                for i in range(len(value) - MIN_RUN + 1)
            }
            if windows:
                self._runs = re.compile(
                    "|".join(re.escape(run) for run in sorted(windows))
                )
            self._runs_built = True
        return self._runs

    def may_hold(self, content: bytes) -> bool:
        """Whether text decoded from ``content`` could need `redact`."""
        if (
            b"\\" in content  # a JSON escape: the text is not the bytes
            or b"\x00" in content  # UTF-16 or UTF-32, which json.loads reads
            or b"api_token" in content.lower()
        ):
            return True
        for form in self.byte_forms:  # noqa: SIM110 -- on every answer: no any()
            if form in content:
                return True
        return False

    def apply(self, text: str, *, fragments: bool = False) -> str:
        """``text`` without the tokens' forms, nor their runs when ``fragments``."""
        for form in self.forms:
            if form in text:
                text = text.replace(form, REDACTED)
        runs = self.runs if fragments else None
        match = None if runs is None else runs.search(text)
        if runs is None or match is None:
            return text
        parts: list[str] = []
        done = 0
        while match is not None:
            start, end = self._widen(text, match.start(), match.end())
            parts.extend((text[done : max(start, done)], REDACTED))
            done = end
            match = runs.search(text, end)
        parts.append(text[done:])
        return "".join(parts)

    def _widen(self, text: str, start: int, end: int) -> tuple[int, int]:
        """The whole run of a token's characters around the match ``start:end``.

        A match is one window of `MIN_RUN` characters; the run it belongs to
        may go on either side (a token cut elsewhere than at a window).
        """
        window = text[start:end]
        widest = (start, end)
        for value in self.tokens:
            at = value.find(window)
            while at >= 0:
                left, right = start, end
                offset = at
                while left > 0 and offset > 0 and text[left - 1] == value[offset - 1]:
                    left -= 1
                    offset -= 1
                offset = at + MIN_RUN
                while (
                    right < len(text)
                    and offset < len(value)
                    and text[right] == value[offset]
                ):
                    right += 1
                    offset += 1
                widest = (min(widest[0], left), max(widest[1], right))
                at = value.find(window, at + 1)
        return widest


def _json_form(value: str) -> str:
    """``value`` as it appears inside a JSON string (``/`` escaped as PHP does)."""
    return json.dumps(value)[1:-1].replace("/", "\\/")


_LOCK = threading.RLock()
# Each live secret by identity, with its value; and how many hold each value
# (two clients may hold equal tokens: one closing leaves the other's known).
_LIVE: dict[int, tuple[weakref.ref[Secret], str]] = {}
_HOLDERS: dict[str, int] = {}
_current: _Redactor | None = None


def _register(secret: Secret) -> None:
    global _current  # noqa: PLW0603 -- the one cache of the module
    key, value = id(secret), secret.get()
    with _LOCK:
        _LIVE[key] = (weakref.ref(secret, functools.partial(_forget, key)), value)
        _HOLDERS[value] = _HOLDERS.get(value, 0) + 1
        if _HOLDERS[value] == 1:
            _current = None


def _forget(key: int, _: weakref.ref[Secret]) -> None:
    """A secret died: drop its value once nothing else holds it."""
    global _current  # noqa: PLW0603 -- the one cache of the module
    with _LOCK:
        entry = _LIVE.pop(key, None)
        if entry is None:
            return
        value = entry[1]
        _HOLDERS[value] -= 1
        if not _HOLDERS[value]:
            del _HOLDERS[value]
            _current = None


def _redactor() -> _Redactor:
    global _current  # noqa: PLW0603 -- the one cache of the module
    current = _current
    if current is None:
        with _LOCK:
            current = _current = _Redactor(_HOLDERS)
    return current


def known_tokens() -> frozenset[str]:
    """The tokens redacted now: those of every `Secret` alive."""
    return _redactor().tokens


def may_hold_a_token(content: bytes) -> bool:
    """Whether text or JSON decoded from ``content`` could need `redact`.

    False only when it cannot: no token (in any of its forms) or
    ``api_token`` in the bytes, and nothing (an escape, a UTF-16 encoding)
    that would make the decoded text differ from them. Most answers pass
    this, and are then used as decoded, without a walk through them.
    """
    return _redactor().may_hold(content)


# --- redacting text and data -------------------------------------------------------


def redact_url(url: str) -> str:
    """Replace the value of any ``api_token`` query parameter in ``url``."""
    if "api_token" not in url.lower():
        return url
    return _TOKEN_IN_QUERY.sub(rf"\g<1>{REDACTED}", url)


def without_password(url: str) -> str:
    """``url`` with its password replaced: a database's or Redis's, for messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{parts.username or ''}:{REDACTED}@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return f"<a URL that cannot be read: {REDACTED}>"


def redact(text: str, secret: Secret | None = None) -> str:
    """``text`` without any token alive (in any form) or any ``api_token=...``.

    ``secret`` is redacted too, should it be a copy that was never registered.
    """
    return redact_url(_redactor_with(secret).apply(text))


def redact_foreign(text: str, secret: Secret | None = None) -> str:
    """`redact`, and any run of `MIN_RUN` characters of a token too.

    For text made by another library, which may have cut a token in two.
    """
    return redact_url(_redactor_with(secret).apply(text, fragments=True))


def _redactor_with(secret: Secret | None) -> _Redactor:
    redactor = _redactor()
    if secret is not None and secret.get() not in redactor.tokens:
        redactor = _Redactor({*redactor.tokens, secret.get()})
    return redactor


def shorten(text: str, limit: int, secret: Secret | None = None) -> str:
    """``text`` redacted, then cut to ``limit`` characters and ``...``.

    In that order: cut first, a token straddling the cut would keep its head.
    """
    text = redact(text, secret)
    return text if len(text) <= limit else text[:limit] + "..."


def redact_data(value: Any, secret: Secret | None = None) -> Any:
    """A copy of decoded JSON ``value`` with every string in it redacted, keys too.

    Walked with a stack of its own, not by recursion: however deep the
    gateway nests its answer, every level is reached.
    """
    if isinstance(value, str):
        return redact(value, secret)
    if not isinstance(value, dict | list):
        return value

    def copied(item: Any) -> Any:
        if isinstance(item, str):
            return redact(item, secret)
        if isinstance(item, dict | list):
            copy: dict[Any, Any] | list[Any] = {} if isinstance(item, dict) else []
            pending.append((item, copy))
            return copy
        return item

    pending: list[tuple[dict[Any, Any] | list[Any], dict[Any, Any] | list[Any]]] = []
    root = copied(value)
    while pending:
        source, target = pending.pop()
        if isinstance(source, dict) and isinstance(target, dict):
            for key, item in source.items():
                target[copied(key)] = copied(item)
        elif isinstance(source, list) and isinstance(target, list):
            target.extend(copied(item) for item in source)
    return root


def stand_in(error: BaseException) -> BaseException:
    """A stand-in for a foreign ``error``, to chain to ours in its place.

    The same class where it can be built from a message (so code that tests
    the cause's class still can), with ``error``'s text redacted, and nothing
    else: no traceback, no request, no chained exceptions of its own, whose
    texts may hold the token (an answer's echo of the request line, say).
    """
    text = redact_foreign(str(error))
    for cls in type(error).__mro__:
        if not issubclass(cls, BaseException):
            continue
        try:
            copy = cls(text)
        except Exception:  # noqa: BLE001, S112 -- a class that needs more: try its base
            continue
        if str(copy) == text:
            return copy
    return Exception(text)


# --- log records -------------------------------------------------------------------


def _chain_holds_a_token(error: BaseException) -> bool:
    """Whether redacting would change the text of ``error``.

    Or of any exception chained or grouped in it, shown or suppressed.
    """
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for text in (str(current), repr(current)):
            if redact_foreign(text) != text:
                return True
        stack.extend(e for e in (current.__cause__, current.__context__) if e)
        stack.extend(getattr(current, "exceptions", ()))
    return False


class _RedactingFilter(logging.Filter):
    """Rewrites a record whose text holds a token, its exception's included.

    httpx logs each request URL at INFO (a GET's holds the token), and
    httpcore's DEBUG traces show request lines, answer headers and the
    exceptions of answers it could not parse, all of which can echo it.
    The message is redacted once formatted (its arguments may be bytes, or
    tuples of header bytes); an exception that holds a token anywhere in its
    chain is replaced by its redacted traceback, as text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- logging reports a bad record itself
            return True
        cleaned = redact_foreign(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None and _chain_holds_a_token(exc_info[1]):
            text = "".join(traceback.format_exception(*exc_info)).rstrip("\n")
            record.exc_text = redact_foreign(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_foreign(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_foreign(record.stack_info)
        return True


_FILTER = _RedactingFilter()
_INSTALL_LOCK = threading.Lock()
# The libraries whose loggers may print a request or an answer, and our own.
_FAMILIES = ("httpx", "httpcore", "h2", "hpack", "aiohttp", "iprogsms_async")
# Children they create when a module is first imported, which may come after
# the last client was made (httpcore's HTTP/2 and SOCKS support, hpack under
# HTTP/2, which logs the headers it encodes; aiohttp imported later): made
# now, they have the filter from the start.
_LATE_CHILDREN = (
    "httpcore.http2",
    "httpcore.socks",
    "hpack.hpack",
    "hpack.table",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)


def install_log_filter() -> None:
    """Put the redacting filter on every logger of those libraries, once each.

    Called by each new client, so loggers created since the last call
    (an optional library imported in between) are covered too.
    """
    with _INSTALL_LOCK:
        names = {*_FAMILIES, *_LATE_CHILDREN}
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and name.split(".", 1)[0] in (
                _FAMILIES
            ):
                names.add(name)
        for name in names:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
