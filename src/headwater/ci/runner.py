"""The runner: the loop that turns the scheduler's decisions into builds, and runs them.

As Concourse's split of `atc/scheduler` and `atc/engine`, the work is in modules of
its own and this one is the loop around them. One loop, woken by new versions,
finished builds and manual triggers (and every `tick` seconds regardless, as
Concourse's 10 s scheduler tick), does two things:

1. for each job of each unpaused pipeline (every job read in one query), gathers
   what the store knows of its inputs and asks the pure `scheduler.compute_inputs`
   whether a build is due (`inputs.py`); if so it creates it, pending, with them;
2. starts the pending builds `scheduler.startable` allows (serial, serial groups,
   max_in_flight: `buildstarter.py`), each in its own asyncio task running
   `build.engine.run_build` on the plan compiled from the job's config and the
   chosen versions, in its work dir (`workdirs.py`).

The builds' side effects go through `StoreDelegate` (`storedelegate.py`): typed
events stored, redacted and fanned out to watchers, put versions saved.
After a restart `recover()` marks the builds that were running as errored; pending
builds simply start. A paused pipeline or job holds its pending builds. Aborting
cancels the build's task; the engine runs the `on_abort`/`ensure` hooks and kills its
processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from headwater import log as hwlog
from headwater import yamlload
from headwater.ci import buildstarter, inputs, workdirs
from headwater.ci import eventtypes as ev
from headwater.ci.build.engine import BuildContext, run_build
from headwater.ci.build.executor import TaskExecutor
from headwater.ci.buildlog import BuildLogSettings
from headwater.ci.config.cache import ConfigCache
from headwater.ci.config.compile import compile_job
from headwater.ci.config.model import JobConfig, PipelineConfig
from headwater.ci.events import Hub
from headwater.ci.metrics import CIMetrics
from headwater.ci.plan import PLAN, Plan
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.storedelegate import StoreDelegate
from headwater.errors import UserError
from headwater.store import Build, BuildInput, BuildStatus, Job, Pipeline, Store

_log = hwlog.get("runner")


class TriggerError(UserError):
    """A manual trigger that cannot make a build; the message says what is missing."""


@dataclass(frozen=True)
class RunnerSettings:
    work_root: Path  # builds run in workdirs.workdir(work_root, build id)
    task_caches: Path | None = None  # where task caches are kept between builds of a job
    external_url: str = "http://127.0.0.1:8080"
    tick: float = 10.0
    keep_workdirs: bool = False
    log: BuildLogSettings = field(default_factory=BuildLogSettings)
    get_timeout: float | None = None  # the default timeouts of get and put steps
    put_timeout: float | None = None
    yaml_limits: yamlload.Limits = yamlload.DEFAULT  # set_pipeline steps, task files, vars


class Runner:
    def __init__(self, store: Store, *, hub: Hub, types: ResourceTypes, executor: TaskExecutor,
                 settings: RunnerSettings, metrics: CIMetrics | None = None) -> None:
        self._store = store
        self._metrics = metrics
        self._hub = hub
        self._types = types
        self._executor = executor
        self._settings = settings
        self.yaml_limits = settings.yaml_limits
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self._configs = ConfigCache()

    def wake(self) -> None:
        self._wake.set()

    async def recover(self) -> list[int]:
        """After a restart: builds that were running cannot be resumed; they error."""
        ids = await self._store.mark_running_builds_errored()
        if ids:
            _log.warning("builds interrupted by a restart marked errored", builds=ids)
        return ids

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # the next tick tries again
                _log.exception("scheduling round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.tick)

    async def stop(self) -> None:
        """Stop running builds without finishing them: a restart marks them errored."""
        self._stopping = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def tick(self) -> None:
        # One-off builds keep theirs for `execute -o` to download; an hour is plenty.
        workdirs.remove_old(self._settings.work_root, running=self._running)
        pipelines = await self._store.all_pipelines()
        self._configs.forget({p.id for p in pipelines})
        by_pipeline: dict[int, list[Job]] = {}
        for job in await self._store.all_jobs():
            by_pipeline.setdefault(job.pipeline_id, []).append(job)
        for pipeline in pipelines:
            if pipeline.paused:
                continue
            config = self._config(pipeline)
            jobs = by_pipeline.get(pipeline.id, [])
            for job in jobs:
                if not job.paused:
                    await self._schedule(pipeline, config, job, jobs, manual=False)
        configs = {p.id: self._config(p) for p in pipelines}
        started = await buildstarter.start_pending(
            self._store, paused_pipelines={p.id for p in pipelines if p.paused},
            running=self._running,
            job_config=lambda job: (configs[job.pipeline_id].job(job.name)
                                    if job.pipeline_id in configs else None))
        for build in started:
            self._launch(build)

    def _config(self, pipeline: Pipeline) -> PipelineConfig:
        return self._configs.get(pipeline.id, pipeline.version, pipeline.config)

    async def trigger(self, pipeline: Pipeline, job: Job) -> Build:
        config = self._config(pipeline)
        jobs = await self._store.jobs(pipeline.id)
        build = await self._schedule(pipeline, config, job, jobs, manual=True)
        assert build is not None  # manual scheduling raises TriggerError instead
        self.wake()
        return build

    async def abort(self, build_id: int) -> bool:
        if not await self._store.request_abort(build_id):
            return False
        task = self._running.get(build_id)
        if task is not None:
            task.cancel()
        else:
            self._hub.close(build_id)
        return True

    # -- scheduling -------------------------------------------------------------------

    async def _schedule(self, pipeline: Pipeline, config: PipelineConfig, job: Job,
                        jobs: list[Job], *, manual: bool) -> Build | None:
        specs = inputs.input_specs(config, job.name)
        if not manual and not any(s.trigger for s in specs):
            return None  # nothing can trigger it: only `trigger-job` makes its builds
        found = await inputs.gather(self._store, pipeline.id, job, specs,
                                    {j.name: j.id for j in jobs})
        decision = found.decision
        if decision.inputs is None:
            if manual:
                raise TriggerError("; ".join(f"input {n!r}: {why}"
                                             for n, why in decision.waiting.items()))
            return None
        if not manual and not decision.trigger:
            return None
        chosen = [BuildInput(name=spec.name, resource_id=found.resources[spec.resource].id,
                             version_id=decision.inputs[spec.name].id)
                  for spec in found.specs]
        build = await self._store.create_build(
            team=pipeline.team, pipeline_id=pipeline.id, job_id=job.id, inputs=chosen,
            manually_triggered=manual)
        _log.info("build created", pipeline=pipeline.name, job=job.name, build=build.name,
                  manual=manual)
        return build

    # -- running ----------------------------------------------------------------------

    def _launch(self, build: Build) -> None:
        task = asyncio.create_task(self._run(build), name=f"build-{build.id}")
        self._running[build.id] = task
        task.add_done_callback(lambda _: self._running.pop(build.id, None))

    async def _run(self, build: Build) -> None:
        workdir = workdirs.workdir(self._settings.work_root, build.id)
        started = time.monotonic()
        status = BuildStatus.ERRORED
        delegate: StoreDelegate | None = None
        try:
            plan, pipeline, job_name = await self._plan_for(build)
            delegate = StoreDelegate(self._store, self._hub, build,
                                     list(pipeline.redact) if pipeline else [],
                                     log=self._settings.log,
                                     yaml_limits=self._settings.yaml_limits,
                                     on_output=self.wake)
            workdir.mkdir(parents=True, exist_ok=True)
            uploaded = () if build.pipeline_id is not None else tuple(sorted(
                p.name for p in workdir.iterdir() if p.is_dir() and not p.name.startswith(".")))
            ctx = BuildContext(
                build_id=build.id, build_name=build.name, job=job_name,
                pipeline=pipeline.name if pipeline else None, team=build.team,
                external_url=self._settings.external_url, workdir=workdir,
                types=self._types, executor=self._executor, inputs=uploaded,
                get_timeout=self._settings.get_timeout,
                put_timeout=self._settings.put_timeout,
                yaml_limits=self._settings.yaml_limits,
                task_caches=self._settings.task_caches)
            status = await run_build(plan, ctx=ctx, delegate=delegate)
        except asyncio.CancelledError:
            status = BuildStatus.ABORTED
        except Exception as e:
            _log.exception("build broke", build=build.id)
            if delegate is not None:
                await delegate.event(ev.Error(message=f"headwater error: {e}"))
                await delegate.event(ev.Status(status=BuildStatus.ERRORED))
        finally:
            if delegate is not None:
                await delegate.close()  # every event stored before the build is over
            # Stopped with the server: left "started", the next start marks it errored.
            if not self._stopping:
                await self._store.finish_build(build.id, status)
                if self._metrics is not None:
                    self._metrics.build_finished(status, time.monotonic() - started)
                self._hub.close(build.id)
                if build.job_id is not None:
                    await self._apply_retention(build.job_id)
                if build.pipeline_id is not None and not self._settings.keep_workdirs:
                    shutil.rmtree(workdir, ignore_errors=True)
                self.wake()

    async def _apply_retention(self, job_id: int) -> None:
        """`build_log_retention` / `build_logs_to_retain`: drop old builds' logs."""
        job = await self._store.job_by_id(job_id)
        if job is None:
            return
        cfg = JobConfig.model_validate(job.config)
        keep = cfg.build_log_retention
        keep_builds = (keep.builds if keep else None) or cfg.build_logs_to_retain
        keep_days = keep.days if keep else None
        if keep_builds is None and keep_days is None:
            return
        try:
            await self._store.prune_build_events(
                job_id, keep_builds=keep_builds, keep_days=keep_days,
                min_succeeded=(keep.minimum_succeeded_builds or 0) if keep else 0)
        except Exception:  # retention is housekeeping: never fails a build
            _log.exception("build log retention failed", job=job.name)

    async def _plan_for(self, build: Build) -> tuple[Plan, Pipeline | None, str | None]:
        if build.plan is not None:  # one-off builds come with their plan
            return PLAN.validate_json(build.plan), None, None
        assert build.pipeline_id is not None and build.job_id is not None
        pipeline = await self._store.pipeline_by_id(build.pipeline_id)
        job = await self._store.job_by_id(build.job_id)
        assert pipeline is not None and job is not None
        config = self._config(pipeline)
        versions = {i.name: i.version for i in await self._store.build_inputs(build.id)}
        plan = compile_job(config, job.name, versions)
        await self._store.set_build_plan(build.id, PLAN.dump_json(plan).decode())
        return plan, pipeline, job.name
