"""`/metrics` for Prometheus: the app's one registry, where the CI engine
(`ci.metrics`: builds, checks) and the CD controller (`cd.metrics`: syncs, releases)
both record. It needs the API token like the rest of the API (Prometheus sends it
with `authorization: {credentials: ...}` in its scrape config), except in dev mode."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from headwater.web.deps import AppServices, require_token

router = APIRouter(tags=["metrics"], dependencies=[Depends(require_token)])


@router.get("/metrics")
async def metrics(services: AppServices) -> Response:
    return Response(generate_latest(services.registry),
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
