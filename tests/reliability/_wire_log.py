"""An ASGI wrapper that notes, per recipient, how the fake answered each send.

It sits between uvicorn and `FakeGateway.app`, and records what went back on
the wire for every send (``POST /sms_messages`` and ``/send_bulk``): the
HTTP status, a dropped
connection, or no answer at all (a slow answer whose client had left). That is
the ground truth a chaos test checks the client's report against.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict

from iprogsms_async.testing.wire import ConnectionDropped

SEND_PATHS = frozenset({"/api/v1/sms_messages", "/api/v1/sms_messages/send_bulk"})
DROPPED = "dropped"
NO_ANSWER = "no answer"


class WireLog:
    """Wraps an ASGI app; ``answers[number]`` lists each send's outcome in order.

    A bulk send counts once for every number it carries.
    """

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.answers: dict[str, list[int | str]] = defaultdict(list)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in SEND_PATHS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        numbers = json.loads(body)["phone_number"].split(",")
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
            with self.lock:
                for number in numbers:
                    self.answers[number].append(outcome)

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
