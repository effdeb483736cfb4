"""Pipelines: list, read (with the config as set, `((var))` placeholders and all), set,
pause, unpause, destroy. A config body over twice the YAML size limit is a 413 before
it is read whole, so the router is made per app (`router(max_config_bytes=...)`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from headwater.web.deps import CIService, require_token
from headwater.web.routes import views


class SetPipelineBody(BaseModel):
    config: str
    vars: dict[str, Any] = {}


def router(*, max_config_bytes: int) -> APIRouter:
    r = APIRouter(prefix="/api/v1/teams/{team}/pipelines", tags=["pipelines"],
                  dependencies=[Depends(require_token)])

    @r.get("")
    async def pipelines(ci: CIService, team: str) -> list[dict[str, Any]]:
        return [views.pipeline(p) for p in await ci.pipelines(team)]

    @r.get("/{name}")
    async def get_pipeline(ci: CIService, team: str, name: str) -> dict[str, Any]:
        p = await ci.pipeline(team, name)
        return {**views.pipeline(p), "config_text": p.config_text}

    @r.put("/{name}/config", max_body_size=max_config_bytes)
    async def put_config(ci: CIService, team: str, name: str,
                         body: SetPipelineBody) -> dict[str, Any]:
        result = await ci.set_pipeline(team, name, body.config, body.vars)
        return {"created": result.created, "changed": result.changed,
                "version": result.version,
                "warnings": [asdict(w) for w in result.warnings]}

    @r.put("/{name}/pause")
    async def pause(ci: CIService, team: str, name: str) -> Response:
        await ci.pause(team, name, True)
        return Response(status_code=200)

    @r.put("/{name}/unpause")
    async def unpause(ci: CIService, team: str, name: str) -> Response:
        await ci.pause(team, name, False)
        return Response(status_code=200)

    @r.delete("/{name}")
    async def destroy(ci: CIService, team: str, name: str) -> Response:
        await ci.destroy(team, name)
        return Response(status_code=204)

    return r
