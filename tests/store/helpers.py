"""Small builders shared by the store tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from headwater.store import (
    Build,
    BuildInput,
    JobSpec,
    ResourceSpec,
    SavedPipeline,
    Store,
)
from headwater.store.db import _MIGRATIONS


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


@contextmanager
def sqlite_at_revision(path: Path, revision: str) -> Iterator[sa.Connection]:
    """A SQLite database at `path` migrated to `revision` (an older schema), and a
    connection in a transaction to put rows in it the way that version stored them."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            yield conn
    finally:
        engine.dispose()
