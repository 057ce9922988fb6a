r"""FastAPI: one client for the app's life, shared through a dependency.

Needs ``pip install -e ".[examples]"`` (FastAPI, uvicorn). Against the sandbox,
with ``iprogsms sandbox serve`` running in another terminal, from the checkout:

    IPROGSMS_BASE_URL=http://127.0.0.1:8080/api/v1 IPROGSMS_API_TOKEN=test-token \
        uvicorn examples.fastapi_app:app --port 8000

then ``curl -X POST localhost:8000/texts -H 'content-type: application/json'
-d '{"phone_number": "09171234567", "message": "Hi"}'``. For the real gateway,
set only IPROGSMS_API_TOKEN.

- ``POST /texts`` sends one text.
- ``POST /broadcasts`` starts a broadcast in the background and answers 202.
- ``GET /broadcasts/{id}`` reports its progress.

Broadcasts run in a task group owned by the app's lifespan: on shutdown they
are cancelled, which drains them (sends on the wire finish, none is in doubt).
"""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

from iprogsms_async import BroadcastProgress, IProgSMS, IProgSMSError, ValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable


class Text(BaseModel):
    phone_number: str
    message: str


class Broadcast(BaseModel):
    recipients: list[str]
    message: str


class Job:
    """A broadcast running in the background, and its latest progress."""

    def __init__(self) -> None:
        self.progress: BroadcastProgress | None = None
        self.state = "running"
        self.error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        progress = self.progress
        return {
            "state": self.state,
            "counts": dict(progress.counts) if progress else {},
            "accepted": progress.accepted if progress else 0,
            "error": self.error,
        }


def sms(request: Request) -> IProgSMS:
    """The dependency: the app's one client (override it in tests if you like)."""
    client: IProgSMS = request.app.state.sms
    return client


Sms = Annotated[IProgSMS, Depends(sms)]


def create_app(make_client: Callable[[], IProgSMS] = IProgSMS) -> FastAPI:
    """The app; ``make_client`` lets tests wire it to a fake gateway."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with make_client() as client, anyio.create_task_group() as tasks:
            app.state.sms = client
            app.state.tasks = tasks
            app.state.jobs = {}
            yield
            tasks.cancel_scope.cancel()  # shutdown: broadcasts drain, then stop

    app = FastAPI(lifespan=lifespan)
    job_ids = itertools.count(1)

    @app.post("/texts")
    async def send_text(text: Text, client: Sms) -> dict[str, Any]:
        try:
            sent = await client.sms.send(text.phone_number, text.message)
        except ValidationError as error:
            raise HTTPException(422, str(error)) from None
        except IProgSMSError as error:
            # maybe_sent tells the caller whether retrying could text twice.
            detail = {"error": str(error), "maybe_sent": error.maybe_sent}
            raise HTTPException(502, detail) from None
        return {"message_id": sent.message_id, "phone_number": sent.phone_number}

    @app.post("/broadcasts", status_code=202)
    async def start_broadcast(
        body: Broadcast, request: Request, client: Sms
    ) -> dict[str, Any]:
        job_id = str(next(job_ids))
        job = request.app.state.jobs[job_id] = Job()

        def on_progress(progress: BroadcastProgress) -> None:
            job.progress = progress

        async def run() -> None:
            try:
                await client.broadcast(
                    body.recipients, message=body.message, on_progress=on_progress
                )
            except IProgSMSError as error:
                job.state, job.error = "failed", str(error)
            else:
                job.state = "done"

        request.app.state.tasks.start_soon(run)
        return {"id": job_id, "href": f"/broadcasts/{job_id}"}

    @app.get("/broadcasts/{job_id}")
    async def broadcast_progress(job_id: str, request: Request) -> dict[str, Any]:
        job: Job | None = request.app.state.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such broadcast")
        return job.as_dict()

    return app


app = create_app()
