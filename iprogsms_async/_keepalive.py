"""When an idle kept-alive connection may carry a send: the rules both backends share.

A send written on a connection the server has just closed is lost, and the
client cannot tell that from a send the server received before closing: it
must report it in doubt (``maybe_sent=True``), and the recipient is never
texted. Servers close idle connections after their keep-alive timeout, so
the pools under this package avoid offering a connection the server has
closed or is about to close:

- an idle connection expires after `DEFAULT_KEEPALIVE_EXPIRY`, below the
  timeouts common servers use;
- a server that says ``Keep-Alive: timeout=N`` is believed: its connections
  expire `server_idle_limit` seconds after their last answer, some time
  before N;
- just before a send is written on a reused connection, the socket is
  checked for an end of stream (`has_pending_input`): a close whose FIN has
  arrived is seen, however late the event loop would notice it.

What remains is a close whose FIN is still on its way while the request is
written, a window of about one round trip: ``benchmarks/bench_stale_connections.py``
measures it.
"""

from __future__ import annotations

import math
import select
import sys
from typing import Protocol

__all__ = [
    "DEFAULT_KEEPALIVE_EXPIRY",
    "InputWatch",
    "has_pending_input",
    "server_idle_limit",
]

DEFAULT_KEEPALIVE_EXPIRY = 4.0
"""Seconds an idle connection is kept for reuse, when the server does not say.

Below the 5 s idle timeout of Apache, Node.js, uvicorn and lighttpd (the
shortest among common servers and proxies; nginx keeps 75 s, cloud load
balancers 60 s and more), with a second to spare for the request's way
there. A client busy enough to reuse its connections within 4 s keeps them;
one that sends less often pays a new connection (a TLS handshake) per send,
which is cheap next to a recipient who is never texted.
"""

_MARGIN = 1.0
"""Seconds before a server's announced keep-alive timeout that we stop reusing.

The server counts idle time from when it wrote its answer, and counts it up
to when our next request reaches it: a round trip later than our own count,
plus both sides' scheduling delays. Half the timeout when it is under 2 s.
"""


class _Socket(Protocol):
    def fileno(self) -> int: ...


def server_idle_limit(keep_alive: str | None) -> float | None:
    """Seconds a connection may idle by the server's ``Keep-Alive`` header, or None.

    ``keep_alive`` is the header's value, e.g. ``timeout=5, max=100``; None
    (no header), no ``timeout`` parameter or a malformed one gives None. The
    limit is the timeout less a margin (one second, or half of a shorter
    timeout), so that the client gives up on the connection before the
    server does.
    """
    if keep_alive is None:
        return None
    for parameter in keep_alive.split(","):
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "timeout":
            continue
        try:
            timeout = float(value.strip().strip('"'))
        except ValueError:
            return None
        if not math.isfinite(timeout) or timeout < 0:
            return None
        return timeout - min(_MARGIN, timeout / 2)
    return None


def has_pending_input(sock: _Socket | None) -> bool:
    """Whether reading ``sock`` would not block: on an idle connection, a close.

    An idle HTTP/1.1 connection has nothing to read until the server closes
    it (or breaks the protocol), so anything pending means: do not reuse. A
    socket that is gone (None, or closed) counts as closed too.
    """
    return InputWatch(sock).pending()


class InputWatch:
    """`has_pending_input` for one socket, asked again and again.

    Made once a connection, it keeps its socket registered with a poll
    object of its own, so each look is one system call (the aiohttp backend
    looks once a request). Ask only while the socket is open (the
    connection's transport not closing): a closed one's descriptor may
    belong to another socket by then.
    """

    __slots__ = ("_fd", "_poller")

    def __init__(self, sock: _Socket | None) -> None:
        fd = -1 if sock is None else sock.fileno()
        self._fd = fd
        self._poller: select.poll | None = None
        if fd >= 0 and sys.platform != "win32":
            self._poller = select.poll()
            self._poller.register(fd, select.POLLIN)

    def pending(self) -> bool:
        """Whether reading would not block now (True for a socket gone)."""
        if self._poller is not None:
            return bool(self._poller.poll(0))
        if self._fd < 0:
            return True
        readable, _, _ = select.select([self._fd], [], [], 0)  # pragma: no cover
        return bool(readable)  # pragma: no cover -- Windows: no poll()
