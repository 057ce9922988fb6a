"""The fake gateway as an httpx transport: in-process, no sockets, any event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx

from ._wire import Drop, Reply

if TYPE_CHECKING:
    from ._exchange import Engine, Exchange

__all__ = ["DROPPED_MESSAGE", "FakeTransport"]

DROPPED_MESSAGE = "Server disconnected without sending a response."
"""What httpcore says when a server closes the connection instead of answering."""


class FakeTransport(httpx.AsyncBaseTransport):
    """Answers an `httpx.AsyncClient`'s requests from a `FakeGateway`, in-process.

    It behaves like a connection to the gateway would: a dropped connection
    raises `httpx.RemoteProtocolError` (as httpcore does), and an answer that
    takes longer than the request's read timeout raises `httpx.ReadTimeout`.
    Waits use `anyio.sleep`, so it runs under asyncio and trio alike. Get one
    with `FakeGateway.transport`; it holds no connections, and closing it does
    nothing.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Pass ``request`` through the fake gateway and return its answer."""
        body = await request.aread()
        url = request.url
        exchange = self._engine.exchange(
            request.method,
            url.path,
            url.query,
            body,
            request.headers.get("content-type"),
        )
        with exchange:
            if exchange.waits:
                answer = await _respond_in_time(exchange, request)
            else:
                answer = await exchange.respond()
        if isinstance(answer, Drop):
            raise httpx.RemoteProtocolError(DROPPED_MESSAGE, request=request)
        return _response(answer, request)


async def _respond_in_time(exchange: Exchange, request: httpx.Request) -> Reply | Drop:
    """Respond, or raise `httpx.ReadTimeout` past the request's read timeout."""
    timeouts = request.extensions.get("timeout") or {}
    limit = timeouts.get("read")
    if limit is None:
        return await exchange.respond()
    with anyio.move_on_after(limit):
        return await exchange.respond()
    raise httpx.ReadTimeout("timed out", request=request)


def _response(reply: Reply, request: httpx.Request) -> httpx.Response:
    headers = [("content-type", reply.content_type), *reply.headers]
    return httpx.Response(
        reply.status, headers=headers, content=reply.body, request=request
    )
