"""An ASGI wrapper that notes, per recipient, how the fake answered each send.

It sits between uvicorn and `FakeGateway.app`, and records what went back on
the wire for every send (``POST /sms_messages`` and ``/send_bulk``): the
HTTP status, a dropped
connection, or no answer at all (a slow answer whose client had left). That is
the ground truth a chaos test checks the client's report against.

With ``workers=True`` it also tells the processes of a shared broadcast
apart: each is given the base URL ``.../WORKER/api/v1``, and the log strips
that first part of the path, noting which worker sent each number and which
of its sends are still unanswered.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict

from iprogsms_async.testing.wire import ConnectionDropped

SEND_PATHS = frozenset({"/api/v1/sms_messages", "/api/v1/sms_messages/send_bulk"})
DROPPED = "dropped"
NO_ANSWER = "no answer"


class WireLog:
    """Wraps an ASGI app; ``answers[number]`` lists each send's outcome in order.

    A bulk send counts once for every number it carries. With ``workers``,
    ``sent_by[worker]`` lists the numbers of each send that worker made, as
    they arrived, and ``unanswered[worker]`` the numbers of its sends still
    being handled.
    """

    def __init__(self, app, *, workers=False):
        self.app = app
        self.lock = threading.Lock()
        self.answers: dict[str, list[int | str]] = defaultdict(list)
        self.workers = workers
        self.sent_by: dict[str, list[str]] = defaultdict(list)
        self.unanswered: dict[str, Counter[str]] = defaultdict(Counter)

    async def __call__(self, scope, receive, send):
        worker, scope = self._worker_of(scope)
        if scope["type"] != "http" or scope["path"] not in SEND_PATHS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        numbers = json.loads(body)["phone_number"].split(",")
        self._arrived(worker, numbers)
        status = None

        async def replay():
            nonlocal body
            if body is None:  # read once already: what follows is a disconnect
                return await receive()
            message = {"type": "http.request", "body": body, "more_body": False}
            body = None
            return message

        async def watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        outcome: int | str = NO_ANSWER
        try:
            await self.app(scope, replay, watch)
            if status is not None:
                outcome = status
        except ConnectionDropped:
            outcome = DROPPED
            raise
        finally:
            self._answered(worker, numbers, outcome)

    def _worker_of(self, scope):
        """The worker named by the path's first part, and the scope without it."""
        if not self.workers or scope["type"] != "http":
            return None, scope
        _, worker, rest = scope["path"].split("/", 2)
        return worker, {**scope, "path": "/" + rest, "raw_path": b"/" + rest.encode()}

    def _arrived(self, worker, numbers):
        if worker is not None:
            with self.lock:
                self.sent_by[worker].extend(numbers)
                self.unanswered[worker].update(numbers)

    def _answered(self, worker, numbers, outcome):
        with self.lock:
            for number in numbers:
                self.answers[number].append(outcome)
            if worker is not None:
                self.unanswered[worker].subtract(numbers)
                self.unanswered[worker] = +self.unanswered[worker]

    def in_flight(self, worker: str) -> set[str]:
        """The numbers of ``worker``'s sends that arrived and are not answered yet."""
        with self.lock:
            return set(self.unanswered[worker])

    def snapshot(self) -> dict[str, int]:
        """How many sends each number has met so far."""
        with self.lock:
            return {number: len(answers) for number, answers in self.answers.items()}


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return b"".join(chunks)
