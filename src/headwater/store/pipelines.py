"""Pipelines, and the resources and jobs a pipeline's config declares.

`save_pipeline` is Concourse's `SavePipeline`: one transaction that upserts the
pipeline (a new one starts paused), then matches resources and jobs BY NAME so an
existing one keeps its id, its versions and its builds; the ones the new config no
longer has become inactive (hidden, history kept) and come back as they were if a
later config declares them again. A resource whose type or source changed gets a new
version scope (see `schema.py`) and is checked again at once.

The row of the pipeline is locked first (its UPDATE), so two concurrent saves of the
same pipeline apply one after the other.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from headwater.store.db import Database, utcnow
from headwater.store.models import (
    Job,
    JobSpec,
    Pipeline,
    Resource,
    ResourceSpec,
    SavedPipeline,
    resource_scope,
)
from headwater.store.schema import jobs, pipelines, resources
from headwater.store.tokens import sha256_hex

DEFAULT_TEAM = "main"


class PipelinesMixin:
    _db: Database

    async def save_pipeline(self, team: str, name: str, *, config: dict[str, Any],
                            config_text: str, redact: list[str], resources: list[ResourceSpec],
                            jobs: list[JobSpec]) -> SavedPipeline:
        _unique("resource", [r.name for r in resources])
        _unique("job", [j.name for j in jobs])
        now = utcnow()
        async with self._db.write() as conn:
            created = await self._db.insert_ignore(conn, pipelines, {
                "team": team, "name": name, "paused": True, "version": 0, "config": config,
                "config_text": config_text, "redact": redact, "created_at": now,
                "updated_at": now})
            row = (await conn.execute(
                pipelines.update()
                .where(pipelines.c.team == team, pipelines.c.name == name)
                .values(version=pipelines.c.version + 1, config=config,
                        config_text=config_text, redact=redact, updated_at=now)
                .returning(pipelines.c.id, pipelines.c.version))).one()
            await _save_resources(conn, row.id, resources)
            await _save_jobs(conn, row.id, jobs)
        return SavedPipeline(id=row.id, created=created, version=row.version)

    async def get_pipeline(self, team: str, name: str) -> Pipeline | None:
        return await self._one_pipeline((pipelines.c.team == team) & (pipelines.c.name == name))

    async def pipeline_by_id(self, pipeline_id: int) -> Pipeline | None:
        return await self._one_pipeline(pipelines.c.id == pipeline_id)

    async def list_pipelines(self, team: str) -> list[Pipeline]:
        query = sa.select(pipelines).where(pipelines.c.team == team).order_by(pipelines.c.id)
        async with self._db.read() as conn:
            return [Pipeline.from_row(r) for r in await conn.execute(query)]

    async def all_pipelines(self) -> list[Pipeline]:
        """Every pipeline of every team, in creation order (for the scheduler)."""
        async with self._db.read() as conn:
            rows = await conn.execute(sa.select(pipelines).order_by(pipelines.c.id))
            return [Pipeline.from_row(r) for r in rows]

    async def set_pipeline_paused(self, team: str, name: str, paused: bool) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                pipelines.update()
                .where(pipelines.c.team == team, pipelines.c.name == name)
                .values(paused=paused))
            return result.rowcount == 1

    async def destroy_pipeline(self, team: str, name: str) -> bool:
        """Delete the pipeline with its resources, versions, jobs, builds and events."""
        async with self._db.write() as conn:
            result = await conn.execute(
                pipelines.delete().where(pipelines.c.team == team, pipelines.c.name == name))
            return result.rowcount == 1

    # -- resources and jobs (active ones only) ----------------------------------------

    async def resources(self, pipeline_id: int) -> list[Resource]:
        query = (sa.select(resources)
                 .where(resources.c.pipeline_id == pipeline_id, resources.c.active)
                 .order_by(resources.c.id))
        async with self._db.read() as conn:
            return [Resource.from_row(r) for r in await conn.execute(query)]

    async def resource(self, pipeline_id: int, name: str) -> Resource | None:
        query = sa.select(resources).where(resources.c.pipeline_id == pipeline_id,
                                           resources.c.name == name, resources.c.active)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).one_or_none()
        return Resource.from_row(row) if row else None

    async def resource_by_id(self, resource_id: int) -> Resource | None:
        async with self._db.read() as conn:
            row = (await conn.execute(
                sa.select(resources).where(resources.c.id == resource_id))).one_or_none()
        return Resource.from_row(row) if row else None

    async def jobs(self, pipeline_id: int) -> list[Job]:
        query = (sa.select(jobs).where(jobs.c.pipeline_id == pipeline_id, jobs.c.active)
                 .order_by(jobs.c.id))
        async with self._db.read() as conn:
            return [Job.from_row(r) for r in await conn.execute(query)]

    async def all_jobs(self) -> list[Job]:
        """The active jobs of every pipeline, in one query (the scheduler's round)."""
        query = sa.select(jobs).where(jobs.c.active).order_by(jobs.c.id)
        async with self._db.read() as conn:
            return [Job.from_row(r) for r in await conn.execute(query)]

    async def jobs_by_id(self, job_ids: Collection[int]) -> dict[int, Job]:
        """The jobs of these ids (active or not), in one query."""
        if not job_ids:
            return {}
        query = sa.select(jobs).where(jobs.c.id.in_(sorted(job_ids)))
        async with self._db.read() as conn:
            return {r.id: Job.from_row(r) for r in await conn.execute(query)}

    async def job(self, pipeline_id: int, name: str) -> Job | None:
        query = sa.select(jobs).where(jobs.c.pipeline_id == pipeline_id, jobs.c.name == name,
                                      jobs.c.active)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).one_or_none()
        return Job.from_row(row) if row else None

    async def job_by_id(self, job_id: int) -> Job | None:
        async with self._db.read() as conn:
            row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).one_or_none()
        return Job.from_row(row) if row else None

    async def set_job_paused(self, job_id: int, paused: bool) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                jobs.update().where(jobs.c.id == job_id).values(paused=paused))
            return result.rowcount == 1

    async def _one_pipeline(self, where: sa.ColumnElement[bool]) -> Pipeline | None:
        async with self._db.read() as conn:
            row = (await conn.execute(sa.select(pipelines).where(where))).one_or_none()
        return Pipeline.from_row(row) if row else None


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{kind} {name!r} is declared twice")
        seen.add(name)


async def _save_resources(conn: AsyncConnection, pipeline_id: int,
                          specs: list[ResourceSpec]) -> None:
    existing = {r.name: r for r in await conn.execute(
        sa.select(resources.c.id, resources.c.name, resources.c.scope)
        .where(resources.c.pipeline_id == pipeline_id))}
    for spec in specs:
        scope = resource_scope(spec.type, spec.source)
        values: dict[str, Any] = {
            "active": True, "type": spec.type, "source": spec.source, "scope": scope,
            "check_every": spec.check_every,
            "webhook_token_sha256": sha256_hex(spec.webhook_token) if spec.webhook_token else None,
            "pinned_version": spec.pinned_version, "config": spec.config}
        old = existing.get(spec.name)
        if old is None:
            await conn.execute(resources.insert().values(
                pipeline_id=pipeline_id, name=spec.name, **values))
            continue
        if old.scope != scope:  # a new version history: check it now, old pins go
            values |= {"last_checked": None, "check_error": None,
                       "api_pinned_version": None, "pin_comment": None}
        await conn.execute(resources.update().where(resources.c.id == old.id).values(values))
    await _deactivate(conn, resources, pipeline_id, [s.name for s in specs])


async def _save_jobs(conn: AsyncConnection, pipeline_id: int, specs: list[JobSpec]) -> None:
    existing = {r.name: r.id for r in await conn.execute(
        sa.select(jobs.c.id, jobs.c.name).where(jobs.c.pipeline_id == pipeline_id))}
    for spec in specs:
        job_id = existing.get(spec.name)
        if job_id is None:
            await conn.execute(jobs.insert().values(
                pipeline_id=pipeline_id, name=spec.name, active=True, config=spec.config,
                paused=spec.paused, next_build_number=1))
        else:
            await conn.execute(jobs.update().where(jobs.c.id == job_id)
                               .values(active=True, config=spec.config))
    await _deactivate(conn, jobs, pipeline_id, [s.name for s in specs])


async def _deactivate(conn: AsyncConnection, table: sa.Table, pipeline_id: int,
                      keep: list[str]) -> None:
    await conn.execute(table.update()
                       .where(table.c.pipeline_id == pipeline_id, table.c.name.not_in(keep))
                       .values(active=False))
