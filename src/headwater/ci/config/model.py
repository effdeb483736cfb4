"""The pipeline config as typed data (pydantic), keyed as Concourse keys it.

Built by `validate.load_pipeline` from data that already passed every check (so
building never fails on a user's mistake) and stored as JSON by the server:
`PipelineConfig.model_validate(config.to_data())` gives the same config back. Field
names are Concourse's keys (`get`, `put`, `in_parallel`, `try` via an alias), so
`to_data()` is a Concourse pipeline again, with two normalisations: `aggregate: [...]`
and `in_parallel: [...]` become `in_parallel: {steps: [...]}`.

A step is one model per core kind (`GetStep`, `PutStep`, ...) carrying the modifiers
every step may have (`timeout`, `attempts`, the five hooks, `across`); the union is
discriminated by which core key is present, as Concourse detects it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from headwater.durations import parse_duration

__all__ = [
    "AcrossVar", "BuildLogRetention", "DisplayConfig", "DoStep", "GetStep", "GroupConfig",
    "InParallelConfig", "InParallelStep", "JobConfig", "LoadVarStep", "PipelineConfig",
    "PutStep", "ResourceConfig", "ResourceTypeConfig", "SetPipelineStep", "Step", "TaskStep",
    "TryStep", "VarSourceConfig",
]

DEFAULT_CHECK_EVERY = 60.0  # Concourse's default: one minute


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class AcrossVar(_Model):
    var: str
    values: list[Any] | str = []  # a str: one ((var)) that holds the list
    max_in_flight: int | Literal["all"] | None = None


class _StepBase(_Model):
    timeout: str | None = None
    attempts: int | None = None
    across: list[AcrossVar] | None = None
    fail_fast: bool | None = None  # across's
    on_success: Step | None = None
    on_failure: Step | None = None
    on_error: Step | None = None
    on_abort: Step | None = None
    ensure: Step | None = None


class GetStep(_StepBase):
    get: str
    resource: str | None = None
    version: Literal["latest", "every"] | dict[str, str] | None = None
    params: dict[str, Any] = {}
    passed: list[str] = []
    trigger: bool = False
    tags: list[str] = []

    @property
    def resource_name(self) -> str:
        return self.resource or self.get


class PutStep(_StepBase):
    put: str
    resource: str | None = None
    params: dict[str, Any] = {}
    inputs: Literal["all", "detect"] | list[str] | None = None
    tags: list[str] = []
    get_params: dict[str, Any] = {}
    no_get: bool = False

    @property
    def resource_name(self) -> str:
        return self.resource or self.put


class TaskStep(_StepBase):
    task: str
    privileged: bool = False
    file: str | None = None
    config: dict[str, Any] | None = None
    params: dict[str, Any] = {}
    vars: dict[str, Any] = {}
    tags: list[str] = []
    input_mapping: dict[str, str] = {}
    output_mapping: dict[str, str] = {}
    image: str | None = None
    container_limits: dict[str, int] | None = None
    hermetic: bool = False
    network: bool = False  # headwater's: the task may reach the network (plan.Task.network)


class SetPipelineStep(_StepBase):
    set_pipeline: str
    file: str
    team: str | None = None
    vars: dict[str, Any] = {}
    var_files: list[str] = []
    instance_vars: dict[str, Any] = {}


class LoadVarStep(_StepBase):
    load_var: str
    file: str
    format: Literal["json", "yaml", "yml", "trim", "raw"] | None = None
    reveal: bool = False


class DoStep(_StepBase):
    do: list[Step]


class InParallelConfig(_Model):
    steps: list[Step] = []
    limit: int | None = None
    fail_fast: bool = False


class InParallelStep(_StepBase):
    in_parallel: InParallelConfig


class TryStep(_StepBase):
    try_: Step = Field(alias="try")


_KINDS = ("task", "put", "get", "set_pipeline", "load_var", "try", "do", "in_parallel")
_MODEL_KIND: dict[type[BaseModel], str] = {GetStep: "get", PutStep: "put", TaskStep: "task",
               SetPipelineStep: "set_pipeline", LoadVarStep: "load_var", TryStep: "try",
               DoStep: "do", InParallelStep: "in_parallel"}


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "try_" in value:  # a `model_dump()` without `by_alias`
            return "try"
        return next((k for k in _KINDS if k in value), None)
    return _MODEL_KIND.get(type(value))


Step = Annotated[
    Annotated[GetStep, Tag("get")] | Annotated[PutStep, Tag("put")]
    | Annotated[TaskStep, Tag("task")] | Annotated[SetPipelineStep, Tag("set_pipeline")]
    | Annotated[LoadVarStep, Tag("load_var")] | Annotated[TryStep, Tag("try")]
    | Annotated[DoStep, Tag("do")] | Annotated[InParallelStep, Tag("in_parallel")],
    Discriminator(_step_kind),
]


class ResourceConfig(_Model):
    name: str
    type: str
    source: dict[str, Any] = {}
    old_name: str | None = None
    public: bool = False
    webhook_token: str | None = None
    check_every: str | None = None
    check_timeout: str | None = None
    tags: list[str] = []
    version: dict[str, str] | None = None  # pinned in the config
    icon: str | None = None
    expose_build_created_by: bool = False

    @property
    def check_every_seconds(self) -> float | None:
        """Seconds between checks: 60 by default, None for `never`."""
        if self.check_every is None:
            return DEFAULT_CHECK_EVERY
        return None if self.check_every == "never" else parse_duration(self.check_every)


class ResourceTypeConfig(_Model):
    name: str
    type: str
    source: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    privileged: bool = False
    check_every: str | None = None
    tags: list[str] = []
    params: dict[str, Any] = {}
    unique_version_history: bool = False


class BuildLogRetention(_Model):
    builds: int | None = None
    days: int | None = None
    minimum_succeeded_builds: int | None = None


class JobConfig(_Model):
    name: str
    old_name: str | None = None
    public: bool = False
    disable_manual_trigger: bool = False
    serial: bool = False
    interruptible: bool = False
    serial_groups: list[str] = []
    max_in_flight: int | None = None
    build_logs_to_retain: int | None = None
    build_log_retention: BuildLogRetention | None = None
    plan: list[Step] = []
    on_success: Step | None = None
    on_failure: Step | None = None
    on_error: Step | None = None
    on_abort: Step | None = None
    ensure: Step | None = None

    @property
    def effective_max_in_flight(self) -> int | None:
        """Builds that may run at once (None: no limit), as Concourse's `MaxInFlight`."""
        if self.serial or self.serial_groups:
            return 1
        return self.max_in_flight

    @property
    def effective_serial_groups(self) -> list[str]:
        """Concourse's `GetSerialGroups`: a serial job is its own group."""
        if self.serial_groups:
            return list(self.serial_groups)
        return [self.name] if self.serial or self.max_in_flight else []


class GroupConfig(_Model):
    name: str
    jobs: list[str] = []
    resources: list[str] = []


class VarSourceConfig(_Model):
    name: str
    type: str
    config: dict[str, Any] = {}


class DisplayConfig(_Model):
    background_image: str | None = None
    background_filter: str | None = None


class PipelineConfig(_Model):
    resources: list[ResourceConfig] = []
    resource_types: list[ResourceTypeConfig] = []
    jobs: list[JobConfig] = []
    groups: list[GroupConfig] = []
    var_sources: list[VarSourceConfig] = []
    display: DisplayConfig | None = None

    def resource(self, name: str) -> ResourceConfig | None:
        return next((r for r in self.resources if r.name == name), None)

    def resource_type(self, name: str) -> ResourceTypeConfig | None:
        return next((t for t in self.resource_types if t.name == name), None)

    def job(self, name: str) -> JobConfig | None:
        return next((j for j in self.jobs if j.name == name), None)

    def to_data(self) -> dict[str, Any]:
        """The config as Concourse-shaped JSON data (defaults left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


for _model in (_StepBase, GetStep, PutStep, TaskStep, SetPipelineStep, LoadVarStep, DoStep,
               InParallelConfig, InParallelStep, TryStep, JobConfig, PipelineConfig):
    _model.model_rebuild()
