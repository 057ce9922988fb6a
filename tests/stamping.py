"""A loopback gateway that stamps each send with its own clock, for limit tests.

A rate limit shared by processes is measured where it matters, at the
server: `Arrivals` notes when each send arrived (``time.monotonic()`` of the
serving process), from which worker (the first part of its path, when the
workers are given base URLs ``.../w1/api/v1``, ``.../w2/api/v1``...) and for
which numbers; it answers chosen sends ``429`` with ``Retry-After``, the rest
``200`` with a fresh message id. `busiest_second` reads the stamps.
Used by tests/test_redis_ratelimit.py and tests/reliability/test_shared_workers.py.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .loopback import _Handler


class Arrival(NamedTuple):
    """One send as the gateway saw it."""

    time: float
    worker: str
    numbers: tuple[str, ...]
    refused: bool


class Arrivals:
    """The gateway's side: each send stamped on arrival; chosen ones refused 429.

    ``refuse`` holds the indexes (in arrival order, from 0) of the sends to
    refuse. ``times`` and ``refused`` are the stamps of the sends answered
    200 and 429; ``log`` has every `Arrival`.
    """

    def __init__(self, refuse: Iterable[int] = (), retry_after: float = 2) -> None:
        self.times: list[float] = []
        self.refused: list[float] = []
        self.log: list[Arrival] = []
        self._refuse = set(refuse)
        self._retry_after = retry_after
        self._lock = threading.Lock()

    def __call__(self, handler: _Handler) -> None:
        numbers = _numbers(handler.body)
        worker = handler.path.split("/")[1]
        with self._lock:
            now = time.monotonic()
            index = len(self.log)
            refuse = index in self._refuse
            (self.refused if refuse else self.times).append(now)
            self.log.append(Arrival(now, worker, numbers, refuse))
        if refuse:
            body = b'{"status": 429, "message": "Too many requests"}'
            handler.send_response(429)
            handler.send_header("Retry-After", f"{self._retry_after:g}")
        else:
            answer = {
                "status": 200,
                "message": "queued",
                "message_id": f"iSms-{index + 1}",
            }
            body = json.dumps(answer).encode()
            handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def texts(self) -> dict[str, int]:
        """How many sends each number met that were answered 200."""
        held: dict[str, int] = {}
        with self._lock:
            for arrival in self.log:
                if not arrival.refused:
                    for number in arrival.numbers:
                        held[number] = held.get(number, 0) + 1
        return held


def busiest_second(times: Iterable[float]) -> int:
    """The most arrivals in any one-second window starting at an arrival."""
    ordered = sorted(times)
    most = 0
    end = 0
    for start_index, start in enumerate(ordered):
        while end < len(ordered) and ordered[end] < start + 1.0:
            end += 1
        most = max(most, end - start_index)
    return most


def _numbers(body: bytes) -> tuple[str, ...]:
    """The numbers a send carries (one, or a bulk send's comma-separated list)."""
    try:
        value = json.loads(body)["phone_number"]
    except (ValueError, KeyError, TypeError):
        return ()
    return tuple(str(value).split(","))
