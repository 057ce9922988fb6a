"""The fake gateway as a hand-written ASGI application, to serve over real HTTP.

No framework: the app reads the body, hands the request to the gateway and
writes the answer. A dropped connection is produced the only way ASGI allows:
the response head is sent, then the app raises `ConnectionDropped`, and the
server closes the connection mid-answer. The client sees the connection end
without a complete answer (httpx: `RemoteProtocolError`), never a clean 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio

from ._wire import Drop, Reply

if TYPE_CHECKING:
    from ._exchange import Engine, Exchange

__all__ = ["ASGIApp", "ConnectionDropped", "FakeASGIApp", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""Any ASGI 3 application: the fake's, or one wrapping it."""

# Announce a body that will never come, so the client cannot take the answer
# for a complete one.
_DROP_HEAD = [(b"content-type", b"application/json"), (b"content-length", b"256")]


class ConnectionDropped(Exception):
    """Raised by the app on purpose, after the response head, to drop the connection.

    uvicorn logs it as "Exception in ASGI application"; `serve_in_thread`
    silences that log for this exception only. Under another ASGI server, add
    a logging filter for it if the log is unwanted.
    """


class FakeASGIApp:
    """An ASGI 3 application answering as the iProgSMS gateway, from a `FakeGateway`.

    Paths are the gateway's own (``/api/v1/sms_messages``). Get it as
    `FakeGateway.app` and serve it with any ASGI server, or with
    `FakeGateway.serve_in_thread`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope (``http`` or ``lifespan``)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        content_type = None
        for name, value in scope.get("headers") or ():
            if name == b"content-type":
                content_type = value.decode("latin-1")
                break
        exchange = self._engine.exchange(
            scope["method"],
            scope["path"],
            scope.get("query_string") or b"",
            body,
            content_type,
        )
        with exchange:
            if exchange.waits:
                answer = await _respond_while_connected(exchange, receive)
                if answer is None:  # the client left; nobody to answer
                    return
            else:
                answer = await exchange.respond()
        if isinstance(answer, Drop):
            await send(
                {"type": "http.response.start", "status": 200, "headers": _DROP_HEAD}
            )
            raise ConnectionDropped(
                "connection dropped on purpose by FakeGateway's faults"
            )
        await _send_reply(send, answer)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond_while_connected(
    exchange: Exchange, receive: Receive
) -> Reply | Drop | None:
    """Respond, unless the client disconnects during a wait (then None).

    A client that timed out has closed its connection; stopping then keeps a
    slow fault from holding the server (and its shutdown) for nothing.
    """
    answer: Reply | Drop | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        answer = await exchange.respond()
        group.cancel_scope.cancel()
    return answer


async def _send_reply(send: Send, reply: Reply) -> None:
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    headers += [(name.encode(), value.encode()) for name, value in reply.headers]
    await send(
        {"type": "http.response.start", "status": reply.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": reply.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
