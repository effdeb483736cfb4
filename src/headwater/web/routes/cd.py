"""The CD controller over the API: ask for a sync, read each source's status.

    POST /api/v1/cd/sync[?source=S][&wait=true][&scan=true]   200 {"results"} or 202
    GET  /api/v1/cd/status                     {"sources": [{"source", "state", "last"}]}
    GET  /api/v1/cd/workloads[?source=S]       {"sources": [{"source", "revision",
                                                "workloads": [list-workloads --json]}]}

    GET  /api/v1/cd/releases[?source=S][&limit=N]   {"releases": [release record]}
    GET  /api/v1/cd/releases/{source}/{commit}     one release record (404: none)
    GET  /api/v1/cd/images[?source=S]        {"sources": [{"source", "revision",
                                              "workloads": [{..., "containers":
                                              [list-images --json]}]}]}
    POST /api/v1/cd/workloads/{source}/{workload}/release
         {"image"? , "update_all"?, "force"?, "user"?, "message"?}   {"revision"}
    POST /api/v1/cd/workloads/{source}/{workload}/{automate|deautomate|lock|unlock}
         {"user"?, "message"?}                                    {"revision"}

The workload is fluxctl's id (`default:deployment/app`, its slash as is or as %2F).
The actions are the CLI's verbs and commits, on the source's working copy between the
controller's syncs; `revision` is the pushed commit, null when nothing changed; a
sync of it is asked for at once. docs/cd-api.md has the shapes.

`/api/v1/sync` and `/api/v1/status` answer the same (the paths of `headwater cd` before
it shared this router; `headwater sync` still calls them), outside the OpenAPI document.
`scan` runs image automation first (registries scanned, releases committed).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from headwater.web.deps import Caller, CDController, require_token

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


async def _releases(cd: CDController, source: str | None = None,
                    limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    return {"releases": [r.to_json() for r in await cd.releases(source or None, limit=limit)]}


async def _release_record(cd: CDController, source: str, commit: str) -> dict[str, Any]:
    return (await cd.release_record(source, commit)).to_json()


async def _images(cd: CDController, source: str | None = None) -> dict[str, Any]:
    return {"sources": [found.to_json() for found in await cd.images(source or None)]}


class ActionBody(BaseModel):
    user: str | None = None       # the commit's author, "Name <email>" or a name (by
                                  # default the name of the caller's token)
    message: str | None = None    # why (in the commit; a lock's message)


class ReleaseBody(ActionBody):
    image: str | None = None      # IMAGE:TAG for the containers using IMAGE
    update_all: bool = False      # each container to the newest tag its policy allows
    force: bool = False           # release a locked workload too


async def _release(cd: CDController, source: str, workload: str,
                   body: ReleaseBody | None = None, *, caller: Caller) -> dict[str, Any]:
    b = body or ReleaseBody()
    revision = await cd.release(source, workload, image=b.image, update_all=b.update_all,
                                force=b.force, user=b.user or caller, message=b.message)
    return {"revision": revision}


async def _act(cd: CDController, source: str, workload: str, action: str,
               body: ActionBody | None = None, *, caller: Caller) -> dict[str, Any]:
    b = body or ActionBody()
    return {"revision": await cd.act(source, workload, action, user=b.user or caller,
                                     message=b.message)}


router.add_api_route("/cd/sync", _sync, methods=["POST"], name="cd_sync",
                     summary="Sync one source (or all) now", response_model=None)
router.add_api_route("/cd/status", _status, methods=["GET"], name="cd_status",
                     summary="Each source's state and last sync")
router.add_api_route("/cd/workloads", _workloads, methods=["GET"], name="cd_workloads",
                     summary="Each source's workloads (images, policies) at its revision")
router.add_api_route("/cd/releases", _releases, methods=["GET"], name="cd_releases",
                     summary="Release commits, newest first, with sync and rollout times")
router.add_api_route("/cd/releases/{source}/{commit}", _release_record, methods=["GET"],
                     name="cd_release", summary="One release commit's record")
router.add_api_route("/cd/images", _images, methods=["GET"], name="cd_images",
                     summary="Each workload's images, policies and allowed newer tags")
# `release` first: the action route's {action} would take it.
router.add_api_route("/cd/workloads/{source}/{workload:path}/release", _release,
                     methods=["POST"], name="cd_release_workload",
                     summary="Release an image (or all latest) to a workload, by a commit")
router.add_api_route("/cd/workloads/{source}/{workload:path}/{action}", _act,
                     methods=["POST"], name="cd_workload_action",
                     summary="automate, deautomate, lock or unlock a workload, by a commit")
router.add_api_route("/sync", _sync, methods=["POST"], include_in_schema=False,
                     response_model=None)
router.add_api_route("/status", _status, methods=["GET"], include_in_schema=False)
