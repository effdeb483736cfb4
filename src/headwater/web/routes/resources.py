"""Resources of a pipeline: list, check now (`check-resource`), versions, pin, unpin,
and the webhook that checks one now (Concourse's `check/webhook?webhook_token=T`,
authenticated by the resource's own token, not the API's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from headwater.web.deps import CIService, require_token
from headwater.web.routes import views

_PREFIX = "/api/v1/teams/{team}/pipelines/{name}/resources"
router = APIRouter(prefix=_PREFIX, tags=["resources"], dependencies=[Depends(require_token)])
webhook_router = APIRouter(prefix=_PREFIX, tags=["resources"])  # its own token


@router.get("")
async def resources(ci: CIService, team: str, name: str) -> list[dict[str, Any]]:
    return [{"id": r.id, "name": r.name, "type": r.type, "pinned_version": r.pin,
             "pinned_in_config": bool(r.pinned_version), "pin_comment": r.pin_comment,
             "check_error": r.check_error, "last_checked": views.time(r.last_checked)}
            for r in await ci.resources(team, name)]


@router.post("/{resource}/check")
async def check(ci: CIService, team: str, name: str, resource: str,
                body: dict[str, Any] | None = None) -> dict[str, Any]:
    from_version = (body or {}).get("from")
    res = await ci.check(team, name, resource, from_version)
    return {"name": res.name, "check_error": res.check_error,
            "last_checked": views.time(res.last_checked)}


@router.get("/{resource}/versions")
async def versions(ci: CIService, team: str, name: str, resource: str,
                   limit: int = 100) -> list[dict[str, Any]]:
    return [{"id": v.id, "version": v.version, "metadata": v.metadata}
            for v in await ci.versions(team, name, resource, limit)]


@router.put("/{resource}/versions/{version_id}/pin")
async def pin(ci: CIService, *, team: str, name: str, resource: str, version_id: int,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
    comment = (body or {}).get("pin_comment")
    version = await ci.pin(team, name, resource, version_id,
                           str(comment) if comment is not None else None)
    return {"pinned_version": version}


@router.put("/{resource}/unpin")
async def unpin(ci: CIService, team: str, name: str, resource: str) -> Response:
    await ci.unpin(team, name, resource)
    return Response(status_code=200)


@webhook_router.post("/{resource}/check/webhook")
async def webhook(ci: CIService, team: str, name: str, resource: str,
                  webhook_token: str = "") -> Response:
    # One answer for an unknown pipeline or resource, no webhook token, a wrong token.
    if not await ci.check_by_webhook(team, name, resource, webhook_token):
        return JSONResponse({"detail": "invalid webhook token"}, status_code=401)
    return Response(status_code=201)
