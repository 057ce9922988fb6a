r"""aiohttp: the client opened and closed in ``cleanup_ctx``.

The same endpoints as the FastAPI example: ``POST /texts``, ``POST
/broadcasts`` (202) and ``GET /broadcasts/{id}``. Needs ``pip install -e
".[examples]"`` (aiohttp). Against the sandbox, with ``iprogsms sandbox serve``
running in another terminal, from the checkout:

    IPROGSMS_BASE_URL=http://127.0.0.1:8080/api/v1 IPROGSMS_API_TOKEN=test-token \
        python -m aiohttp.web -P 8000 examples.aiohttp_app:create_app

For the real gateway, set only IPROGSMS_API_TOKEN.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

from aiohttp import web

from iprogsms_async import BroadcastProgress, IProgSMS, IProgSMSError, ValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

SMS = web.AppKey("sms", IProgSMS)
JOBS = web.AppKey("jobs", dict)
TASKS = web.AppKey("tasks", set)


def create_app(
    argv: list[str] | None = None, make_client: Callable[[], IProgSMS] = IProgSMS
) -> web.Application:
    """The app; ``make_client`` lets tests wire it to a fake gateway."""
    del argv  # what `python -m aiohttp.web` passes

    async def sms_client(app: web.Application) -> AsyncIterator[None]:
        async with make_client() as client:
            app[SMS] = client
            yield
            # Shutdown: cancel running broadcasts; each drains before it ends.
            for task in app[TASKS]:
                task.cancel()
            await asyncio.gather(*app[TASKS], return_exceptions=True)

    app = web.Application()
    app[JOBS] = {}
    app[TASKS] = set()
    app.cleanup_ctx.append(sms_client)
    job_ids = itertools.count(1)

    async def send_text(request: web.Request) -> web.Response:
        body = await request.json()
        client = request.app[SMS]
        try:
            sent = await client.sms.send(body["phone_number"], body["message"])
        except ValidationError as error:
            raise web.HTTPUnprocessableEntity(text=str(error)) from None
        except IProgSMSError as error:
            # maybe_sent tells the caller whether retrying could text twice.
            detail = {"error": str(error), "maybe_sent": error.maybe_sent}
            return web.json_response(detail, status=502)
        return web.json_response(
            {"message_id": sent.message_id, "phone_number": sent.phone_number}
        )

    async def start_broadcast(request: web.Request) -> web.Response:
        body = await request.json()
        client = request.app[SMS]
        job_id = str(next(job_ids))
        job: dict[str, Any] = {
            "state": "running",
            "counts": {},
            "accepted": 0,
            "error": None,
        }
        request.app[JOBS][job_id] = job

        def on_progress(progress: BroadcastProgress) -> None:
            job["counts"], job["accepted"] = dict(progress.counts), progress.accepted

        async def run() -> None:
            try:
                await client.broadcast(
                    body["recipients"], message=body["message"], on_progress=on_progress
                )
            except IProgSMSError as error:
                job["state"], job["error"] = "failed", str(error)
            else:
                job["state"] = "done"

        tasks = request.app[TASKS]
        task = asyncio.create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response(
            {"id": job_id, "href": f"/broadcasts/{job_id}"}, status=202
        )

    async def broadcast_progress(request: web.Request) -> web.Response:
        job = request.app[JOBS].get(request.match_info["job_id"])
        if job is None:
            raise web.HTTPNotFound(text="no such broadcast")
        return web.json_response(job)

    app.router.add_post("/texts", send_text)
    app.router.add_post("/broadcasts", start_broadcast)
    app.router.add_get("/broadcasts/{job_id}", broadcast_progress)
    return app
