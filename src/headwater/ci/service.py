"""The CI engine as the server runs it: one object the web routes call.

`CI` owns the store, the checker and the runner loops, and the live event hub, and
offers the operations of the REST API as plain async methods that raise
`NotFound` / `Invalid` / `Conflict` for the routes to map to HTTP statuses. Routes
stay thin; everything they need is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import yaml

from headwater import log as hwlog
from headwater import yamlload
from headwater.ci import provenance, workdirs
from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath, Refused
from headwater.ci.build.errors import StepError
from headwater.ci.build.executor import TaskExecutor
from headwater.ci.build.taskconfig import TaskConfig, parse_task_config
from headwater.ci.buildlog import BuildLogSettings
from headwater.ci.checker import DEFAULT_CHECK_TIMEOUT, Checker
from headwater.ci.config.model import JobConfig
from headwater.ci.config.rules import identifier_problem
from headwater.ci.events import LIVE_LIMIT, PAGE_SIZE, Event, Hub, stream
from headwater.ci.metrics import CIMetrics
from headwater.ci.pipelines import SetResult, set_pipeline
from headwater.ci.plan import PLAN, Task
from headwater.ci.resources.base import Version
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.runner import Runner, RunnerSettings, TriggerError
from headwater.errors import UserError
from headwater.store import (
    ApiToken,
    Build,
    BuildResource,
    Job,
    Pipeline,
    Resource,
    ResourceVersion,
    Store,
    webhook_token_matches,
)
from headwater.store import Event as StoredEvent

_CHUNK = 64 * 1024
PROVENANCE_VERSIONS = 100  # newest versions of each image resource an image is looked in
PROVENANCE_EVENTS = 2000   # events of a build (without its log) read for its put's end
_STAGING = ".upload-"  # builds/.upload-XXXX: an upload being unpacked
_log = hwlog.get("ci")


class NotFound(UserError):
    """What the request names does not exist (404)."""


class Invalid(UserError):
    """The request is wrong as asked (400): the message says what to change."""


class Conflict(UserError):
    """The request clashes with the current state (409)."""


@dataclass(frozen=True)
class CommitInput:
    """The git commit a build took as input (for the release timeline)."""

    resource: str          # the git resource's name in the pipeline
    ref: str               # the commit sha (the git resource's version `ref`)
    committed_at: datetime | None   # from the version's metadata when present
    subject: str           # first line of the commit message when present, else ""


@dataclass(frozen=True)
class ImageProvenance:
    """Where an image came from: the build whose put pushed it, and that build's commit."""

    build: Build           # the build whose put pushed the image
    resource: str          # the image resource's name
    digest: str
    pushed_at: datetime | None      # the put step's end (from the build's events)
    commit: CommitInput | None      # the build's git input (the first `get` of a git
                                    # resource with trigger, else the first git get)


@dataclass(frozen=True)
class CISettings:
    data_dir: Path
    external_url: str = "http://127.0.0.1:8080"
    scheduler_tick: float = 10.0
    checker_tick: float = 10.0
    build_log: BuildLogSettings = field(default_factory=BuildLogSettings)
    events_page_size: int = PAGE_SIZE  # stored events an /events stream reads at a time
    live_events_limit: int = LIVE_LIMIT  # live events a slow viewer may have waiting
    # Concourse's --default-get-timeout, --default-put-timeout (None: none) and
    # --global-resource-check-timeout (a resource's check_timeout wins).
    get_timeout: float | None = None
    put_timeout: float | None = None
    check_timeout: float = DEFAULT_CHECK_TIMEOUT
    yaml_limits: yamlload.Limits = yamlload.DEFAULT  # pipelines, task files, vars files


class CI:
    def __init__(self, store: Store, *, types: ResourceTypes, executor: TaskExecutor,
                 settings: CISettings, metrics: CIMetrics | None = None) -> None:
        self.store = store
        self.hub = Hub(limit=settings.live_events_limit)
        self.settings = settings
        self.metrics = metrics or CIMetrics()
        self.runner = Runner(store, hub=self.hub, types=types, executor=executor,
                             settings=RunnerSettings(
                                 work_root=workdirs.root(settings.data_dir),
                                 task_caches=workdirs.task_caches(settings.data_dir),
                                 external_url=settings.external_url,
                                 tick=settings.scheduler_tick, log=settings.build_log,
                                 get_timeout=settings.get_timeout,
                                 put_timeout=settings.put_timeout,
                                 yaml_limits=settings.yaml_limits),
                             metrics=self.metrics)
        self.checker = Checker(store, types=types, on_new_versions=self.runner.wake,
                               tick=settings.checker_tick,
                               check_timeout=settings.check_timeout, metrics=self.metrics)
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.runner.recover()
        await asyncio.to_thread(_remove_staging, workdirs.root(self.settings.data_dir))
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

    async def pipelines(self, team: str) -> list[Pipeline]:
        return await self.store.list_pipelines(team)

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

    async def all_pipelines(self) -> list[Pipeline]:
        """Every pipeline of every team, in creation order (the UI's dashboard)."""
        return await self.store.all_pipelines()

    async def jobs(self, team: str, pipeline_name: str,
                   ) -> tuple[Pipeline, list[tuple[Job, Build | None]]]:
        """The pipeline's jobs, each with its latest finished build (one query)."""
        pipeline = await self.pipeline(team, pipeline_name)
        return pipeline, await self.pipeline_jobs(pipeline)

    async def pipeline_jobs(self, pipeline: Pipeline) -> list[tuple[Job, Build | None]]:
        """`jobs` of a pipeline already read."""
        jobs = await self.store.jobs(pipeline.id)
        latest = await self.store.latest_builds([job.id for job in jobs])
        return [(job, latest.get(job.id)) for job in jobs]

    async def pause_job(self, team: str, pipeline_name: str, job_name: str,
                        paused: bool) -> None:
        """A paused job gets no new builds and its pending ones wait (as Concourse)."""
        _, job = await self.job(team, pipeline_name, job_name)
        await self.store.set_job_paused(job.id, paused)
        self.runner.wake()

    async def trigger(self, team: str, pipeline_name: str, job_name: str) -> Build:
        pipeline, job = await self.job(team, pipeline_name, job_name)
        if JobConfig.model_validate(job.config).disable_manual_trigger:
            raise Conflict(f"job {pipeline_name}/{job_name} has disable_manual_trigger set")
        try:
            return await self.runner.trigger(pipeline, job)
        except TriggerError as e:
            raise Conflict(f"cannot trigger {pipeline_name}/{job_name}: {e}") from e

    async def rerun(self, team: str, pipeline_name: str, job_name: str,
                    build_name: str) -> Build:
        """`rerun-build`: the same inputs as that build, the job's current config."""
        original = await self.job_build(team, pipeline_name, job_name, build_name)
        build = await self.store.create_rerun(original.id)
        self.runner.wake()
        return build

    async def builds(self, *, team: str | None = None, pipeline: str | None = None,
                     job: str | None = None, limit: int = 50) -> list[Build]:
        """Builds newest first: of a job (pipeline and job named), of a pipeline, of a
        team, or of all teams (team None)."""
        if pipeline is not None and job is not None:
            _, j = await self.job(team or "main", pipeline, job)
            return await self.store.builds(job_id=j.id, limit=limit)
        if pipeline is not None:
            p = await self.pipeline(team or "main", pipeline)
            return await self.store.builds(pipeline_id=p.id, limit=limit)
        return await self.store.builds(team=team, limit=limit)

    async def job_build(self, team: str, pipeline_name: str, job_name: str,
                        build_name: str) -> Build:
        pipeline, _ = await self.job(team, pipeline_name, job_name)
        build = await self.store.job_build(pipeline.id, job_name, build_name)
        if build is None:
            raise NotFound(f"build {pipeline_name}/{job_name} #{build_name} not found")
        return build

    async def build(self, build_id: int) -> Build:
        build = await self.store.build(build_id)
        if build is None:
            raise NotFound(f"build {build_id} not found")
        return build

    async def event_page(self, build_id: int, *, after: int = 0, limit: int | None = None,
                         logs: bool = True) -> list[StoredEvent]:
        """The build's stored events with `seq > after`, in order (at most `limit`;
        `logs=False`: without the log output): the UI's pages read a log this way."""
        return await self.store.events(build_id, after=after, limit=limit, logs=logs)

    async def build_resources(self, build_id: int
                              ) -> tuple[list[BuildResource], list[BuildResource]]:
        """The build's inputs and outputs, with their versions."""
        return await self.store.build_inputs(build_id), await self.store.build_outputs(build_id)

    async def abort(self, build_id: int) -> None:
        build = await self.build(build_id)
        if build.status.finished:
            return
        await self.runner.abort(build.id)

    async def events(self, build_id: int, *, after: int = 0) -> AsyncIterator[Event]:
        """Stored events after `after`, then live ones until the build is over, read
        a page at a time (`ci.events.stream`: memory bounded by page and queue size)."""
        await self.build(build_id)
        async with contextlib.aclosing(stream(self.store, self.hub, build_id, after=after,
                                              page_size=self.settings.events_page_size)
                                       ) as events:
            async for event in events:
                yield event

    # -- resources --------------------------------------------------------------------

    async def resource(self, team: str, pipeline_name: str, name: str,
                       ) -> tuple[Pipeline, Resource]:
        pipeline = await self.pipeline(team, pipeline_name)
        resource = await self.store.resource(pipeline.id, name)
        if resource is None:
            raise NotFound(f"resource {pipeline_name}/{name} not found")
        return pipeline, resource

    async def resources(self, team: str, pipeline_name: str) -> list[Resource]:
        pipeline = await self.pipeline(team, pipeline_name)
        return await self.store.resources(pipeline.id)

    async def check_by_webhook(self, team: str, pipeline_name: str, name: str,
                               token: str) -> bool:
        """Check the resource now if `token` is its `webhook_token`; False otherwise.
        An unknown pipeline or resource, a resource without a webhook token and a
        wrong token all give False after the same hash and constant-time compare:
        nothing to probe names or tokens with."""
        try:
            _, resource = await self.resource(team, pipeline_name, name)
            stored = resource.webhook_token_sha256
        except NotFound:
            stored = None
        if not webhook_token_matches(stored, token):
            return False
        await self.check(team, pipeline_name, name)
        return True

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

    # -- API tokens -------------------------------------------------------------------

    async def check_token(self, token: str) -> bool:
        """Whether `token` is a live API token (the UI's login)."""
        return await self.store.check_token(token)

    async def check_token_sha256(self, token_sha256: str) -> bool:
        """Whether the token with that hash is still live (a UI session's token)."""
        return await self.store.check_token_sha256(token_sha256)

    async def token_name(self, token_sha256: str) -> str | None:
        """The name of a UI session's token (the author of the commits it asks for)."""
        return await self.store.token_name_sha256(token_sha256)

    async def tokens(self) -> list[ApiToken]:
        return await self.store.list_tokens()

    async def create_token(self, name: str) -> tuple[str, str]:
        """(name, token) of a new token: the token is answered once, only its hash is
        stored. `store.TokenConflict`: the name is taken."""
        name = name.strip()
        if not name:
            raise Invalid("a token needs a name")
        return name, await self.store.create_token(name)

    async def revoke_token(self, name_or_id: str, *, force: bool = False) -> None:
        """`store.LastToken` unless `force` when it is the last one: without any, the API is
        locked until the server restarts and prints a new admin token."""
        if await self.store.revoke_token(name_or_id, force=force) is None:
            raise NotFound(f"no token named {name_or_id!r} (or with that id): see "
                           "`headwater tokens`")

    # -- one-off builds (`execute`) ---------------------------------------------------

    async def execute_text(self, team: str, text: str,
                           inputs: Sequence[tuple[str, IO[bytes]]]) -> Build:
        """`execute` of a task config as the user wrote it (YAML, within the limits)."""
        limits = self.settings.yaml_limits
        try:
            task = await asyncio.to_thread(yamlload.load, text, filename="task config",
                                           limits=limits)
        except yamlload.YamlLimitError as e:
            raise Invalid(str(e)) from e
        except (yaml.YAMLError, UnicodeError) as e:
            raise Invalid(f"task config is not YAML: {e}") from e
        if not isinstance(task, dict):
            raise Invalid("task config must be a mapping")
        return await self.execute(team, task, inputs)

    async def execute(self, team: str, config: dict[str, Any],
                      inputs: Sequence[tuple[str, IO[bytes]]]) -> Build:
        """A one-off build of one task, with inputs uploaded as .tar.gz archives.

        Everything is checked before the build exists: the task config, its input and
        output names and each upload's name (Concourse identifiers: they become
        directories of the build), and each archive, unpacked into a staging
        directory. Only then is the build created, and the staging directory renamed
        to its work dir in the same step of the event loop, so the runner never sees
        the build without its inputs. The work dir is kept after the build ends so
        `artifact` can hand the outputs back (the runner removes one-off work dirs an
        hour after they end)."""
        task = _check_execute(config, [name for name, _ in inputs])
        plan = Task(id="task", name="one-off", config=config)
        builds = workdirs.root(self.settings.data_dir)
        await asyncio.to_thread(builds.mkdir, parents=True, exist_ok=True)
        staging = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=_STAGING,
                                               dir=builds))
        try:
            for name, archive in inputs:
                await asyncio.to_thread(_untar, archive, staging / name, name)
            build = await self.store.create_build(
                team=team, pipeline_id=None, job_id=None, inputs=[],
                manually_triggered=True, plan=PLAN.dump_json(plan).decode())
            _move_into_place(staging, workdirs.workdir(builds, build.id))
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)
            raise
        _log.info("one-off build created", build=build.id,
                  inputs=",".join(i.name for i in task.inputs))
        self.runner.wake()
        return build

    # -- provenance -------------------------------------------------------------------

    async def image_provenance(self, image: str) -> ImageProvenance | None:
        """The newest build whose registry-image/docker-image put produced `image` (as
        written in a manifest: "host:port/repo:tag" or "...@sha256:..."), with the put's
        end time and the build's git input; None when no build pushed it. Reads the
        newest PROVENANCE_VERSIONS versions of each image resource of that repository."""
        ref = provenance.wanted(image)
        if ref is None:
            return None
        found: list[tuple[int, Resource, ResourceVersion]] = []  # (build id, ...)
        for pipeline in await self.store.all_pipelines():
            for res in await self.store.resources(pipeline.id):
                if res.type not in provenance.IMAGE_TYPES or \
                        not provenance.same_repository(ref, res.source):
                    continue
                versions = [v for v in await self.store.versions(
                    res.id, limit=PROVENANCE_VERSIONS)
                            if provenance.produced(ref, v.version, v.metadata)]
                builds = await self.store.output_builds([v.id for v in versions])
                found += [(builds[v.id], res, v) for v in versions if v.id in builds]
        if not found:
            return None
        build_id, res, version = max(found, key=lambda f: f[0])
        build = await self.store.build(build_id)
        if build is None:
            return None
        events = await self.store.events(build_id, logs=False, limit=PROVENANCE_EVENTS)
        pushed_at = next((provenance.event_time(e.payload, e.time) for e in events
                          if e.type == "finish-put" and e.payload.get("exit_status") == 0
                          and e.payload.get("version") == version.version), None)
        return ImageProvenance(build, res.name, str(version.version.get("digest", "")),
                               pushed_at, await self._commit_input(build, events))

    async def _commit_input(self, build: Build, events: list[StoredEvent]
                            ) -> CommitInput | None:
        """The build's git input (`provenance.commit_input`), with the commit's time and
        subject from its version's metadata or the build's finish-get of it."""
        if build.pipeline_id is None or build.job_id is None:
            return None
        job = await self.store.job_by_id(build.job_id)
        inputs = {i.name: i for i in await self.store.build_inputs(build.id)}
        types = {r.name: r.type for r in await self.store.resources(build.pipeline_id)}
        name = provenance.commit_input(provenance.plan_gets(job.config.get("plan") if job
                                                            else None), inputs, types)
        if name is None:
            return None
        chosen = inputs[name]
        stored = await self.store.version_by_id(chosen.version_id)
        metadata = stored.metadata if stored and stored.metadata else next(
            (e.payload.get("metadata") or [] for e in events
             if e.type == "finish-get" and e.payload.get("version") == chosen.version), [])
        return CommitInput(name, str(chosen.version.get("ref", "")),
                           provenance.commit_time(metadata), provenance.subject(metadata))

    async def artifact(self, build_id: int, name: str) -> AsyncIterator[bytes]:
        """The directory `name` of a build, as a .tar.gz streamed from a thread through
        a pipe (bounded memory, whatever its size); symlinks are sent as symlinks and
        nothing outside the build is read (confine.py)."""
        problem = name_problem(name)
        if problem:
            raise Invalid(f"{name!r} is not an artifact name: {problem}")
        await self.build(build_id)
        at = Beneath(workdirs.workdir(workdirs.root(self.settings.data_dir), build_id), name)
        try:
            found = await asyncio.to_thread(confine.is_dir, at)
        except Refused:
            found = False
        if not found:
            raise NotFound(f"build {build_id} has no output {name!r}")
        return _piped(lambda out: confine.write_tar(at, out))


def name_problem(name: str) -> str | None:
    """Why `name` cannot name an upload or an artifact: they are Concourse identifiers
    (a lowercase letter, then lowercase letters, digits, `-`, `_`, `.`), never paths."""
    if not name:
        return "it is empty"
    if "((" in name:
        return "it must not contain ((vars))"
    return identifier_problem(name)


def _check_execute(config: dict[str, Any], uploads: list[str]) -> TaskConfig:
    try:
        task = parse_task_config(config, "the task config")
    except StepError as e:
        raise Invalid(str(e)) from None
    problems = [f"{kind} {name!r}: {problem}"
                for kind, names in (("input", [i.name for i in task.inputs]),
                                    ("output", [o.name for o in task.outputs]),
                                    ("uploaded input", uploads))
                for name in names if (problem := name_problem(name))]
    if problems:
        raise Invalid("execute: names must be identifiers, not paths (a lowercase letter, "
                      "then lowercase letters, digits, '-', '_' or '.'): " +
                      "; ".join(problems))
    known = {i.name for i in task.inputs}
    unknown = sorted(set(uploads) - known)
    if unknown:
        raise Invalid(f"execute: uploaded {', '.join(unknown)} but the task has no such input "
                      f"(its inputs: {', '.join(sorted(known)) or 'none'})")
    twice = sorted({name for name in uploads if uploads.count(name) > 1})
    if twice:
        raise Invalid(f"execute: input {', '.join(twice)} uploaded more than once")
    return task


def _untar(archive: IO[bytes], dest: Path, name: str) -> None:
    dest.mkdir()
    try:
        with tarfile.open(fileobj=archive, mode="r:*") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise Invalid(f"input {name!r}: the upload is not a readable .tar.gz, or holds "
                      f"something it may not (absolute paths, links out of it): {e}") from e


def _remove_staging(builds: Path) -> None:
    """Uploads a stopped server was unpacking when it stopped (no build has them)."""
    if builds.is_dir():
        for path in builds.glob(f"{_STAGING}*"):
            shutil.rmtree(path, ignore_errors=True)


def _move_into_place(staging: Path, workdir: Path) -> None:
    """Rename the staging directory to the build's work dir (a leftover of an earlier
    server with the same build id goes first)."""
    try:
        os.rename(staging, workdir)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            workdir.unlink()
        os.rename(staging, workdir)


async def _piped(write: Callable[[IO[bytes]], None]) -> AsyncIterator[bytes]:
    """What `write` writes, from a thread through a pipe: memory stays at a pipe's
    buffer and one chunk. The thread starts at the first chunk asked for; when the
    reader stops early (the client went away), closing the pipe ends the writer with
    EPIPE."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write_fd, "wb", buffering=_CHUNK) as out:
                write(out)
        except BrokenPipeError:
            pass
        except Exception as e:  # reported by the reader, after what was sent
            failures.append(e)

    threading.Thread(target=produce, name="artifact-tar", daemon=True).start()
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                chunk = os.read(read_fd, _CHUNK)
            except BlockingIOError:
                await _readable(loop, read_fd)
                continue
            if not chunk:
                break
            yield chunk
        if failures:
            _log.error("artifact stream broke", error=str(failures[0]))
            raise failures[0]
    finally:
        os.close(read_fd)


async def _readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
