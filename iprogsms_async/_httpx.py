"""The httpx backend's wire: one attempt through an `httpx.AsyncClient`.

The client is the one the package made (over `ReservingTransport`, or a
``transport`` passed in: FakeGateway's, a mock) or the user's own
``http_client``; respx intercepts it like any other. Its exceptions are
httpx's own, the wire's vocabulary already (see _wire).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import httpx

from ._wire import (
    MAX_BODY_BYTES,
    TOO_LARGE,
    Answer,
    ParsedURLs,
    declared_too_large,
    overran,
    unreadable,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from ._response import RequestContext

__all__ = ["HttpxWire"]


class HttpxWire:
    """Attempts through ``http``; ``headers`` added to each (for a client not ours)."""

    __slots__ = ("_urls", "headers", "http")

    def __init__(
        self, http: httpx.AsyncClient, headers: Mapping[str, str] | None = None
    ) -> None:
        self.http = http
        self.headers = headers
        self._urls = ParsedURLs(httpx.URL)

    async def exchange(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        timeout: httpx.Timeout,  # noqa: ASYNC109 -- each step's, handed to httpx
        deadline: float | None,
        context: RequestContext,
        *,
        shielded: bool = False,
    ) -> Answer:
        """Send one request and read its answer (see `Wire.exchange`).

        httpx's timeouts bound each step; an anyio scope of its own bounds
        the whole, so that the deadline also holds inside a shield.
        ``shielded``, that scope is the shield too (one scope a send, not two).
        """
        http = self.http
        request = http.build_request(
            method,
            self._urls.get(url),
            params=params,
            json=json,
            headers=self.headers,
            timeout=timeout,
        )
        request.stream = _Body(request.content)
        content: bytes | None = None
        with anyio.move_on_after(deadline, shield=shielded):
            # Never follow a redirect, even on a user's client set to: the
            # token would go wherever the Location header says.
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                content = await _read_capped(response, context)
            finally:
                await response.aclose()
        if content is None:  # the deadline passed before the answer was read
            raise overran(deadline)
        return Answer(response.status_code, response.headers, content)

    async def aclose(self) -> None:
        """Close the httpx client."""
        await self.http.aclose()


class _Body(httpx.AsyncByteStream):
    """A request's body, iterated in one chunk without an async generator.

    httpx's own stream iterates with one, which httpcore leaves unfinished
    when a write fails part-way (its write timeout, the attempt's deadline)
    or is cancelled, a GET's empty body included; trio warns of such a
    generator when it is collected (ResourceWarning).
    """

    __slots__ = ("_content",)

    def __init__(self, content: bytes) -> None:
        self._content = content

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _OneChunk(self._content)


class _OneChunk:
    """An async iterator over one chunk of bytes."""

    __slots__ = ("_chunk",)

    def __init__(self, chunk: bytes) -> None:
        self._chunk: bytes | None = chunk

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        chunk, self._chunk = self._chunk, None
        if not chunk:  # done, or an empty body: no chunk at all
            raise StopAsyncIteration
        return chunk


async def _read_capped(response: httpx.Response, context: RequestContext) -> bytes:
    """Read the body, refusing one larger than `MAX_BODY_BYTES`.

    An error answer whose body cannot be read is still an error answer: its
    body is dropped, and its status says what happened (a 4xx, refused).
    """
    status = response.status_code
    answered_error = not 200 <= status < 300
    if declared_too_large(response.headers.get("content-length")):
        if answered_error:
            return b""
        raise unreadable(status, context, TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                if answered_error:
                    return b""
                raise unreadable(status, context, TOO_LARGE)
            chunks.append(chunk)
    except httpx.DecodingError as exc:  # a broken Content-Encoding (gzip...)
        if answered_error:
            return b""
        failure = unreadable(
            status, context, f"a body that cannot be decoded: {exc}", exc
        )
    else:
        return b"".join(chunks)
    raise failure  # outside the handler: see unreadable
