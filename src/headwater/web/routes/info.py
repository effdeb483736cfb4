"""What needs no API token: `/healthz`, `/api/v1/info` (the version); and the OpenAPI
document of the API at `/api/v1/openapi.json`, which does need the token (it maps every
route; Concourse publishes no schema) except in loopback dev mode, the only mode that
also serves the interactive docs at `/api/v1/docs` (a browser page cannot send a bearer
token, and its script is fetched from a CDN, which a dev machine may reach)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from headwater import __version__
from headwater.web.deps import AppServices, require_token

router = APIRouter(tags=["info"])
OPENAPI_URL = "/api/v1/openapi.json"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/v1/info")
async def info() -> dict[str, str]:
    return {"version": __version__}


@router.get(OPENAPI_URL, dependencies=[Depends(require_token)], include_in_schema=False)
async def openapi(request: Request) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/api/v1/docs", include_in_schema=False)
async def docs(services: AppServices) -> HTMLResponse:
    if not services.dev:
        raise HTTPException(404, "the interactive docs are served in --dev mode only; "
                                 f"read {OPENAPI_URL} with a token")
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title="headwater API")
