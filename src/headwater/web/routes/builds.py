"""Builds: list (newest first), read, abort, the event stream (SSE), a one-off build's
artifacts, and `execute` (a one-off build of a task with uploaded inputs).

The stream sends each stored event as it was stored, in the typed envelope of
`ci.eventtypes` (`{"event": kind, "data": ...}`), `id:` its sequence number so a
client resumes with `Last-Event-ID`, then `event: end` when the build is over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from headwater.ci import eventtypes
from headwater.ci.service import CI
from headwater.web.deps import CIService, require_token
from headwater.web.routes import views

router = APIRouter(prefix="/api/v1", tags=["builds"], dependencies=[Depends(require_token)])


@router.get("/builds")
async def builds(ci: CIService, team: str | None = None, pipeline: str | None = None,
                 job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    return [views.build(b) for b in await ci.builds(team=team, pipeline=pipeline, job=job,
                                                      limit=limit)]


@router.get("/builds/{build_id}")
async def get_build(ci: CIService, build_id: int) -> dict[str, Any]:
    return views.build(await ci.build(build_id))


@router.put("/builds/{build_id}/abort")
async def abort(ci: CIService, build_id: int) -> Response:
    await ci.abort(build_id)
    return Response(status_code=204)


@router.get("/builds/{build_id}/events")
async def events(ci: CIService, build_id: int, request: Request) -> StreamingResponse:
    await ci.build(build_id)  # 404 before the stream starts
    return event_stream(ci, build_id, int(request.headers.get("last-event-id") or 0))


def event_stream(ci: CI, build_id: int, after: int) -> StreamingResponse:
    """The build's events after `after` as server-sent events, each in its typed
    envelope, then `end`: the API's stream and the UI's are this one."""
    async def stream() -> AsyncIterator[bytes]:
        async for event in ci.events(build_id, after=after):
            data = eventtypes.envelope(event.type, event.payload)
            yield f"id: {event.seq}\nevent: event\ndata: {data}\n\n".encode()
        yield b"event: end\ndata: {}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.get("/builds/{build_id}/artifacts/{name}")
async def artifact(ci: CIService, build_id: int, name: str) -> StreamingResponse:
    return StreamingResponse(await ci.artifact(build_id, name),
                             media_type="application/gzip")


@router.post("/teams/{team}/builds")
async def execute(ci: CIService, team: str, config: Annotated[str, Form()],
                  inputs: Annotated[list[UploadFile], File()] | None = None,
                  ) -> dict[str, Any]:
    archives = [(f.filename or "", f.file) for f in inputs or []]
    return views.build(await ci.execute_text(team, config, archives))
