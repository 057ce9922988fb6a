"""A tiny HTTP/1.1 keep-alive server on 127.0.0.1, in a thread, for transport tests.

It runs outside the event loop, so the same tests work under asyncio and trio.
Each path maps to a behaviour: answer JSON, answer late, or drop the connection.
`serve_raw` is rawer still: it writes back whatever bytes a test makes of each
request, malformed HTTP included.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

Behaviour = Callable[["_Handler"], None]


def answer(body: object, status: int = 200, delay: float = 0.0) -> Behaviour:
    def behave(handler: _Handler) -> None:
        if delay:
            time.sleep(delay)
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return behave


def drop() -> Behaviour:
    """Read the request, then close the connection without answering."""

    def behave(handler: _Handler) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    return behave


def trickle(body: object, every: float = 0.4) -> Behaviour:
    """Answer ``body``, status line included, one byte every ``every`` seconds.

    Each read then succeeds within any timeout longer than ``every``; only a
    bound on the whole attempt ends it. Stops once the client has gone.
    """

    def behave(handler: _Handler) -> None:
        data = json.dumps(body).encode()
        answer_bytes = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
        )
        handler.close_connection = True
        try:
            for index in range(len(answer_bytes)):
                handler.wfile.write(answer_bytes[index : index + 1])
                time.sleep(every)
        except OSError:  # the client gave up and closed the connection
            pass

    return behave


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    body: bytes = b""
    """The request's body, for a behaviour that looks at it."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.hits[path] += 1
            self.server.peers.add(self.client_address)
        self.server.routes.get(path, answer({"message": "no route"}, 404))(self)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib's backlog of 5 refuses connections when a test opens many at once.
    request_queue_size = 128
    routes: dict[str, Behaviour]
    hits: Counter[str]
    peers: set[tuple[str, int]]
    lock: threading.Lock


@contextmanager
def serve(routes: dict[str, Behaviour], *, root: str = "/api/v1") -> Iterator[_Server]:
    """Serve ``routes`` (paths under ``root``) on a free loopback port."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routes = {root + path: behave for path, behave in routes.items()}
    server.hits = Counter()
    server.peers = set()
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def deaf() -> Iterator[str]:
    """A loopback server that accepts connections and never reads; yields its base URL.

    Its receive buffer is small, so a large request soon fills it and the
    client's write blocks for as long as it keeps trying.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def base_url(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/api/v1"


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- raw answers ---------------------------------------------------------------------


class RawRequest(NamedTuple):
    """One request as it came off the socket."""

    head: bytes
    """The request line and headers, up to and including the blank line."""
    body: bytes

    @property
    def line(self) -> bytes:
        """The request line, e.g. ``b"GET /api/v1/...?api_token=... HTTP/1.1"``."""
        return self.head.split(b"\r\n", 1)[0]

    @property
    def path(self) -> str:
        return urlsplit(self.line.split(b" ")[1].decode()).path

    @property
    def raw(self) -> bytes:
        return self.head + self.body


class _RawHandler(socketserver.StreamRequestHandler):
    server: _RawServer

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline(65536)
            if not line:
                return
            head += line
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        request = RawRequest(head, self.rfile.read(length))
        answer = self.server.respond(request)
        if answer:
            self.wfile.write(answer)
            self.wfile.flush()
        if self.server.keep_open:
            while self.rfile.read(1):  # until the client closes
                pass
        # One answer a connection: then it is closed, whatever the answer said.
        self.connection.shutdown(socket.SHUT_RDWR)


class _RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    respond: Callable[[RawRequest], bytes]
    keep_open: bool


@contextmanager
def serve_raw(
    respond: Callable[[RawRequest], bytes], *, keep_open: bool = False
) -> Iterator[str]:
    """Answer each request with ``respond(request)``, byte for byte; yield the base URL.

    The connection is closed after each answer (an empty answer drops it
    unanswered), so every request opens a new one; with ``keep_open`` only
    once the client has closed it (an answer cut short then ends in the
    client's read timeout, not in a close). ``respond`` runs in the server's
    threads and may be swapped while serving (``server.respond``).
    """
    server = _RawServer(("127.0.0.1", 0), _RawHandler)
    server.respond = respond
    server.keep_open = keep_open
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def http_answer(
    body: bytes | object,
    status: str = "200 OK",
    headers: tuple[bytes, ...] = (),
) -> bytes:
    """A well-formed HTTP/1.1 answer (``body`` as JSON unless bytes), closing."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [
        b"HTTP/1.1 " + status.encode(),
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(data),
        b"Connection: close",
        *headers,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + data


def sockets_to(port: int) -> set[str]:
    """This process's open TCP sockets connected to ``port`` on loopback.

    Read from /proc (Linux); elsewhere the set is empty and nothing is checked.
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:  # the remote port
                inodes.add(f"socket:[{fields[9]}]")
    found = set()
    fds = Path("/proc/self/fd")
    for fd in fds.iterdir() if fds.is_dir() else ():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        if target in inodes:
            found.add(target)
    return found


class Forwarder:
    """A TCP forwarder on loopback to a server's ``port``, that can be cut.

    Connections to ``self.port`` are piped to the server. `cut` closes every
    connection through it and, until `mend`, closes new ones at once: to its
    clients the server is gone, as when it goes down or the network fails.
    """

    def __init__(self, port: int) -> None:
        self.target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                if self._cut:
                    client.close()
                    continue
                server = socket.create_connection(("127.0.0.1", self.target))
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close every connection through it, and refuse new ones."""
        with self._lock:
            self._cut = True
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def mend(self) -> None:
        """Forward new connections again."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):  # wakes the accept() (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=10)
