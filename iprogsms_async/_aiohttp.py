"""httpx over aiohttp: httpx-aiohttp's transport, with failures told apart.

Imported only for ``http_backend="aiohttp"`` (the ``aiohttp`` extra).

The retry rule rests on one distinction: did the request possibly reach the
gateway? httpx's own transport answers it by its exception classes
(`httpx.ConnectError`, `httpx.ConnectTimeout` and `httpx.PoolTimeout`: not
sent; anything else: maybe sent). httpx-aiohttp 0.2 maps aiohttp's errors
coarsely: a connection the server closed mid-answer becomes
`httpx.ConnectTimeout`, which would make a send that may have gone out look
safe to repeat. This transport maps aiohttp's exceptions itself, choosing
"maybe sent" whenever it cannot be sure.

Its connector keeps the rules of `._keepalive` (`FreshConnector`, and
`_LookingRequest` for the last look before writing). aiohttp reuses the
connection idle the longest, and trusts it while the event loop has not yet
run the callback that would see its close: against a server that closes
connections idle for 5 ms, 360 to 430 of 1,500 sends of a broadcast were
written on connections already closed, and ended in doubt.
"""

from __future__ import annotations

import contextvars
import functools
import time
import weakref
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from aiohttp.helpers import set_exception
from aiohttp.http_writer import StreamWriter
from httpx_aiohttp import AiohttpTransport as _BaseTransport

from ._keepalive import has_pending_input, server_idle_limit
from ._loop import refuse_trio
from ._redact import redact_foreign

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp.abc import AbstractStreamWriter
    from aiohttp.client_proto import ResponseHandler

__all__ = ["AiohttpTransport", "FreshConnector", "translate"]

# From the most specific to the least: the first match decides.
_TRANSLATIONS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # Before anything was sent: a retry cannot duplicate a text.
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # connect or pool wait
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    # The request may have reached the server.
    # (httpx.ProxyError would read as "not sent": a proxy's HTTP error may not be.)
    (aiohttp.ClientHttpProxyError, httpx.RemoteProtocolError),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.ReadError),
    (TimeoutError, httpx.ReadTimeout),
)


def translate(exc: BaseException) -> httpx.TransportError | None:
    """The httpx exception for an aiohttp failure, or None for anything else.

    ``exc`` may be aiohttp's own exception or httpx-aiohttp's translation of
    it (whose cause is aiohttp's). A translation whose cause is unknown is
    read as "the request may have reached the server". The text keeps no
    token: aiohttp's exceptions name the request URL and quote the answer's
    bad lines, and the translation is raised without them chained.
    """
    original = exc
    if isinstance(exc, httpx.TransportError):
        cause = exc.__cause__
        if cause is None:
            return httpx.ReadError(redact_foreign(str(exc)) or type(exc).__name__)
        original = cause
    if isinstance(original.__cause__, _StaleConnectionError):
        return httpx.ConnectError(
            "the server had closed the kept-alive connection: request not written"
        )
    for source, target in _TRANSLATIONS:
        if isinstance(original, source):
            name = type(original).__name__
            # aiohttp's texts can carry the request URL, and a GET's URL the token.
            detail = redact_foreign(str(original))
            return target(f"{name}: {detail}" if detail else name)
    if isinstance(exc, httpx.TransportError):
        return httpx.ReadError(redact_foreign(str(exc)) or type(exc).__name__)
    return None


class _TranslatingStream(httpx.AsyncByteStream):
    """A response body whose read errors are translated like the request's."""

    __slots__ = ("_inner",)

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        failure: httpx.TransportError | None = None
        try:
            async for chunk in self._inner:
                yield chunk
        except _FAILURES as exc:
            failure = _translated(exc)
        if failure is not None:
            raise failure  # outside the handler: see _translated

    async def aclose(self) -> None:
        failure: httpx.TransportError | None = None
        try:
            await self._inner.aclose()
        except _FAILURES as exc:
            failure = _translated(exc)
        if failure is not None:
            raise failure


_FAILURES = (httpx.TransportError, aiohttp.ClientError, TimeoutError)


def _translated(exc: BaseException) -> httpx.TransportError:
    """The translation of ``exc``, to raise outside its handler.

    aiohttp's exceptions name the request URL, and a GET's holds the token:
    raised inside the handler the translation would keep aiohttp's exception
    as its context, reachable by anything that walks the chain.
    """
    translated = translate(exc)
    assert translated is not None  # noqa: S101 -- only called with those classes
    return translated


class _Handout:
    """The connection `FreshConnector` gave a request; whether to look at it again."""

    __slots__ = ("protocol", "unchecked")

    def __init__(self, protocol: ResponseHandler, *, reused: bool) -> None:
        self.protocol = protocol
        self.unchecked = reused


_handed_out: contextvars.ContextVar[_Handout | None] = contextvars.ContextVar(
    "iprogsms_aiohttp_connection", default=None
)
"""The connection `FreshConnector` last gave the current task's request.

The task aiohttp writes the request body in is made with a copy of this
context, so it sees the same `_Handout`.
"""


class _StaleConnectionError(Exception):
    """A reused connection was closed by its server before the request was written."""


class _LookingRequest(aiohttp.ClientRequest):
    """aiohttp's request, looking at a reused connection once more before writing.

    aiohttp 3.12 and later hold a request's headers back and write them with
    its body, in `write_bytes`. Before Python 3.12 that runs in a task of its
    own, a loop pass after `FreshConnector` handed the connection out: under
    a broadcast's load, 2.6 ms later at the median and 8 ms at the 90th
    percentile, time enough for a server's close to come in between. If it
    has, nothing of the request has left: the request fails as aiohttp fails
    one it could not write, with `_StaleConnectionError` as the cause, which
    `translate` reads as not sent.
    """

    async def write_bytes(
        self,
        writer: AbstractStreamWriter,
        conn: aiohttp.connector.Connection,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Write the request, unless its reused connection has just been closed."""
        handout = _handed_out.get()
        protocol = conn.protocol
        if handout is not None and handout.unchecked and protocol is handout.protocol:
            handout.unchecked = False
            if _closed(protocol):
                failure = aiohttp.ClientConnectionError(
                    "the server closed the kept-alive connection: request not written"
                )
                set_exception(protocol, failure, _StaleConnectionError())
                return
        await super().write_bytes(writer, conn, *args, **kwargs)


def _closed(protocol: ResponseHandler) -> bool:
    """Whether an idle connection's server has closed it (or broken protocol)."""
    transport = protocol.transport
    if transport is None or transport.is_closing():
        return True
    return has_pending_input(transport.get_extra_info("socket"))


_HEADERS_WAIT_FOR_BODY = hasattr(StreamWriter, "send_headers")
"""Whether aiohttp writes a request's headers with its body (3.12 and later).

Earlier, the headers leave before `write_bytes`: a request found stale there
has been partly written, so `_LookingRequest` is not used.
"""


class FreshConnector(aiohttp.TCPConnector):
    """aiohttp's connector, never reusing a connection its server has closed.

    Before it gives a reused connection to a request, it checks the socket
    for the server's close, and the idle time against the server's
    ``Keep-Alive: timeout=`` (told by `note_keep_alive`). A stale connection
    is closed and the next one tried, or a new one made. Its own
    ``keepalive_timeout`` expires the rest. `_LookingRequest` looks once more
    when the request is written. Only aiohttp's public connection interface
    is used: ``connect`` (which the session calls) and the
    `aiohttp.connector.Connection` it returns.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._idle_since: weakref.WeakKeyDictionary[ResponseHandler, float] = (
            weakref.WeakKeyDictionary()
        )
        self._idle_limit: weakref.WeakKeyDictionary[ResponseHandler, float] = (
            weakref.WeakKeyDictionary()
        )

    async def connect(self, *args: Any, **kwargs: Any) -> aiohttp.connector.Connection:
        """A connection for a request: a fresh one from the pool, or a new one."""
        while True:
            connection = await super().connect(*args, **kwargs)
            protocol = connection.protocol
            if protocol is None:  # pragma: no cover -- aiohttp always sets it
                return connection
            reused = protocol in self._idle_since
            if reused and not self._reusable(protocol):
                connection.close()
                continue
            connection.add_callback(functools.partial(self._went_idle, protocol))
            _handed_out.set(_Handout(protocol, reused=reused))
            return connection

    def note_keep_alive(
        self, protocol: ResponseHandler, keep_alive: str | None
    ) -> None:
        """Take ``protocol``'s idle limit from its last answer's ``Keep-Alive``."""
        limit = server_idle_limit(keep_alive)
        if limit is None:
            self._idle_limit.pop(protocol, None)
        else:
            self._idle_limit[protocol] = limit

    def _went_idle(self, protocol: ResponseHandler) -> None:
        self._idle_since[protocol] = time.monotonic()

    def _reusable(self, protocol: ResponseHandler) -> bool:
        """Whether the idle ``protocol`` may carry a request: open, not expired."""
        limit = self._idle_limit.get(protocol)
        if limit is not None and time.monotonic() - self._idle_since[protocol] > limit:
            return False
        return not _closed(protocol)


class AiohttpTransport(_BaseTransport):
    """httpx-aiohttp's transport with one aiohttp session sized by ``limits``.

    The session is created on the first request, inside the running asyncio
    loop (aiohttp requires one), and closed by `aclose` (the client's).
    Cookies are left to httpx (aiohttp's jar is a dummy), and the proxy
    environment is ignored, as httpx ignores it for a transport passed in.
    """

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False, client=self._new_session)

    def _new_session(self) -> aiohttp.ClientSession:
        refuse_trio()
        limits = self.limits
        if limits.keepalive_expiry is None:
            connector = FreshConnector(
                limit=limits.max_connections or 0, ssl=self.ssl_context
            )
        else:
            connector = FreshConnector(
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry,
                ssl=self.ssl_context,
            )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            request_class=(
                _LookingRequest if _HEADERS_WAIT_FOR_BODY else aiohttp.ClientRequest
            ),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp, raising httpx's exception classes."""
        failure: httpx.TransportError | None = None
        try:
            response = await super().handle_async_request(request)
        except _FAILURES as exc:
            failure = _translated(exc)
        if failure is not None:
            raise failure  # outside the handler: see _translated
        self._note_keep_alive(response)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 -- always
        response.stream = _TranslatingStream(stream)
        return response

    def _note_keep_alive(self, response: httpx.Response) -> None:
        """Tell the connector what ``response`` says of its connection's keep-alive."""
        handout = _handed_out.get()
        connector = getattr(self.client, "connector", None)
        if handout is not None and isinstance(connector, FreshConnector):
            connector.note_keep_alive(
                handout.protocol, response.headers.get("keep-alive")
            )

    async def aclose(self) -> None:
        """Close the aiohttp session, if one was opened."""
        if isinstance(self.client, aiohttp.ClientSession):
            await self.client.close()
