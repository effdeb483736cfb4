"""The CD controller over the API: ask for a sync, read each source's status.

    POST /api/v1/cd/sync[?source=S][&wait=true][&scan=true]   200 {"results"} or 202
    GET  /api/v1/cd/status                     {"sources": [{"source", "state", "last"}]}
    GET  /api/v1/cd/workloads[?source=S]       {"sources": [{"source", "revision",
                                                "workloads": [list-workloads --json]}]}

`/api/v1/sync` and `/api/v1/status` answer the same (the paths of `headwater cd` before
it shared this router; `headwater sync` still calls them), outside the OpenAPI document.
`scan` runs image automation first (registries scanned, releases committed).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from headwater.web.deps import CDController, require_token

router = APIRouter(prefix="/api/v1", tags=["cd"], dependencies=[Depends(require_token)])


async def _sync(cd: CDController, source: str | None = None, wait: bool = False,
                scan: bool = False) -> JSONResponse:
    if not wait:
        cd.sync_later(source or None, scan=scan)
        return JSONResponse({"accepted": True}, status_code=202)
    results = await cd.sync(source or None, scan=scan)
    return JSONResponse({"results": [r.to_json() for r in results]})


async def _status(cd: CDController) -> dict[str, Any]:
    return {"sources": cd.status()}


async def _workloads(cd: CDController, source: str | None = None) -> dict[str, Any]:
    return {"sources": [{"source": found.source, "revision": found.revision,
                         "workloads": [w.to_json() for w in found.workloads]}
                        for found in await cd.workloads(source or None)]}


router.add_api_route("/cd/sync", _sync, methods=["POST"], name="cd_sync",
                     summary="Sync one source (or all) now", response_model=None)
router.add_api_route("/cd/status", _status, methods=["GET"], name="cd_status",
                     summary="Each source's state and last sync")
router.add_api_route("/cd/workloads", _workloads, methods=["GET"], name="cd_workloads",
                     summary="Each source's workloads (images, policies) at its revision")
router.add_api_route("/sync", _sync, methods=["POST"], include_in_schema=False,
                     response_model=None)
router.add_api_route("/status", _status, methods=["GET"], include_in_schema=False)
