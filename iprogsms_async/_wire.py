"""The seam between the request layer and an HTTP backend: one attempt on the wire.

`Requester` (_request.py) decides everything about a call: what to send, the
total deadline, whether a failure may be retried. A `Wire` only carries one
attempt: it sends what the Requester built and returns the `Answer` (status,
headers, the body read under `MAX_BODY_BYTES`), or raises. Each backend has
its own: `HttpxWire` (_httpx.py) over an `httpx.AsyncClient`, and
`AiohttpWire` (_aiohttp.py) straight on an `aiohttp.ClientSession`.

Failures speak one vocabulary, httpx's transport errors, on which the
Requester's one classification rests: `httpx.ConnectError`,
`httpx.ConnectTimeout`, `httpx.PoolTimeout` and `httpx.ProxyError` mean the
request was certainly not sent; any other `httpx.TransportError` means it
may have been. A wire whose library raises other exceptions translates them
(choosing "maybe sent" when it cannot be sure), raises the translation
outside the handler (the library's exception, whose text may hold the
token, must not become its context) and never chains the original.

An answer whose body cannot be read (over the cap, a broken
``Content-Encoding``) is an error answer with its body dropped, or, for a
2xx, `ResponseFormatError` (`unreadable`), on every wire alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import httpx

from ._errors import ResponseFormatError
from ._redact import redact_foreign, stand_in

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ._response import RequestContext

__all__ = [
    "MAX_BODY_BYTES",
    "TOO_LARGE",
    "Answer",
    "ParsedURLs",
    "Wire",
    "declared_too_large",
    "overran",
    "unreadable",
]

U = TypeVar("U")

MAX_BODY_BYTES = 1 << 20
"""Answers larger than this are refused: no documented answer comes close."""

TOO_LARGE = f"a body over {MAX_BODY_BYTES} bytes"


class Answer:
    """What came back of one attempt: the status, the headers and the whole body."""

    __slots__ = ("content", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status = status
        self.headers = headers
        """Looked up case-insensitively (httpx's and aiohttp's header maps are)."""
        self.content = content


class Wire(Protocol):
    """One backend's way of carrying an attempt; shared by a client and its copies."""

    async def exchange(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        timeout: httpx.Timeout,
        deadline: float | None,
        context: RequestContext,
        *,
        shielded: bool = False,
    ) -> Answer:
        """Send one request and read its answer under `MAX_BODY_BYTES`.

        ``url`` is free of the token, which rides in ``params`` (a query
        string) or ``json`` (the body). Never follows a redirect: the token
        would go wherever ``Location`` says. Each step keeps within its part
        of ``timeout``, and the whole attempt (waiting for a connection
        included) within ``deadline`` seconds, even inside a shielded
        cancel scope: past it, `overran` is raised. Raises
        `httpx.TransportError` subclasses as the module docstring says, and
        `ResponseFormatError` for a 2xx answer whose body cannot be read
        (`unreadable`). ``shielded``, anyio's cancellation of the caller is
        held off until the attempt ends (a send seen through): the wire
        shields it in the one scope it needs anyway where it has one.
        """
        ...

    async def aclose(self) -> None:
        """Close the connections this wire opened (the client's `aclose`)."""
        ...


class ParsedURLs(Generic[U]):
    """URLs parsed once each by a wire's library: a small cache of the endpoints.

    Both libraries re-parse a URL string on every request. Bounded: a
    reminder's URL holds its id, and a client may be given many.
    """

    __slots__ = ("_parse", "_urls")

    LIMIT = 32

    def __init__(self, parse: Callable[[str], U]) -> None:
        self._parse = parse
        self._urls: dict[str, U] = {}

    def get(self, url: str) -> U:
        """``url`` parsed, from the cache when it is there."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._parse(url)
            if len(self._urls) < self.LIMIT:
                self._urls[url] = parsed
        return parsed


def overran(deadline: float | None) -> httpx.TimeoutException:
    """The error of an attempt stopped by its total ``deadline``: maybe sent."""
    return httpx.TimeoutException(
        f"no complete answer within the attempt's total of {deadline:g} s "
        "(its timeouts added up)"
    )


def declared_too_large(content_length: str | None) -> bool:
    """Whether a ``Content-Length`` announces a body over `MAX_BODY_BYTES`."""
    return (
        content_length is not None
        and content_length.isdigit()
        and int(content_length) > MAX_BODY_BYTES
    )


def unreadable(
    status: int,
    context: RequestContext,
    what: str,
    cause: Exception | None = None,
) -> ResponseFormatError:
    """The error for a 2xx answer whose body cannot be read at all.

    Its ``cause`` is chained as a redacted stand-in; raise the error outside
    the handler of ``cause``, which must not be its context.
    """
    error = ResponseFormatError(
        redact_foreign(f"HTTP {status} with {what}", context.secret),
        status_code=status,
        body=None,
        method=context.method,
        url=context.url,
        maybe_sent=context.sends_sms,
    )
    if cause is not None:
        error.__cause__ = stand_in(cause)
        error.__suppress_context__ = True
    return error
