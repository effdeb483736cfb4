"""The CI engine as the server runs it: one object the web routes call.

`CI` owns the store, the checker and the runner loops, and the live event hub, and
offers the operations of the REST API as plain async methods that raise
`NotFound` / `Invalid` / `Conflict` for the routes to map to HTTP statuses. Routes
stay thin; everything they need is here.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater import yamlload
from headwater.ci.build.executor import TaskExecutor
from headwater.ci.checker import Checker
from headwater.ci.events import END, Event, Hub
from headwater.ci.pipelines import SetResult, set_pipeline
from headwater.ci.plan import PLAN, Task
from headwater.ci.resources.base import Version
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.runner import Runner, RunnerSettings, TriggerError
from headwater.store import Build, Job, Pipeline, Resource, ResourceVersion, Store

FINISHED = frozenset({"succeeded", "failed", "errored", "aborted"})


class NotFound(Exception):
    pass


class Invalid(Exception):
    pass


class Conflict(Exception):
    pass


@dataclass(frozen=True)
class CISettings:
    data_dir: Path
    external_url: str = "http://127.0.0.1:8080"
    scheduler_tick: float = 10.0
    checker_tick: float = 10.0
    yaml_limits: yamlload.Limits = yamlload.DEFAULT  # pipelines, task files, vars files


class CI:
    def __init__(self, store: Store, *, types: ResourceTypes, executor: TaskExecutor,
                 settings: CISettings) -> None:
        self.store = store
        self.hub = Hub()
        self.settings = settings
        self.runner = Runner(store, hub=self.hub, types=types, executor=executor,
                             settings=RunnerSettings(
                                 work_root=settings.data_dir / "builds",
                                 external_url=settings.external_url,
                                 tick=settings.scheduler_tick,
                                 yaml_limits=settings.yaml_limits))
        self.checker = Checker(store, types=types, on_new_versions=self.runner.wake,
                               tick=settings.checker_tick)
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.runner.recover()
        self._loops = [asyncio.create_task(self.runner.run_forever(), name="scheduler"),
                       asyncio.create_task(self.checker.run_forever(), name="checker")]

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.runner.stop()

    # -- pipelines --------------------------------------------------------------------

    async def set_pipeline(self, team: str, name: str, text: str, vars: dict[str, Any],
                           ) -> SetResult:
        result = await set_pipeline(self.store, team, name, text, vars,
                                    filename=f"pipeline {name}",
                                    limits=self.settings.yaml_limits)
        self.runner.wake()
        return result

    async def pipeline(self, team: str, name: str) -> Pipeline:
        pipeline = await self.store.get_pipeline(team, name)
        if pipeline is None:
            raise NotFound(f"pipeline {name!r} not found")
        return pipeline

    async def pause(self, team: str, name: str, paused: bool) -> None:
        if not await self.store.set_pipeline_paused(team, name, paused):
            raise NotFound(f"pipeline {name!r} not found")
        self.runner.wake()

    async def destroy(self, team: str, name: str) -> None:
        if not await self.store.destroy_pipeline(team, name):
            raise NotFound(f"pipeline {name!r} not found")

    # -- jobs and builds --------------------------------------------------------------

    async def job(self, team: str, pipeline_name: str, job_name: str) -> tuple[Pipeline, Job]:
        pipeline = await self.pipeline(team, pipeline_name)
        job = await self.store.job(pipeline.id, job_name)
        if job is None:
            raise NotFound(f"job {pipeline_name}/{job_name} not found")
        return pipeline, job

    async def pause_job(self, team: str, pipeline_name: str, job_name: str,
                        paused: bool) -> None:
        """A paused job gets no new builds and its pending ones wait (as Concourse)."""
        _, job = await self.job(team, pipeline_name, job_name)
        await self.store.set_job_paused(job.id, paused)
        self.runner.wake()

    async def trigger(self, team: str, pipeline_name: str, job_name: str) -> Build:
        pipeline, job = await self.job(team, pipeline_name, job_name)
        if job.config.get("disable_manual_trigger"):
            raise Conflict(f"job {pipeline_name}/{job_name} has disable_manual_trigger set")
        try:
            return await self.runner.trigger(pipeline, job)
        except TriggerError as e:
            raise Conflict(f"cannot trigger {pipeline_name}/{job_name}: {e}") from e

    async def rerun(self, team: str, pipeline_name: str, job_name: str,
                    build_name: str) -> Build:
        """`rerun-build`: the same inputs as that build, the job's current config."""
        pipeline, _ = await self.job(team, pipeline_name, job_name)
        original = await self.store.job_build(pipeline.id, job_name, build_name)
        if original is None:
            raise NotFound(f"build {pipeline_name}/{job_name} #{build_name} not found")
        build = await self.store.create_rerun(original.id)
        self.runner.wake()
        return build

    async def build(self, build_id: int) -> Build:
        build = await self.store.build(build_id)
        if build is None:
            raise NotFound(f"build {build_id} not found")
        return build

    async def abort(self, build_id: int) -> None:
        build = await self.build(build_id)
        if build.status in FINISHED:
            return
        await self.runner.abort(build.id)

    async def events(self, build_id: int, *, after: int = 0) -> AsyncIterator[Event]:
        """Stored events after `after`, then live ones until the build is over."""
        build = await self.build(build_id)
        with self.hub.subscribe(build_id) as queue:
            last = after
            for e in await self.store.events(build_id, after=after):
                last = e.seq
                yield Event(seq=e.seq, type=e.type, payload=e.payload)
            build = await self.build(build.id)
            if build.status in FINISHED:
                return
            while True:
                event = await queue.get()
                if event.type == END:
                    break
                if event.seq > last:
                    last = event.seq
                    yield event
        # Events written between the last live one and the end marker.
        for e in await self.store.events(build_id, after=last):
            yield Event(seq=e.seq, type=e.type, payload=e.payload)

    # -- resources --------------------------------------------------------------------

    async def resource(self, team: str, pipeline_name: str, name: str,
                       ) -> tuple[Pipeline, Resource]:
        pipeline = await self.pipeline(team, pipeline_name)
        resource = await self.store.resource(pipeline.id, name)
        if resource is None:
            raise NotFound(f"resource {pipeline_name}/{name} not found")
        return pipeline, resource

    async def pin(self, team: str, pipeline_name: str, name: str, version_id: int,
                  comment: str | None) -> Version:
        """`pin-resource`: every get of the resource uses this version from now on."""
        _, resource = await self._unpinnable(team, pipeline_name, name)
        version = await self.store.pin(resource.id, version_id, comment)
        if version is None:
            raise NotFound(f"resource {pipeline_name}/{name} has no version with id "
                           f"{version_id}")
        self.runner.wake()
        return version

    async def unpin(self, team: str, pipeline_name: str, name: str) -> None:
        _, resource = await self._unpinnable(team, pipeline_name, name)
        await self.store.unpin(resource.id)
        self.runner.wake()

    async def _unpinnable(self, team: str, pipeline_name: str, name: str,
                          ) -> tuple[Pipeline, Resource]:
        pipeline, resource = await self.resource(team, pipeline_name, name)
        if resource.pinned_version:
            raise Conflict(f"resource {pipeline_name}/{name} is pinned to "
                           f"{resource.pinned_version} in the pipeline config: change the "
                           "config's `version:` instead")
        return pipeline, resource

    async def check(self, team: str, pipeline_name: str, name: str,
                    from_version: dict[str, str] | None = None) -> Resource:
        _, resource = await self.resource(team, pipeline_name, name)
        await self.checker.check(resource, from_version=from_version)
        _, resource = await self.resource(team, pipeline_name, name)
        return resource

    async def versions(self, team: str, pipeline_name: str, name: str,
                       limit: int = 100) -> list[ResourceVersion]:
        _, resource = await self.resource(team, pipeline_name, name)
        return await self.store.versions(resource.id, limit=limit)

    # -- one-off builds (`execute`) ---------------------------------------------------

    async def execute(self, team: str, config: dict[str, Any],
                      inputs: dict[str, bytes]) -> Build:
        """A one-off build of one task, with inputs uploaded as .tar.gz archives.

        Its work dir is kept after it ends so `artifact` can hand the outputs back
        (the runner removes one-off work dirs an hour after they end)."""
        plan = Task(id="task", name="one-off", config=config)
        build = await self.store.create_build(team=team, pipeline_id=None, job_id=None,
                                              inputs=[], manually_triggered=True,
                                              plan=PLAN.dump_json(plan).decode())
        workdir = self.settings.data_dir / "builds" / str(build.id)
        for name, archive in inputs.items():
            _untar(archive, workdir / name)
        self.runner.wake()
        return build

    def artifact(self, build_id: int, name: str) -> bytes:
        path = self.settings.data_dir / "builds" / str(build_id) / name
        if not path.is_dir():
            raise NotFound(f"build {build_id} has no output {name!r}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(path, arcname=".")
        return buf.getvalue()


def _untar(archive: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            tar.extractall(dest, filter="data")
    except tarfile.TarError as e:
        raise Invalid(f"input archive is not a readable tar: {e}") from e
