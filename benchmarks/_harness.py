"""What every benchmark script shares: the stub server, pinning, and tables.

Not a benchmark itself. Each script imports it from its own folder (scripts
run as ``python benchmarks/NAME.py`` have this folder on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

    import aiohttp
    import httpx

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789"  # noqa: S105 -- the stub accepts any
SERVER_CORE = 1
CLIENT_CORE = 0


def parse_args(
    parser: argparse.ArgumentParser, quick: dict[str, object]
) -> argparse.Namespace:
    """Parse the command line, with ``--quick`` for a small first look.

    ``--quick`` makes ``quick`` (option name to value) the defaults; options
    given explicitly still win over it.
    """
    shown = " ".join(
        f"--{name.replace('_', '-')} {value}" for name, value in quick.items()
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a small run for a first look: {shown} (explicit options still win)",
    )
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**quick)
        args = parser.parse_args()
    return args


CORES_VARIABLE = "IPROGSMS_BENCH_CORES"
"""Where the cores a run may use are handed down to the processes it starts."""


def cores() -> set[int]:
    """The cores this run may use, as its first process found them.

    Not this process's own affinity: pinning the client to its core narrows
    that, and every process it starts afterwards (the stub, a child
    measurement) inherits the narrower one. So the first look is kept in
    the environment, which they inherit too. (Found narrowed, the stub
    shared the client's core in every run before this was fixed.)
    """
    known = os.environ.get(CORES_VARIABLE)
    if known is not None:
        return {int(core) for core in known.split(",") if core}
    try:
        found = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        found = set()
    os.environ[CORES_VARIABLE] = ",".join(str(core) for core in sorted(found))
    return found


cores()  # on import, before anything is pinned


def can_pin() -> bool:
    """Whether client and server can each have a core of their own."""
    return {CLIENT_CORE, SERVER_CORE} <= cores()


def pin_client() -> str:
    """Pin this process to the client's core; say what was done."""
    if not can_pin():
        return "not pinned (fewer than 2 cores or no affinity support)"
    os.sched_setaffinity(0, {CLIENT_CORE})
    return f"client on core {CLIENT_CORE}"


class Stub:
    """A running stub gateway: its base URL, and what it has served."""

    def __init__(self, url: str, tls: TLS | None, pid: int) -> None:
        self.url = url
        self.pid = pid
        self._root = url.removesuffix("/api/v1")
        self._context = tls.client_context() if tls is not None else None

    def stats(self) -> dict[str, int]:
        """Connections accepted and requests answered so far."""
        with urllib.request.urlopen(  # noqa: S310 -- our own loopback server
            self._root + "/__stats", context=self._context
        ) as answer:
            stats: dict[str, int] = json.load(answer)
        return stats

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the stub process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time, this process's CPU time and the stub's CPU time of a run."""

    def __init__(self, stub: Stub) -> None:
        self._stub = stub
        self.wall = self.cpu = self.stub_cpu = 0.0

    def __enter__(self) -> None:
        self._start = (
            time.perf_counter(),
            time.process_time(),
            self._stub.cpu_seconds(),
        )

    def __exit__(self, *_: object) -> None:
        wall, cpu, stub_cpu = self._start
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() - cpu
        self.stub_cpu = self._stub.cpu_seconds() - stub_cpu


def has_uvloop() -> bool:
    """Whether uvloop is installed (the stub can then serve on it)."""
    return _has("uvloop")


@contextlib.contextmanager
def stub(
    latency_ms: float = 0.0, tls: TLS | None = None, options: Sequence[str] = ()
) -> Iterator[Stub]:
    """Run the stub gateway in its own process; yield it.

    The server is pinned to its own core with ``taskset`` when it can be, so
    it never competes with the client being measured. With ``tls`` it serves
    HTTPS (the URL says so). ``options`` go to its command line as they are
    (e.g. ``["--idle-timeout", "1"]``).
    """
    command = [
        sys.executable,
        str(HERE / "stub_gateway.py"),
        "--latency-ms",
        str(latency_ms),
        *options,
    ]
    if tls is not None:
        command += ["--tls", str(tls.cert), str(tls.key)]
    if can_pin() and shutil.which("taskset"):
        # The stub's own core, whatever this process is pinned to.
        command = ["taskset", "-c", str(SERVER_CORE), *command]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline().split()
            if not line or line[0] != "ready":
                raise RuntimeError(f"the stub gateway did not start: {line!r}")
            scheme = "https" if tls is not None else "http"
            yield Stub(f"{scheme}://127.0.0.1:{line[1]}/api/v1", tls, server.pid)
        finally:
            server.terminate()
            server.wait(10)


class TLS:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""

    def __init__(self, folder: Path) -> None:
        self.cert = folder / "cert.pem"
        self.key = folder / "key.pem"
        subprocess.run(
            [  # noqa: S607 -- the openssl command on PATH
                "openssl", "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-keyout", str(self.key), "-out", str(self.cert),
                "-days", "1", "-nodes", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    @staticmethod
    def available() -> bool:
        """Whether the openssl command is there to make one."""
        return shutil.which("openssl") is not None


def versions() -> str:
    """The versions of the packages that decide the numbers."""
    names = ("iprogsms-async", "httpx", "httpcore", "aiohttp", "anyio")
    return ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        if _has(name)
        else f"{name} (not installed)"
        for name in names
    )


def _has(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def machine() -> str:
    """One line on the machine: CPU, cores, Python, and the date."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"on {platform.system()}, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"
    )


def header(title: str, detail: str) -> None:
    """Print what is measured and where."""
    print(f"# {title}")
    print()
    print(f"- machine: {machine()}")
    print(f"- {versions()}")
    print(f"- {detail}")
    print()


def table(headings: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table."""
    print("| " + " | ".join(headings) + " |")
    print("|" + "|".join(" --- " for _ in headings) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def median(values: Sequence[float]) -> float:
    """The median, or NaN for none."""
    return statistics.median(values) if values else float("nan")


def ratio(value: float, baseline: float) -> str:
    """``value / baseline`` as ``1.23x``."""
    if not baseline or math.isnan(baseline):
        return "n/a"
    return f"{value / baseline:.2f}x"


def verdict(met: bool) -> str:
    """How a target reads in a table."""
    return "met" if met else "MISSED"


class Clock:
    """Wall and CPU time of a stretch of code (CPU of this whole process)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        """Add the time spent in the ``with`` block."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


def has_aiohttp() -> bool:
    """Whether the ``[aiohttp]`` extra is installed."""
    return _has("aiohttp")


MESSAGE = "Your bill is due on the 8th. Salamat!"


def numbers(count: int) -> Iterator[str]:
    """Distinct valid Philippine mobile numbers, lazily."""
    return (f"0917{i:07d}" for i in range(count))


# --- the hand-written loops a user would write without the library ----------


async def httpx_loop(
    http: httpx.AsyncClient,
    base_url: str,
    recipients: Iterable[str],
    concurrency: int,
    *,
    poll: bool = True,
) -> list[str]:
    """Semaphore + gather over httpx: send each text, then poll it once.

    Returns each recipient's status ("delivered", or "accepted" unpolled).
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def one(number: str) -> str:
        async with semaphore:
            answer = await http.post(
                base_url + "/sms_messages",
                json={"api_token": TOKEN, "phone_number": number, "message": MESSAGE},
            )
            answer.raise_for_status()
            message_id = answer.json()["message_id"]
        if not poll:
            return "accepted"
        async with semaphore:
            answer = await http.get(
                base_url + "/sms_messages/status",
                params={"api_token": TOKEN, "message_id": message_id},
            )
            answer.raise_for_status()
            status: str = answer.json()["message_status"]
            return status

    return await asyncio.gather(*(one(number) for number in recipients))


async def aiohttp_loop(
    session: aiohttp.ClientSession,
    base_url: str,
    recipients: Iterable[str],
    concurrency: int,
    *,
    poll: bool = True,
) -> list[str]:
    """The same loop over a raw aiohttp session."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(number: str) -> str:
        async with (
            semaphore,
            session.post(
                base_url + "/sms_messages",
                json={"api_token": TOKEN, "phone_number": number, "message": MESSAGE},
            ) as answer,
        ):
            answer.raise_for_status()
            message_id = (await answer.json())["message_id"]
        if not poll:
            return "accepted"
        async with (
            semaphore,
            session.get(
                base_url + "/sms_messages/status",
                params={"api_token": TOKEN, "message_id": message_id},
            ) as answer,
        ):
            answer.raise_for_status()
            status: str = (await answer.json())["message_status"]
            return status

    return await asyncio.gather(*(one(number) for number in recipients))


# --- a transport that does nothing ----------------------------------------

_SENT_BODY = (
    b'{"status":200,"message":"Your SMS message has been successfully added to '
    b'the queue and will be processed shortly.","message_id":"iSms-%08d"}'
)
_STATUS_BODY = b'{"status":200,"message_status":"delivered"}'


def null_transport(*, checkpoint: bool = True) -> httpx.AsyncBaseTransport:
    """An httpx transport that answers at once, in process, with canned bodies.

    ``POST .../sms_messages`` gets a fresh message id, ``GET .../status``
    "delivered", anything else 404. No socket, no pool, no parsing: what
    remains of a request's CPU is the caller's. With ``checkpoint`` each
    request yields to the event loop once, as the cheapest real transport
    does while it waits for an answer (so workers interleave as they would).
    """
    import httpx  # noqa: PLC0415 -- only the scripts that use it pay the import

    counter = iter(range(1 << 62))
    headers = [(b"content-type", b"application/json")]

    class NullTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if checkpoint:
                await asyncio.sleep(0)
            path = request.url.path
            if request.method == "POST" and path.endswith("/sms_messages"):
                body = _SENT_BODY % next(counter)
            elif path.endswith("/sms_messages/status"):
                body = _STATUS_BODY
            else:
                return httpx.Response(404, headers=headers, content=b"{}")
            return httpx.Response(200, headers=headers, content=body)

    return NullTransport()


async def pulling_workers(
    concurrency: int, work: Callable[[str], Awaitable[str]], n: int
) -> int:
    """``concurrency`` workers pulling numbers from one iterator; delivered count."""
    pending: Iterator[str] = numbers(n)
    delivered = 0

    async def worker() -> None:
        nonlocal delivered
        for number in pending:
            status = await work(number)  # before +=, which reads first
            delivered += status == "delivered"

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return delivered


def short_path(filename: str) -> str:
    """A profiled function's file, shorn of the site-packages or checkout prefix."""
    for marker in ("site-packages/", "/lib/python3", f"{HERE.parent}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


async def httpx_recipient(http: httpx.AsyncClient, base_url: str, number: str) -> str:
    """One recipient by hand on raw httpx: send its text, poll it once; its status."""
    answer = await http.post(
        base_url + "/sms_messages",
        json={"api_token": TOKEN, "phone_number": number, "message": MESSAGE},
    )
    answer.raise_for_status()
    message_id = answer.json()["message_id"]
    answer = await http.get(
        base_url + "/sms_messages/status",
        params={"api_token": TOKEN, "message_id": message_id},
    )
    answer.raise_for_status()
    status: str = answer.json()["message_status"]
    return status


# --- a PostgreSQL server for the journal benchmarks -------------------------


def postgres_settings(url: str | None) -> str:
    """The server's version and durability settings, for a benchmark's header."""
    if url is None:
        return "no PostgreSQL server"
    import psycopg  # noqa: PLC0415 -- only with a server

    with psycopg.connect(url) as connection:
        version, fsync, commit = (
            connection.execute(f"SHOW {setting}").fetchone()[0]  # type: ignore[index]
            for setting in ("server_version", "fsync", "synchronous_commit")
        )
    return (
        f"PostgreSQL {version} on 127.0.0.1 (fsync={fsync}, "
        f"synchronous_commit={commit})"
    )


def drop_broadcast(url: str | None, name: str) -> None:
    """Delete a round's broadcast from PostgreSQL: a benchmark leaves nothing behind."""
    import psycopg  # noqa: PLC0415 -- only with a server

    with psycopg.connect(url or "", autocommit=True) as connection:
        connection.execute("DELETE FROM iprogsms_broadcasts WHERE name = %s", (name,))
