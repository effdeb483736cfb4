"""Jobs of a pipeline: list (each with its latest finished build), pause, unpause,
trigger (`trigger-job`), their builds, and `rerun-build`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from headwater.web.deps import CIService, require_token
from headwater.web.routes import views

router = APIRouter(prefix="/api/v1/teams/{team}/pipelines/{name}/jobs", tags=["jobs"],
                   dependencies=[Depends(require_token)])


@router.get("")
async def jobs(ci: CIService, team: str, name: str) -> list[dict[str, Any]]:
    p, found = await ci.jobs(team, name)
    return [{"id": job.id, "name": job.name, "pipeline": p.name, "paused": job.paused,
             "finished_build": views.build(latest) if latest is not None else None}
            for job, latest in found]


@router.put("/{job}/pause")
async def pause_job(ci: CIService, team: str, name: str, job: str) -> Response:
    await ci.pause_job(team, name, job, True)
    return Response(status_code=200)


@router.put("/{job}/unpause")
async def unpause_job(ci: CIService, team: str, name: str, job: str) -> Response:
    await ci.pause_job(team, name, job, False)
    return Response(status_code=200)


@router.post("/{job}/builds")
async def trigger(ci: CIService, team: str, name: str, job: str) -> dict[str, Any]:
    return views.build(await ci.trigger(team, name, job))


@router.get("/{job}/builds")
async def job_builds(ci: CIService, team: str, name: str, job: str,
                     limit: int = 50) -> list[dict[str, Any]]:
    return [views.build(b) for b in await ci.builds(team=team, pipeline=name, job=job,
                                                      limit=limit)]


@router.get("/{job}/builds/{build_name}")
async def job_build(ci: CIService, team: str, name: str, job: str,
                    build_name: str) -> dict[str, Any]:
    return views.build(await ci.job_build(team, name, job, build_name))


@router.post("/{job}/builds/{build_name}")
async def rerun(ci: CIService, team: str, name: str, job: str,
                build_name: str) -> dict[str, Any]:
    return views.build(await ci.rerun(team, name, job, build_name))
