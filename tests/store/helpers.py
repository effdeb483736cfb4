"""Small builders shared by the store tests."""

from __future__ import annotations

from typing import Any

from headwater.store import (
    Build,
    BuildInput,
    JobSpec,
    ResourceSpec,
    SavedPipeline,
    Store,
)


def resource(name: str, **kw: Any) -> ResourceSpec:
    kw.setdefault("type", "git")
    kw.setdefault("source", {"uri": f"https://example.com/{name}.git"})
    return ResourceSpec(name=name, **kw)


async def set_pipeline(store: Store, name: str = "p", *, team: str = "main",
                       resources: list[str] | None = None, jobs: list[str] | None = None,
                       specs: list[ResourceSpec] | None = None) -> SavedPipeline:
    res = specs if specs is not None else [resource(n) for n in (resources or ["repo"])]
    return await store.save_pipeline(
        team, name, config={"resources": [r.name for r in res]},
        config_text=f"# {name}\n", redact=[], resources=res,
        jobs=[JobSpec(name=j, config={"plan": []}) for j in (jobs or ["build"])])


async def ids(store: Store, pipeline_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """The resource ids and job ids of a pipeline, by name."""
    return ({r.name: r.id for r in await store.resources(pipeline_id)},
            {j.name: j.id for j in await store.jobs(pipeline_id)})


async def job_build(store: Store, pipeline_id: int, job_id: int,
                    inputs: list[BuildInput] | None = None) -> Build:
    return await store.create_build(team="main", pipeline_id=pipeline_id, job_id=job_id,
                                    inputs=inputs or [], manually_triggered=False)
