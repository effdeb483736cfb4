"""The planner: a job's config and the versions the scheduler chose -> a build plan.

As Concourse's `atc/builds/planner.go`, one visit of the step tree:

- the job's plan is a `Do`, wrapped by the job's own hooks (`JobConfig.StepConfig`):
  Ensure(OnError(OnAbort(OnFailure(OnSuccess(Do(plan))))));
- each step is wrapped in the same order, and inside the hooks come `across`, then
  `attempts`, then `timeout` (`StepPrecedence`):
  Ensure(...(OnSuccess(Across(Retry(Timeout(core)))))). So every attempt gets the whole
  timeout, each `across` combination its own attempts, and a hook sees the outcome of
  all of them;
- `get` and `put` copy the resource's type and source (the resource type's `defaults`
  merged under the source, as `ApplySourceDefaults`), and the chain of the pipeline's
  `resource_types` their type needs, so the plan runs without the pipeline;
- a put stays one `Put` node: the engine does the implicit get (unless `no_get`);
- ids are "1", "2", ... in pre-order: deterministic, unique within the plan.

`job_inputs` lists the gets the scheduler must find versions for (anywhere in the job,
hooks included, as Concourse's `JobConfig.Inputs`), `passed` globs expanded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from headwater.ci.config.errors import CompileError
from headwater.ci.config.model import AcrossVar as AcrossVarConfig
from headwater.ci.config.model import (
    DoStep,
    GetStep,
    InParallelStep,
    JobConfig,
    LoadVarStep,
    PipelineConfig,
    PutStep,
    ResourceConfig,
    SetPipelineStep,
    Step,
    TaskStep,
    TryStep,
)
from headwater.ci.config.rules import matches
from headwater.ci.plan import (
    Across,
    AcrossVar,
    Do,
    Ensure,
    Get,
    InParallel,
    LoadVar,
    OnAbort,
    OnError,
    OnFailure,
    OnSuccess,
    Plan,
    Put,
    ResourceTypeRef,
    Retry,
    SetPipeline,
    Task,
    Timeout,
    Try,
)
from headwater.durations import parse_duration

__all__ = ["JobInput", "compile_job", "job_inputs", "walk_steps"]

Version = dict[str, str]
_HOOKS: tuple[tuple[str, type[OnSuccess | OnFailure | OnAbort | OnError | Ensure]], ...] = (
    ("on_success", OnSuccess), ("on_failure", OnFailure), ("on_abort", OnAbort),
    ("on_error", OnError), ("ensure", Ensure))  # innermost first


@dataclass(frozen=True)
class JobInput:
    """One get of a job, as the scheduler needs it."""

    name: str  # the artifact name (`get:`)
    resource: str
    trigger: bool = False
    passed: tuple[str, ...] = ()  # job names (globs expanded, pipeline order)
    every: bool = False
    pinned: Version | None = None  # the step's `version: {...}` (not the resource's pin)
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    @property
    def mode(self) -> Literal["latest", "every", "pinned"]:
        return "pinned" if self.pinned is not None else "every" if self.every else "latest"


def walk_steps(step: Step) -> list[Step]:
    """`step` and every step inside it (nested steps, then hooks, inner first)."""
    found: list[Step] = [step]
    inner: list[Step] = []
    if isinstance(step, DoStep):
        inner = list(step.do)
    elif isinstance(step, InParallelStep):
        inner = list(step.in_parallel.steps)
    elif isinstance(step, TryStep):
        inner = [step.try_]
    inner += [h for name, _ in _HOOKS if (h := getattr(step, name)) is not None]
    for sub in inner:
        found += walk_steps(sub)
    return found


def _job(pipeline: PipelineConfig, job_name: str) -> JobConfig:
    job = pipeline.job(job_name)
    if job is None:
        known = ", ".join(j.name for j in pipeline.jobs) or "none"
        raise CompileError(f"unknown job {job_name!r} (jobs: {known})")
    return job


def _job_steps(job: JobConfig) -> list[Step]:
    roots = [*job.plan, *(h for name, _ in _HOOKS if (h := getattr(job, name)) is not None)]
    return [s for root in roots for s in walk_steps(root)]


def job_inputs(pipeline: PipelineConfig, job_name: str) -> list[JobInput]:
    job = _job(pipeline, job_name)
    names = [j.name for j in pipeline.jobs]
    inputs: list[JobInput] = []
    for step in _job_steps(job):
        if not isinstance(step, GetStep):
            continue
        passed = [name for pattern in step.passed for name in matches(pattern, names)]
        inputs.append(JobInput(
            name=step.get, resource=step.resource_name, trigger=step.trigger,
            passed=tuple(dict.fromkeys(passed)), every=step.version == "every",
            pinned=dict(step.version) if isinstance(step.version, dict) else None,
            params=step.params, tags=tuple(step.tags)))
    return inputs


class _Planner:
    def __init__(self, pipeline: PipelineConfig, versions: Mapping[str, Version]) -> None:
        self.pipeline = pipeline
        self.versions = versions
        self.count = 0

    def id(self) -> str:
        self.count += 1
        return str(self.count)

    def job(self, job: JobConfig) -> Plan:
        return self.wrap(job, lambda: Do(id=self.id(), steps=[self.step(s) for s in job.plan]))

    def wrap(self, owner: JobConfig | Step, core: Callable[[], Plan]) -> Plan:
        """`core()` inside `owner`'s modifiers and hooks; ids in pre-order."""
        hooks = [(cls, hook) for name, cls in reversed(_HOOKS)
                 if (hook := getattr(owner, name)) is not None]  # outermost first
        hook_ids = [self.id() for _ in hooks]
        across: list[AcrossVarConfig] | None = getattr(owner, "across", None)
        attempts: int | None = getattr(owner, "attempts", None)
        timeout: str | None = getattr(owner, "timeout", None)
        across_id = self.id() if across else None
        retry_id = self.id() if attempts is not None else None
        timeout_id = self.id() if timeout is not None else None
        node = core()
        if timeout is not None and timeout_id is not None:
            node = Timeout(id=timeout_id, step=node, seconds=parse_duration(timeout))
        if attempts is not None and retry_id is not None:
            node = Retry(id=retry_id, step=node, attempts=attempts)
        if across and across_id is not None:  # inside the hooks, outside attempts
            node = Across(id=across_id, step=node, fail_fast=bool(getattr(owner, "fail_fast",
                                                                          False)),
                          vars=[AcrossVar(var=v.var, values=v.values,
                                          max_in_flight=None if v.max_in_flight == "all"
                                          else (v.max_in_flight or 1))
                                for v in across])
        for (cls, hook), hook_id in reversed(list(zip(hooks, hook_ids, strict=True))):
            node = cls(id=hook_id, step=node, hook=self.step(hook))
        return node

    def step(self, step: Step) -> Plan:
        return self.wrap(step, lambda: self.core(step))

    def core(self, step: Step) -> Plan:
        if isinstance(step, GetStep):
            return self.get(step)
        if isinstance(step, PutStep):
            return self.put(step)
        if isinstance(step, TaskStep):
            return self.task(step)
        if isinstance(step, SetPipelineStep):
            return SetPipeline(id=self.id(), name=step.set_pipeline, file=step.file,
                               vars=step.vars, var_files=step.var_files, team=step.team)
        if isinstance(step, LoadVarStep):
            return LoadVar(id=self.id(), name=step.load_var, file=step.file,
                           format=step.format, reveal=step.reveal)
        if isinstance(step, DoStep):
            return Do(id=self.id(), steps=[self.step(s) for s in step.do])
        if isinstance(step, InParallelStep):
            config = step.in_parallel
            return InParallel(id=self.id(), steps=[self.step(s) for s in config.steps],
                              limit=config.limit, fail_fast=config.fail_fast)
        return Try(id=self.id(), step=self.step(step.try_))

    def resource(self, name: str) -> tuple[ResourceConfig, dict[str, Any],
                                           list[ResourceTypeRef]]:
        resource = self.pipeline.resource(name)
        if resource is None:
            raise CompileError(f"unknown resource {name!r}")
        source = dict(resource.source)
        own_type = self.pipeline.resource_type(resource.type)
        if own_type is not None:
            source = {**own_type.defaults, **source}
        return resource, source, self.type_chain(resource.type)

    def type_chain(self, type_name: str) -> list[ResourceTypeRef]:
        chain: list[ResourceTypeRef] = []
        seen: set[str] = set()
        current = self.pipeline.resource_type(type_name)
        while current is not None and current.name not in seen:
            seen.add(current.name)
            chain.append(ResourceTypeRef(name=current.name, type=current.type,
                                         source=current.source, params=current.params,
                                         privileged=current.privileged))
            current = (self.pipeline.resource_type(current.type)
                       if current.type != current.name else None)
        return chain

    def get(self, step: GetStep) -> Get:
        resource, source, types = self.resource(step.resource_name)
        version = self.versions.get(step.get)
        return Get(id=self.id(), name=step.get, resource=resource.name, type=resource.type,
                   source=source, params=step.params,
                   version=dict(version) if version is not None else None,
                   tags=step.tags, resource_types=types)

    def put(self, step: PutStep) -> Put:
        resource, source, types = self.resource(step.resource_name)
        return Put(id=self.id(), name=step.put, resource=resource.name, type=resource.type,
                   source=source, params=step.params, inputs=step.inputs or "all",
                   get_params=step.get_params, no_get=step.no_get, tags=step.tags,
                   resource_types=types)

    def task(self, step: TaskStep) -> Task:
        config = step.config
        if config is not None and step.container_limits is not None:
            config = {**config, "container_limits": step.container_limits}
        return Task(id=self.id(), name=step.task, config=config, file=step.file,
                    image=step.image, privileged=step.privileged, network=step.network,
                    params=step.params,
                    vars=step.vars, input_mapping=step.input_mapping,
                    output_mapping=step.output_mapping, tags=step.tags)


def compile_job(pipeline: PipelineConfig, job_name: str,
                versions: Mapping[str, Version]) -> Plan:
    """The plan of one build of `job_name`; `versions` maps get names to chosen versions.

    A get with no version in `versions` gets `version=None`: fetch the latest.
    Raises `CompileError` for an unknown job.
    """
    return _Planner(pipeline, versions).job(_job(pipeline, job_name))


def resource_for_check(pipeline: PipelineConfig, name: str,
                       ) -> tuple[dict[str, Any], list[ResourceTypeRef]]:
    """What the checker needs of a resource: its source (with its type's `defaults`)
    and the chain of pipeline resource types that resolve its type."""
    _, source, chain = _Planner(pipeline, {}).resource(name)
    return source, chain
