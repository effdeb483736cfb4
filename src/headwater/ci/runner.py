"""The runner: turns the scheduler's decisions into builds, and runs them.

One loop, woken by new versions, finished builds and manual triggers (and every
`tick` seconds regardless, as Concourse's 10 s scheduler tick), does two things:

1. for each job of each unpaused pipeline, reads what the store knows and asks
   `scheduler.compute_inputs` whether a build is due; if so it creates it, pending,
   with its inputs;
2. starts the pending builds `scheduler.startable` allows (serial, serial groups,
   max_in_flight), each in its own asyncio task running `build.engine.run_build`
   on the plan compiled from the job's config and the chosen versions.

The builds' side effects go through `StoreDelegate`: events stored (with the
pipeline's var values redacted, the log capped, in batches: `buildlog.BuildLog`) and
fanned out to watchers, put versions saved.
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from headwater import log as hwlog
from headwater import yamlload
from headwater.ci import eventtypes as ev
from headwater.ci import workdirs
from headwater.ci.build.engine import BuildContext, run_build
from headwater.ci.build.errors import StepError
from headwater.ci.build.executor import TaskExecutor
from headwater.ci.buildlog import BuildLog, BuildLogSettings
from headwater.ci.config.cache import ConfigCache
from headwater.ci.config.compile import compile_job, job_inputs
from headwater.ci.config.errors import PipelineInvalid
from headwater.ci.config.model import JobConfig, PipelineConfig
from headwater.ci.events import Hub
from headwater.ci.pipelines import set_pipeline
from headwater.ci.plan import PLAN, Plan
from headwater.ci.resources.base import Fetched
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.scheduler import (
    Candidate,
    InputSpec,
    JobLimits,
    Passed,
    Pending,
    compute_inputs,
    startable,
)
from headwater.ci.vars import Redactor, StreamRedactor
from headwater.errors import UserError
from headwater.store import Build, BuildInput, BuildStatus, Job, Pipeline, Resource, Store

_log = hwlog.get("runner")


class TriggerError(UserError):
    """A manual trigger that cannot make a build; the message says what is missing."""


@dataclass(frozen=True)
class RunnerSettings:
    work_root: Path  # builds run in workdirs.workdir(work_root, build id)
    external_url: str = "http://127.0.0.1:8080"
    tick: float = 10.0
    keep_workdirs: bool = False
    log: BuildLogSettings = field(default_factory=BuildLogSettings)
    get_timeout: float | None = None  # the default timeouts of get and put steps
    put_timeout: float | None = None
    yaml_limits: yamlload.Limits = yamlload.DEFAULT  # set_pipeline steps, task files, vars


class Runner:
    def __init__(self, store: Store, *, hub: Hub, types: ResourceTypes, executor: TaskExecutor,
                 settings: RunnerSettings) -> None:
        self._store = store
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
        pipelines = await self._all_pipelines()
        self._configs.forget({p.id for p in pipelines})
        for pipeline in pipelines:
            if pipeline.paused:
                continue
            config = self._configs.get(pipeline.id, pipeline.version, pipeline.config)
            jobs = await self._store.jobs(pipeline.id)
            for job in jobs:
                if not job.paused:
                    await self._schedule(pipeline, config, job, jobs, manual=False)
        await self._start_pending(paused={p.id for p in pipelines if p.paused})

    async def trigger(self, pipeline: Pipeline, job: Job) -> Build:
        config = self._configs.get(pipeline.id, pipeline.version, pipeline.config)
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

    async def _all_pipelines(self) -> list[Pipeline]:
        return await self._store.all_pipelines()

    async def _schedule(self, pipeline: Pipeline, config: PipelineConfig, job: Job,
                        jobs: list[Job], *, manual: bool) -> Build | None:
        specs = [InputSpec(name=i.name, resource=i.resource, trigger=i.trigger,
                           passed=tuple(i.passed), every=i.every, pinned=i.pinned)
                 for i in job_inputs(config, job.name)]
        if not manual and not any(s.trigger for s in specs):
            return None  # nothing can trigger it: only `trigger-job` makes its builds
        resources = {r.name: r for r in await self._store.resources(pipeline.id)}
        job_ids = {j.name: j.id for j in jobs}
        passed: dict[tuple[str, str], dict[int, set[int]]] = {}
        for spec in specs:
            for upstream in spec.passed:
                key = (upstream, spec.resource)
                if key not in passed:
                    passed[key] = await self._store.passed_versions(
                        job_ids[upstream], resources[spec.resource].id)
        versions = await self._candidates(specs, resources, passed)
        # A pin on the resource applies to every get without a version of its own.
        specs = [s if s.pinned is not None or not resources[s.resource].pin
                 else replace(s, pinned=resources[s.resource].pin)
                 for s in specs]
        used = await self._store.used_versions(
            job.id, [c.id for candidates in versions.values() for c in candidates])
        decision = compute_inputs(specs, versions, passed, used)
        if decision.inputs is None:
            if manual:
                raise TriggerError("; ".join(f"input {n!r}: {why}"
                                             for n, why in decision.waiting.items()))
            return None
        if not manual and not decision.trigger:
            return None
        inputs = [BuildInput(name=name, resource_id=resources[spec.resource].id,
                             version_id=decision.inputs[name].id)
                  for spec in specs for name in [spec.name]]
        build = await self._store.create_build(
            team=pipeline.team, pipeline_id=pipeline.id, job_id=job.id, inputs=inputs,
            manually_triggered=manual)
        _log.info("build created", pipeline=pipeline.name, job=job.name, build=build.name,
                  manual=manual)
        return build

    async def _candidates(self, specs: list[InputSpec], resources: dict[str, Resource],
                          passed: Passed) -> dict[str, list[Candidate]]:
        """Each resource's versions the inputs may choose from, newest first, reading
        no more history than they need: an input with `passed` only the versions that
        went through all its jobs, one with `every` or a pin the whole history, any
        other the newest version."""
        whole: set[str] = set()
        newest: set[str] = set()
        through: dict[str, set[int]] = {}
        for s in specs:
            if s.passed:
                ids = set.intersection(*(set(passed.get((j, s.resource), {}))
                                         for j in s.passed))
                through.setdefault(s.resource, set()).update(ids)
            elif s.every or s.pinned is not None or resources[s.resource].pin:
                whole.add(s.resource)
            else:
                newest.add(s.resource)
        out: dict[str, list[Candidate]] = {}
        for name in {s.resource for s in specs}:
            rid = resources[name].id
            if name in whole:
                rows = await self._store.versions(rid, limit=None)
            else:
                rows = await self._store.versions(rid, limit=1) if name in newest else []
                if through.get(name):
                    rows = [*rows, *await self._store.versions(rid, limit=None,
                                                               ids=through[name])]
                rows = sorted({v.id: v for v in rows}.values(), key=lambda v: v.check_order,
                              reverse=True)
            out[name] = [Candidate(id=v.id, version=v.version) for v in rows]
        return out

    async def _start_pending(self, *, paused: set[int]) -> None:
        pending = await self._store.pending_builds()
        if not pending:
            return
        # As Concourse: a paused pipeline or job holds its pending builds (a manual
        # trigger included) until it is unpaused.
        pending = [b for b in pending if b.pipeline_id not in paused]
        limits: dict[str, JobLimits] = {}
        running: dict[str, int] = {}
        started = await self._store.running_builds()
        for build in started:
            if build.job_id is not None:
                key = str(build.job_id)
                running[key] = running.get(key, 0) + 1
        # Limits of every job involved, running ones too: a serial group is busy
        # while any of its jobs runs, even one with nothing pending.
        for job_id in {b.job_id for b in [*pending, *started] if b.job_id is not None}:
            job = await self._store.job_by_id(job_id)
            if job is not None and job.paused:
                pending = [b for b in pending if b.job_id != job.id]
            if job is not None:
                cfg = job.config
                limits[str(job.id)] = JobLimits.of(
                    str(job.id), serial=bool(cfg.get("serial")),
                    serial_groups=[f"{job.pipeline_id}/{g}"
                                   for g in cfg.get("serial_groups", [])],
                    max_in_flight=cfg.get("max_in_flight"))
        order = [Pending(b.id, str(b.job_id) if b.job_id is not None else f"one-off-{b.id}")
                 for b in pending]
        allowed = set(startable(order, running, limits))
        for build in pending:
            if build.id in allowed and build.id not in self._running:
                # Aborted (or ended) since we read it: the store's answer decides.
                if await self._store.start_build(build.id):
                    self._launch(build)
                else:
                    _log.info("build ended before it started; not running it", build=build.id)

    # -- running ----------------------------------------------------------------------

    def _launch(self, build: Build) -> None:
        task = asyncio.create_task(self._run(build), name=f"build-{build.id}")
        self._running[build.id] = task
        task.add_done_callback(lambda _: self._running.pop(build.id, None))

    async def _run(self, build: Build) -> None:
        workdir = workdirs.workdir(self._settings.work_root, build.id)
        status = BuildStatus.ERRORED
        delegate: StoreDelegate | None = None
        try:
            plan, pipeline, job_name = await self._plan_for(build)
            delegate = StoreDelegate(self._store, self._hub, build,
                                     list(pipeline.redact) if pipeline else [], self,
                                     log=self._settings.log)
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
                yaml_limits=self._settings.yaml_limits)
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
        config = self._configs.get(pipeline.id, pipeline.version, pipeline.config)
        versions = {i.name: i.version for i in await self._store.build_inputs(build.id)}
        plan = compile_job(config, job.name, versions)
        await self._store.set_build_plan(build.id, PLAN.dump_json(plan).decode())
        return plan, pipeline, job.name


class StoreDelegate:
    """The engine's delegate for a build of the server: store, redact, fan out."""

    def __init__(self, store: Store, hub: Hub, build: Build, secrets: list[str],
                 runner: Runner, *, log: BuildLogSettings) -> None:
        self._store = store
        self._log = BuildLog(store, hub, build.id, log)
        self._build = build
        self._secrets = secrets
        self._redact = Redactor(secrets)
        self._stream = StreamRedactor(self._redact)
        self._runner = runner

    async def event(self, event: ev.BuildEvent) -> None:
        # Stored as Concourse's JSON (`to_data`), redacted: the text is what is checked.
        type, payload = event.kind, event.to_data()
        origin = payload.get("origin") or {}
        if type == "log":
            # Output comes in chunks: a secret cut in two is held until it is whole.
            text = self._stream.feed((origin.get("id"), origin.get("source")),
                                     str(payload.get("payload", "")))
            if text:
                await self._store_event(type, payload, text=text)
            return
        # The step (or the build) goes on: what its output held back is shown first.
        step = origin.get("id")
        held = self._stream.flush(lambda k: step is None or k[0] == step)
        for (step_id, source), held_text in held.items():
            await self._store_event("log", {"origin": {"id": step_id, "source": source}},
                                    text=held_text)
        await self._store_event(type, payload)

    async def _store_event(self, type: str, payload: dict[str, Any], *,
                           text: str | None = None) -> None:
        """`text`: a log event's output, redacted already by the stream redactor."""
        payload = self._redact.redact_obj({**payload, "time": time.time()})
        if text is None:
            await self._log.add(type, payload)
        else:  # capped at the build's log size
            await self._log.log(payload.get("origin") or {}, text, payload)

    async def close(self) -> None:
        """The build is over: store the events still waiting in the batch."""
        await self._log.close()

    async def saved_output(self, resource: str, fetched: Fetched) -> None:
        if self._build.pipeline_id is None:
            return
        res = await self._store.resource(self._build.pipeline_id, resource)
        if res is None:
            return
        vid = await self._store.save_output_version(
            res.id, fetched.version, [{"name": m.name, "value": m.value}
                                      for m in fetched.metadata])
        await self._store.add_build_output(self._build.id, resource, res.id, vid)
        self._runner.wake()

    async def redact(self, values: list[str]) -> None:
        """`load_var` values (without `reveal`) are secrets from now on in this build."""
        self._secrets = [*self._secrets, *values]
        self._redact = Redactor(self._secrets)
        self._stream.redactor = self._redact

    async def set_pipeline(self, name: str, team: str | None, config_text: str,
                           vars: dict[str, Any], *, file: str) -> bool:
        try:
            result = await set_pipeline(self._store, team or self._build.team, name,
                                        config_text, vars, filename=file,
                                        limits=self._runner.yaml_limits)
        except PipelineInvalid as e:
            raise StepError(f"set_pipeline {name}: {e}") from e
        return result.changed
