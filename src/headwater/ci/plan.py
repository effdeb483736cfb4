"""The build plan: the tree of steps one build runs, compiled from a job's config.

As Concourse's `atc.Plan`: the pipeline config says what a job does, the plan says
what this build does, with every `get` resolved to the version the scheduler chose
and every resource's type and source copied in, so a plan is self-contained and is
stored with its build as JSON (`PLAN.dump_json` / `PLAN.validate_json`).

Every node has an `id` unique within the plan; build events name their step by it.
Modifiers and hooks are nodes that wrap other nodes (`Timeout(step=...)`,
`OnFailure(step=..., hook=...)`), so the engine runs each with a few lines.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Version = dict[str, str]


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str


class ResourceTypeRef(BaseModel):
    """A pipeline's `resource_types` entry, as a get/put needs it to find its type."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    type: str
    source: dict[str, Any] = {}
    params: dict[str, Any] = {}
    privileged: bool = False


class Get(_Node):
    kind: Literal["get"] = "get"
    name: str  # the artifact name in the build (`get: name`)
    resource: str  # the pipeline resource (`resource:`, defaults to name)
    type: str
    source: dict[str, Any] = {}
    params: dict[str, Any] = {}
    version: Version | None = None  # None: fetch the latest (one-off builds, `execute`)
    tags: list[str] = []
    resource_types: list[ResourceTypeRef] = []


class Put(_Node):
    kind: Literal["put"] = "put"
    name: str
    resource: str
    type: str
    source: dict[str, Any] = {}
    params: dict[str, Any] = {}
    # "all": every artifact of the build; "detect": those named in params; or a list.
    inputs: Literal["all", "detect"] | list[str] = "all"
    get_params: dict[str, Any] = {}
    no_get: bool = False
    tags: list[str] = []
    resource_types: list[ResourceTypeRef] = []


class Task(_Node):
    kind: Literal["task"] = "task"
    name: str
    config: dict[str, Any] | None = None  # inline `config:`; validated when the step runs
    file: str | None = None  # `artifact/path/task.yml`, read from an artifact at run time
    image: str | None = None  # an artifact to use as the rootfs
    privileged: bool = False
    # headwater's addition (Concourse's containers always have network): a task reaches
    # the network only when its step says `network: true`; otherwise it runs offline.
    network: bool = False
    params: dict[str, Any] = {}
    vars: dict[str, Any] = {}
    input_mapping: dict[str, str] = {}
    output_mapping: dict[str, str] = {}
    tags: list[str] = []


class SetPipeline(_Node):
    kind: Literal["set_pipeline"] = "set_pipeline"
    name: str  # the pipeline to set; "self" is the build's own pipeline
    file: str
    vars: dict[str, Any] = {}
    var_files: list[str] = []
    team: str | None = None


class LoadVar(_Node):
    kind: Literal["load_var"] = "load_var"
    name: str
    file: str
    format: Literal["json", "yaml", "yml", "trim", "raw"] | None = None
    reveal: bool = False


class Do(_Node):
    kind: Literal["do"] = "do"
    steps: list[Plan]


class InParallel(_Node):
    kind: Literal["in_parallel"] = "in_parallel"
    steps: list[Plan]
    limit: int | None = None
    fail_fast: bool = False


class Try(_Node):
    kind: Literal["try"] = "try"
    step: Plan


class Timeout(_Node):
    kind: Literal["timeout"] = "timeout"
    step: Plan
    seconds: float


class Retry(_Node):
    """`attempts: N`: run `step` until it succeeds, at most N times."""

    kind: Literal["retry"] = "retry"
    step: Plan
    attempts: int


class AcrossVar(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    var: str
    values: list[Any] | str  # a str: one ((var)) holding the list, resolved at run time
    max_in_flight: int | None = 1  # None: all at once


class Across(_Node):
    """`across`: `step` once per combination of the vars' values (the first var varies
    slowest), each with the values as local vars `((.:var))`, in a scope of its own."""

    kind: Literal["across"] = "across"
    step: Plan
    vars: list[AcrossVar]
    fail_fast: bool = False


class OnSuccess(_Node):
    kind: Literal["on_success"] = "on_success"
    step: Plan
    hook: Plan


class OnFailure(_Node):
    kind: Literal["on_failure"] = "on_failure"
    step: Plan
    hook: Plan


class OnError(_Node):
    kind: Literal["on_error"] = "on_error"
    step: Plan
    hook: Plan


class OnAbort(_Node):
    kind: Literal["on_abort"] = "on_abort"
    step: Plan
    hook: Plan


class Ensure(_Node):
    kind: Literal["ensure"] = "ensure"
    step: Plan
    hook: Plan


Plan = Annotated[
    Get | Put | Task | SetPipeline | LoadVar | Do | InParallel | Try | Timeout | Retry
    | Across | OnSuccess | OnFailure | OnError | OnAbort | Ensure,
    Field(discriminator="kind"),
]
PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)

for _model in (Do, InParallel, Try, Timeout, Retry, Across, OnSuccess, OnFailure, OnError,
               OnAbort, Ensure):
    _model.model_rebuild()
