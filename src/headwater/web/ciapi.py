"""The CI REST API under /api/v1, with Concourse's paths where it has one.

    GET    /api/v1/info                                      version (no token needed)
    GET    /api/v1/teams/{team}/pipelines                    list
    GET    /api/v1/teams/{team}/pipelines/{p}                one, with its config text
    PUT    /api/v1/teams/{team}/pipelines/{p}/config         {"config": yaml, "vars": {...}}
    PUT    /api/v1/teams/{team}/pipelines/{p}/pause | unpause
    DELETE /api/v1/teams/{team}/pipelines/{p}
    GET    /api/v1/teams/{team}/pipelines/{p}/jobs           jobs
    POST   /api/v1/teams/{team}/pipelines/{p}/jobs/{j}/builds    trigger-job
    GET    /api/v1/teams/{team}/pipelines/{p}/jobs/{j}/builds[/{name}]
    GET    /api/v1/builds[?team=&pipeline=&job=&limit=]       builds, newest first
    GET    /api/v1/builds/{id}         PUT /api/v1/builds/{id}/abort
    GET    /api/v1/builds/{id}/events  Server-Sent Events (stored, then live)
    GET    /api/v1/builds/{id}/artifacts/{name}              a one-off build's output (.tar.gz)
    POST   /api/v1/teams/{team}/builds                       `execute`: multipart task + inputs
    POST   /api/v1/teams/{team}/pipelines/{p}/resources/{r}/check    check now
    GET    /api/v1/teams/{team}/pipelines/{p}/resources/{r}/versions
    POST   /api/v1/teams/{team}/pipelines/{p}/resources/{r}/check/webhook?webhook_token=T
    GET    /api/v1/tokens   POST /api/v1/tokens {"name"}   DELETE /api/v1/tokens/{name|id}

Every route but `info`, `healthz` and the webhook (its own token) needs the bearer
token, unless the server runs in loopback dev mode. Routes only translate: the
work and the rules are in `headwater.ci.service.CI`; its errors map to 404 (`NotFound`),
409 (`Conflict`) and 400 (any other `UserError`: one handler, headwater/errors.py).
A request whose body is not what the route takes (not JSON, a wrong type) is a 400
with what is wrong, as any invalid config; a config body over twice the YAML size
limit is a 413 before it is read whole.
Pipeline configs are answered as the user set them (with `((var))` placeholders),
so the values of vars, which may be secrets, never leave the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import yaml
from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from headwater import __version__, yamlload
from headwater.ci import eventtypes
from headwater.ci.service import CI, Conflict, Invalid, NotFound
from headwater.errors import UserError
from headwater.store import Build, Pipeline, webhook_token_matches
from headwater.web.devguard import DevGuard
from headwater.web.tokenapi import add_token_routes

TokenCheck = Callable[[str], Awaitable[bool]]


class SetPipelineBody(BaseModel):
    config: str
    vars: dict[str, Any] = {}


def make_app(ci: CI, *, check_token: TokenCheck | None) -> FastAPI:  # noqa: PLR0915 (routes)
    """check_token None: loopback dev mode, no token needed."""
    app = FastAPI(title="headwater", version=__version__, docs_url="/api/docs",
                  openapi_url="/api/openapi.json")
    if check_token is None:  # dev mode: loopback Host names only, no cross-site writes
        app.add_middleware(DevGuard)

    async def auth(authorization: Annotated[str | None, Header()] = None) -> None:
        if check_token is None:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token or not await check_token(token):
            raise HTTPException(401, "a valid bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, e: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, e: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=409)

    @app.exception_handler(UserError)  # NotFound and Conflict, more specific, win
    async def _user_error(_: Request, e: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(e), **e.details()}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _request_errors(e)}, status_code=400)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/info")
    async def info() -> dict[str, str]:
        return {"version": __version__}

    @app.post("/api/v1/teams/{team}/pipelines/{pipeline}/resources/{resource}/check/webhook")
    async def webhook(team: str, pipeline: str, resource: str,
                      webhook_token: str = "") -> Response:
        # One answer (status and body) for an unknown pipeline or resource, a resource
        # without a webhook token and a wrong token, after the same hash and
        # constant-time compare: nothing to probe names or tokens with.
        try:
            _, res = await ci.resource(team, pipeline, resource)
            stored = res.webhook_token_sha256
        except NotFound:
            stored = None
        if not webhook_token_matches(stored, webhook_token):
            return JSONResponse({"detail": "invalid webhook token"}, status_code=401)
        await ci.check(team, pipeline, resource)
        return Response(status_code=201)

    routes = app.router
    deps = [Depends(auth)]
    add_token_routes(app, ci.store, deps)

    @routes.get("/api/v1/teams/{team}/pipelines", dependencies=deps)
    async def pipelines(team: str) -> list[dict[str, Any]]:
        return [_pipeline(p) for p in await ci.store.list_pipelines(team)]

    @routes.get("/api/v1/teams/{team}/pipelines/{name}", dependencies=deps)
    async def get_pipeline(team: str, name: str) -> dict[str, Any]:
        p = await ci.pipeline(team, name)
        return {**_pipeline(p), "config_text": p.config_text}

    limits = ci.settings.yaml_limits

    @routes.put("/api/v1/teams/{team}/pipelines/{name}/config", dependencies=deps,
                max_body_size=2 * limits.max_bytes + yamlload.MIB)
    async def put_config(team: str, name: str, body: SetPipelineBody) -> dict[str, Any]:
        result = await ci.set_pipeline(team, name, body.config, body.vars)
        return {"created": result.created, "changed": result.changed,
                "version": result.version,
                "warnings": [asdict(w) for w in result.warnings]}

    @routes.put("/api/v1/teams/{team}/pipelines/{name}/pause", dependencies=deps)
    async def pause(team: str, name: str) -> Response:
        await ci.pause(team, name, True)
        return Response(status_code=200)

    @routes.put("/api/v1/teams/{team}/pipelines/{name}/unpause", dependencies=deps)
    async def unpause(team: str, name: str) -> Response:
        await ci.pause(team, name, False)
        return Response(status_code=200)

    @routes.delete("/api/v1/teams/{team}/pipelines/{name}", dependencies=deps)
    async def destroy(team: str, name: str) -> Response:
        await ci.destroy(team, name)
        return Response(status_code=204)

    @routes.get("/api/v1/teams/{team}/pipelines/{name}/jobs", dependencies=deps)
    async def jobs(team: str, name: str) -> list[dict[str, Any]]:
        p = await ci.pipeline(team, name)
        jobs = await ci.store.jobs(p.id)
        latest = await ci.store.latest_builds([job.id for job in jobs])  # one query
        return [{"id": job.id, "name": job.name, "pipeline": p.name, "paused": job.paused,
                 "finished_build": _build(latest[job.id]) if job.id in latest else None}
                for job in jobs]

    @routes.put("/api/v1/teams/{team}/pipelines/{name}/jobs/{job}/pause", dependencies=deps)
    async def pause_job(team: str, name: str, job: str) -> Response:
        await ci.pause_job(team, name, job, True)
        return Response(status_code=200)

    @routes.put("/api/v1/teams/{team}/pipelines/{name}/jobs/{job}/unpause", dependencies=deps)
    async def unpause_job(team: str, name: str, job: str) -> Response:
        await ci.pause_job(team, name, job, False)
        return Response(status_code=200)

    @routes.post("/api/v1/teams/{team}/pipelines/{name}/jobs/{job}/builds", dependencies=deps)
    async def trigger(team: str, name: str, job: str) -> dict[str, Any]:
        return _build(await ci.trigger(team, name, job))

    @routes.get("/api/v1/teams/{team}/pipelines/{name}/jobs/{job}/builds", dependencies=deps)
    async def job_builds(team: str, name: str, job: str, limit: int = 50) -> list[dict[str, Any]]:
        _, j = await ci.job(team, name, job)
        return [_build(b) for b in await ci.store.builds(job_id=j.id, limit=limit)]

    @routes.get("/api/v1/teams/{team}/pipelines/{name}/jobs/{job}/builds/{build_name}",
                dependencies=deps)
    async def job_build(team: str, name: str, job: str, build_name: str) -> dict[str, Any]:
        p, _ = await ci.job(team, name, job)
        b = await ci.store.job_build(p.id, job, build_name)
        if b is None:
            raise NotFound(f"build {name}/{job} #{build_name} not found")
        return _build(b)

    @routes.post("/api/v1/teams/{team}/pipelines/{name}/jobs/{job}/builds/{build_name}",
                 dependencies=deps)
    async def rerun(team: str, name: str, job: str, build_name: str) -> dict[str, Any]:
        return _build(await ci.rerun(team, name, job, build_name))

    @routes.get("/api/v1/builds", dependencies=deps)
    async def builds(team: str | None = None, pipeline: str | None = None,
                     job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        if pipeline is not None and job is not None:
            _, j = await ci.job(team or "main", pipeline, job)
            return [_build(b) for b in await ci.store.builds(job_id=j.id, limit=limit)]
        if pipeline is not None:
            p = await ci.pipeline(team or "main", pipeline)
            return [_build(b) for b in await ci.store.builds(pipeline_id=p.id, limit=limit)]
        return [_build(b) for b in await ci.store.builds(team=team, limit=limit)]

    @routes.get("/api/v1/builds/{build_id}", dependencies=deps)
    async def get_build(build_id: int) -> dict[str, Any]:
        return _build(await ci.build(build_id))

    @routes.put("/api/v1/builds/{build_id}/abort", dependencies=deps)
    async def abort(build_id: int) -> Response:
        await ci.abort(build_id)
        return Response(status_code=204)

    @routes.get("/api/v1/builds/{build_id}/events", dependencies=deps)
    async def events(build_id: int, request: Request) -> StreamingResponse:
        await ci.build(build_id)  # 404 before the stream starts
        after = int(request.headers.get("last-event-id") or 0)

        async def stream() -> AsyncIterator[bytes]:
            async for event in ci.events(build_id, after=after):
                data = eventtypes.envelope(event.type, event.payload)
                yield f"id: {event.seq}\nevent: event\ndata: {data}\n\n".encode()
            yield b"event: end\ndata: {}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @routes.get("/api/v1/builds/{build_id}/artifacts/{name}", dependencies=deps)
    async def artifact(build_id: int, name: str) -> StreamingResponse:
        return StreamingResponse(await ci.artifact(build_id, name),
                                 media_type="application/gzip")

    @routes.post("/api/v1/teams/{team}/builds", dependencies=deps)
    async def execute(team: str, config: Annotated[str, Form()],
                      inputs: Annotated[list[UploadFile], File()] | None = None,
                      ) -> dict[str, Any]:
        try:
            task = await asyncio.to_thread(yamlload.load, config, filename="task config",
                                           limits=limits)
        except yamlload.YamlLimitError as e:
            raise Invalid(str(e)) from e
        except (yaml.YAMLError, UnicodeError) as e:
            raise Invalid(f"task config is not YAML: {e}") from e
        if not isinstance(task, dict):
            raise Invalid("task config must be a mapping")
        archives = [(f.filename or "", f.file) for f in inputs or []]
        return _build(await ci.execute(team, task, archives))

    @routes.post("/api/v1/teams/{team}/pipelines/{name}/resources/{resource}/check",
                 dependencies=deps)
    async def check(team: str, name: str, resource: str,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        from_version = (body or {}).get("from")
        res = await ci.check(team, name, resource, from_version)
        return {"name": res.name, "check_error": res.check_error,
                "last_checked": _time(res.last_checked)}

    @routes.get("/api/v1/teams/{team}/pipelines/{name}/resources", dependencies=deps)
    async def resources(team: str, name: str) -> list[dict[str, Any]]:
        p = await ci.pipeline(team, name)
        return [{"id": r.id, "name": r.name, "type": r.type, "pinned_version": r.pin,
                 "pinned_in_config": bool(r.pinned_version), "pin_comment": r.pin_comment,
                 "check_error": r.check_error, "last_checked": _time(r.last_checked)}
                for r in await ci.store.resources(p.id)]

    @routes.put("/api/v1/teams/{team}/pipelines/{name}/resources/{resource}/versions/"
                "{version_id}/pin", dependencies=deps)
    async def pin(team: str, name: str, resource: str, version_id: int,
                  body: dict[str, Any] | None = None) -> dict[str, Any]:
        comment = (body or {}).get("pin_comment")
        version = await ci.pin(team, name, resource, version_id,
                               str(comment) if comment is not None else None)
        return {"pinned_version": version}

    @routes.put("/api/v1/teams/{team}/pipelines/{name}/resources/{resource}/unpin",
                dependencies=deps)
    async def unpin(team: str, name: str, resource: str) -> Response:
        await ci.unpin(team, name, resource)
        return Response(status_code=200)

    @routes.get("/api/v1/teams/{team}/pipelines/{name}/resources/{resource}/versions",
                dependencies=deps)
    async def versions(team: str, name: str, resource: str,
                       limit: int = 100) -> list[dict[str, Any]]:
        return [{"id": v.id, "version": v.version, "metadata": v.metadata}
                for v in await ci.versions(team, name, resource, limit)]

    return app


def _time(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def _pipeline(p: Pipeline) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "team": p.team, "paused": p.paused,
            "version": p.version, "updated_at": _time(p.updated_at)}


def _build(b: Build) -> dict[str, Any]:
    return {"id": b.id, "name": b.name, "team": b.team, "status": b.status,
            "pipeline": b.pipeline_name, "job": b.job_name,
            "start_time": _time(b.start_time), "end_time": _time(b.end_time)}


def _request_errors(e: RequestValidationError) -> str:
    """What FastAPI found wrong with a request, one `where: what` per problem (never the
    input itself: it may be huge, or hold a var's secret value)."""
    parts = []
    for err in e.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        ctx = err.get("ctx") or {}
        why = f" ({ctx['error']})" if "error" in ctx and isinstance(ctx["error"], str) else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{why}")
    return "invalid request: " + "; ".join(parts)
