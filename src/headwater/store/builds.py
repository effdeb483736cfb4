"""Builds: creation and numbering, their life cycle, inputs and outputs, and the
questions the scheduler asks.

A job's builds are named "1", "2", ... by an `UPDATE jobs SET next_build_number =
next_build_number + 1 ... RETURNING` in the creating transaction: concurrent creators
queue on the job's row (PostgreSQL) or on the write lock (SQLite, BEGIN IMMEDIATE),
so numbers have no gap and no duplicate (and `UNIQUE (job_id, name)` would catch
one). One-off builds (`execute`) are numbered from the `counters` row the same way.

Life cycle, as Concourse: pending → started → succeeded | failed | errored |
aborted. An abort of a pending build ends it at once; of a started build it sets the
`aborted` flag and the engine, told by the runner, finishes it. After a restart the
builds left `started` cannot resume: `mark_running_builds_errored` ends them with an
`error` event saying why. The store writes the closing events in those two cases
only, since no engine runs those builds.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from headwater.store.db import IN_CHUNK, Database, utcnow
from headwater.store.events import append_events
from headwater.store.models import Build, BuildInput, BuildResource, BuildStatus
from headwater.store.schema import (
    build_inputs,
    build_outputs,
    builds,
    counters,
    jobs,
    pipelines,
    resource_versions,
)

ONE_OFF_COUNTER = "one_off_build"
RESTART_MESSAGE = "headwater restarted while this build was running; the build cannot resume"

_BUILD = (sa.select(builds, pipelines.c.name.label("pipeline_name"),
                    jobs.c.name.label("job_name"))
          .select_from(builds.outerjoin(pipelines, builds.c.pipeline_id == pipelines.c.id)
                       .outerjoin(jobs, builds.c.job_id == jobs.c.id)))
_ACTIVE = (BuildStatus.PENDING.value, BuildStatus.STARTED.value)


class BuildsMixin:
    _db: Database

    async def create_build(self, *, team: str, pipeline_id: int | None, job_id: int | None,
                           inputs: list[BuildInput], manually_triggered: bool,
                           plan: str | None = None) -> Build:
        """A new pending build: of `job_id` (named by the job's next number) with the
        inputs the scheduler chose, or a one-off build (no job, usually a `plan`)."""
        now = utcnow()
        async with self._db.write() as conn:
            if job_id is not None:
                row = (await conn.execute(
                    jobs.update().where(jobs.c.id == job_id)
                    .values(next_build_number=jobs.c.next_build_number + 1)
                    .returning(jobs.c.next_build_number, jobs.c.pipeline_id))).one_or_none()
                if row is None:
                    raise LookupError(f"job {job_id} does not exist")
                number, pipeline_id = row.next_build_number - 1, row.pipeline_id
            else:
                number = await _next_counter(self._db, conn, ONE_OFF_COUNTER)
            build_id = (await conn.execute(builds.insert().values(
                team=team, name=str(number), pipeline_id=pipeline_id, job_id=job_id,
                status=BuildStatus.PENDING.value, manually_triggered=manually_triggered,
                plan=plan, aborted=False, last_event_seq=0, create_time=now,
            ).returning(builds.c.id))).scalar_one()
            if inputs:
                await conn.execute(build_inputs.insert(), [
                    {"build_id": build_id, "name": i.name, "resource_id": i.resource_id,
                     "version_id": i.version_id} for i in inputs])
            return Build.from_row((await conn.execute(
                _BUILD.where(builds.c.id == build_id))).one())

    async def create_rerun(self, build_id: int) -> Build:
        """A new pending build of the same job with the same inputs as `build_id`, named
        as Concourse names reruns: `N.1`, `N.2`... after the original `N` (a rerun of a
        rerun counts from the original too). Raises LookupError for a build that is not
        a job's."""
        async with self._db.write() as conn:
            original = (await conn.execute(
                sa.select(builds.c.job_id, builds.c.name, builds.c.team, builds.c.pipeline_id)
                .where(builds.c.id == build_id))).one_or_none()
            if original is None or original.job_id is None:
                raise LookupError(f"build {build_id} is not a build of a job")
            # Lock the job row: concurrent reruns of one build queue for their number.
            await conn.execute(jobs.update().where(jobs.c.id == original.job_id)
                               .values(next_build_number=jobs.c.next_build_number))
            base = original.name.split(".", 1)[0]
            taken = (await conn.execute(
                sa.select(builds.c.name).where(builds.c.job_id == original.job_id,
                                               builds.c.name.like(f"{base}.%")))).scalars()
            numbers = [int(n.rsplit(".", 1)[1]) for n in taken if n.rsplit(".", 1)[1].isdigit()]
            new_id = (await conn.execute(builds.insert().values(
                team=original.team, name=f"{base}.{max(numbers, default=0) + 1}",
                pipeline_id=original.pipeline_id, job_id=original.job_id,
                status=BuildStatus.PENDING.value, manually_triggered=True, plan=None,
                aborted=False, last_event_seq=0, create_time=utcnow(),
            ).returning(builds.c.id))).scalar_one()
            await conn.execute(build_inputs.insert().from_select(
                ["build_id", "name", "resource_id", "version_id"],
                sa.select(sa.literal(new_id), build_inputs.c.name, build_inputs.c.resource_id,
                          build_inputs.c.version_id)
                .where(build_inputs.c.build_id == build_id)))
            return Build.from_row((await conn.execute(
                _BUILD.where(builds.c.id == new_id))).one())

    async def set_build_plan(self, build_id: int, plan_json: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(builds.update().where(builds.c.id == build_id)
                               .values(plan=plan_json))

    async def start_build(self, build_id: int) -> bool:
        """pending → started; False when the build is not pending (aborted meanwhile)."""
        async with self._db.write() as conn:
            result = await conn.execute(
                builds.update()
                .where(builds.c.id == build_id, builds.c.status == BuildStatus.PENDING.value)
                .values(status=BuildStatus.STARTED.value, start_time=utcnow()))
            return result.rowcount == 1

    async def finish_build(self, build_id: int, status: str) -> bool:
        """End a pending or started build with a final status; False if it had ended."""
        final = BuildStatus(status)
        if not final.finished:
            raise ValueError(f"{status!r} is not a final build status")
        async with self._db.write() as conn:
            result = await conn.execute(
                builds.update().where(builds.c.id == build_id, builds.c.status.in_(_ACTIVE))
                .values(status=final.value, end_time=utcnow()))
            return result.rowcount == 1

    async def request_abort(self, build_id: int) -> bool:
        """Ask to abort: a pending build is aborted now, a started one is flagged for
        the engine. False when the build does not exist or has already ended."""
        async with self._db.write() as conn:
            status = (await conn.execute(
                sa.select(builds.c.status).where(builds.c.id == build_id).with_for_update()
            )).scalar_one_or_none()
            if status not in _ACTIVE:
                return False
            values: dict[str, Any] = {"aborted": True}
            if status == BuildStatus.PENDING.value:
                values |= {"status": BuildStatus.ABORTED.value, "end_time": utcnow()}
                await append_events(conn, build_id, [
                    ("status", {"status": BuildStatus.ABORTED.value, "time": time.time()})])
            await conn.execute(builds.update().where(builds.c.id == build_id).values(values))
            return True

    async def mark_running_builds_errored(self) -> list[int]:
        """After a restart: every started build becomes errored, with an `error` and a
        `status` event saying why; their ids. Pending builds are left to run."""
        async with self._db.write() as conn:
            ids = list((await conn.execute(
                sa.select(builds.c.id).where(builds.c.status == BuildStatus.STARTED.value)
                .order_by(builds.c.id).with_for_update())).scalars())
            now = utcnow()
            for build_id in ids:
                stamp = time.time()
                await append_events(conn, build_id, [
                    ("error", {"message": RESTART_MESSAGE, "time": stamp}),
                    ("status", {"status": BuildStatus.ERRORED.value, "time": stamp})])
            if ids:
                await conn.execute(builds.update().where(builds.c.id.in_(ids))
                                   .values(status=BuildStatus.ERRORED.value, end_time=now))
            return ids

    # -- reading builds ---------------------------------------------------------------

    async def build(self, build_id: int) -> Build | None:
        return await self._one_build(builds.c.id == build_id)

    async def job_build(self, pipeline_id: int, job_name: str, build_name: str,
                        ) -> Build | None:
        return await self._one_build(sa.and_(builds.c.pipeline_id == pipeline_id,
                                             jobs.c.name == job_name,
                                             builds.c.name == build_name))

    async def builds(self, *, team: str | None = None, pipeline_id: int | None = None,
                     job_id: int | None = None, limit: int = 50,
                     before_id: int | None = None) -> list[Build]:
        """Builds newest first, filtered; page with `before_id` (the last id seen)."""
        query = _BUILD.order_by(builds.c.id.desc()).limit(limit)
        for column, value in ((builds.c.team, team), (builds.c.pipeline_id, pipeline_id),
                              (builds.c.job_id, job_id)):
            if value is not None:
                query = query.where(column == value)
        if before_id is not None:
            query = query.where(builds.c.id < before_id)
        return await self._many_builds(query)

    async def latest_builds(self, job_ids: Collection[int]) -> dict[int, Build]:
        """Each job's newest build (any status) in one query; jobs without one are absent."""
        if not job_ids:
            return {}
        newest = (sa.select(sa.func.max(builds.c.id))
                  .where(builds.c.job_id.in_(sorted(job_ids))).group_by(builds.c.job_id))
        found = await self._many_builds(_BUILD.where(builds.c.id.in_(newest)))
        return {b.job_id: b for b in found if b.job_id is not None}

    async def pending_builds(self) -> list[Build]:
        """Pending builds, oldest first: the order the runner starts them in."""
        return await self._many_builds(
            _BUILD.where(builds.c.status == BuildStatus.PENDING.value).order_by(builds.c.id))

    async def running_builds(self, *, job_id: int | None = None) -> list[Build]:
        """Started builds (of one job, or all), oldest first."""
        query = _BUILD.where(builds.c.status == BuildStatus.STARTED.value)
        if job_id is not None:
            query = query.where(builds.c.job_id == job_id)
        return await self._many_builds(query.order_by(builds.c.id))

    async def in_flight_counts(self) -> dict[int, int]:
        """Pending + started builds per job id (jobs with none are absent)."""
        query = (sa.select(builds.c.job_id, sa.func.count())
                 .where(builds.c.status.in_(_ACTIVE), builds.c.job_id.is_not(None))
                 .group_by(builds.c.job_id))
        async with self._db.read() as conn:
            return {r[0]: r[1] for r in await conn.execute(query)}

    # -- inputs and outputs -----------------------------------------------------------

    async def build_inputs(self, build_id: int) -> list[BuildResource]:
        return await self._build_resources(build_inputs, build_id)

    async def build_outputs(self, build_id: int) -> list[BuildResource]:
        return await self._build_resources(build_outputs, build_id)

    async def add_build_output(self, build_id: int, name: str, resource_id: int,
                               version_id: int) -> None:
        """Record that a `put` named `name` of the build produced this version."""
        async with self._db.write() as conn:
            await self._db.insert_ignore(conn, build_outputs, {
                "build_id": build_id, "name": name, "resource_id": resource_id,
                "version_id": version_id})

    async def output_builds(self, version_ids: Collection[int]) -> dict[int, int]:
        """Version id -> the newest build whose `put` produced it (image provenance)."""
        out: dict[int, int] = {}
        ids = sorted(set(version_ids))
        async with self._db.read() as conn:
            for start in range(0, len(ids), IN_CHUNK):
                rows = await conn.execute(
                    sa.select(build_outputs.c.version_id, sa.func.max(build_outputs.c.build_id))
                    .where(build_outputs.c.version_id.in_(ids[start:start + IN_CHUNK]))
                    .group_by(build_outputs.c.version_id))
                out.update({int(v): int(b) for v, b in rows})
        return out

    # -- what the scheduler asks ------------------------------------------------------

    async def used_versions(self, job_id: int, version_ids: Collection[int],
                            ) -> dict[str, set[int]]:
        """Input name -> the versions among `version_ids` that a build of the job, whatever
        its status, used under that name: a version already used does not trigger again.
        Only the candidates are asked about, so a long history costs nothing."""
        out: dict[str, set[int]] = {}
        ids = sorted(set(version_ids))
        async with self._db.read() as conn:
            for start in range(0, len(ids), IN_CHUNK):
                rows = await conn.execute(
                    sa.select(build_inputs.c.name, build_inputs.c.version_id).distinct()
                    .join(builds, builds.c.id == build_inputs.c.build_id)
                    .where(builds.c.job_id == job_id,
                           build_inputs.c.version_id.in_(ids[start:start + IN_CHUNK])))
                for name, version_id in rows:
                    out.setdefault(name, set()).add(version_id)
        return out

    async def passed_versions(self, job_id: int, resource_id: int) -> dict[int, set[int]]:
        """Versions of the resource that went through the job (Concourse's `passed`):
        version id -> the job's succeeded builds that had it as an input or output."""
        out: dict[int, set[int]] = {}
        async with self._db.read() as conn:
            for table in (build_inputs, build_outputs):
                rows = await conn.execute(
                    sa.select(table.c.version_id, table.c.build_id).distinct()
                    .join(builds, builds.c.id == table.c.build_id)
                    .where(builds.c.job_id == job_id,
                           builds.c.status == BuildStatus.SUCCEEDED.value,
                           table.c.resource_id == resource_id))
                for version_id, build_id in rows:
                    out.setdefault(version_id, set()).add(build_id)
        return out

    # -- helpers ----------------------------------------------------------------------

    async def _one_build(self, where: sa.ColumnElement[bool]) -> Build | None:
        async with self._db.read() as conn:
            row = (await conn.execute(_BUILD.where(where))).one_or_none()
        return Build.from_row(row) if row else None

    async def _many_builds(self, query: sa.Select[Any]) -> list[Build]:
        async with self._db.read() as conn:
            return [Build.from_row(r) for r in await conn.execute(query)]

    async def _build_resources(self, table: sa.Table, build_id: int) -> list[BuildResource]:
        query = (sa.select(table.c.name, table.c.resource_id, table.c.version_id,
                           resource_versions.c.version)
                 .join(resource_versions, resource_versions.c.id == table.c.version_id)
                 .where(table.c.build_id == build_id)
                 .order_by(table.c.name, table.c.version_id))
        async with self._db.read() as conn:
            return [BuildResource(name=r.name, resource_id=r.resource_id,
                                  version_id=r.version_id, version=r.version)
                    for r in await conn.execute(query)]


async def _next_counter(db: Database, conn: AsyncConnection, name: str) -> int:
    await db.insert_ignore(conn, counters, {"name": name, "value": 0})
    value = (await conn.execute(
        counters.update().where(counters.c.name == name)
        .values(value=counters.c.value + 1).returning(counters.c.value))).scalar_one()
    return int(value)
