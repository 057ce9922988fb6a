"""Keeping the API token out of text: URLs, messages, reprs and log records."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "Secret",
    "install_log_filter",
    "redact",
    "redact_url",
    "without_password",
]

REDACTED = "[REDACTED]"

_TOKEN_IN_QUERY = re.compile(r"(api_token=)[^&#\s\"'>]*", re.IGNORECASE)


class Secret:
    """A string that does not show itself in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

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
    """Remove ``secret`` and any ``api_token=...`` from ``text``."""
    if secret is not None:
        value = secret.get()
        if value and value in text:
            text = text.replace(value, REDACTED)
    return redact_url(text)


class _RedactingFilter(logging.Filter):
    """Rewrites a record whose text carries an ``api_token`` query value.

    httpx logs every request URL at INFO ("HTTP Request: GET https://...?
    api_token=..."): for GET and DELETE the token is in that URL.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "api_token" in message.lower():
            record.msg = redact_url(message)
            record.args = None
        return True


_FILTER = _RedactingFilter()
_INSTALL_LOCK = threading.Lock()
# Loggers that may print a request URL: httpx's own, and httpcore's traces.
_LOGGERS = ("httpx", "httpcore")


def install_log_filter() -> None:
    """Attach the redacting filter to httpx's and httpcore's loggers, once."""
    with _INSTALL_LOCK:
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
