"""A task's config: Concourse's task schema (the `config:` of a task step, or a task file).

    platform: linux                    # required
    image_resource: {type, source, params, version}   # or rootfs_uri
    inputs:  [{name, path, optional}]  # path defaults to name
    outputs: [{name, path}]
    caches:  [{path}]
    params:  {NAME: value}             # environment; non-strings are JSON-encoded
    run:     {path, args, dir, user}   # required: run.path
    container_limits: {cpu, memory}

Unknown keys are errors, as in Concourse. Paths are relative and stay inside the
task's directory (no `..`, not absolute). `parse_task_config` answers a
`TaskConfig` or raises `StepError` listing every problem with where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from headwater.ci.build.errors import StepError
from headwater.ci.resources.cgroups import Limits, parse_memory


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _relative(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"{path!r} must be a relative path inside the task's directory")
    return path


RelativePath = Annotated[str, AfterValidator(_relative)]


class ImageResource(_Model):
    type: str
    source: dict[str, Any] = {}
    params: dict[str, Any] = {}
    version: dict[str, str] | None = None
    name: str | None = None


class TaskInput(_Model):
    name: str
    path: RelativePath | None = None
    optional: bool = False

    @property
    def dir(self) -> str:
        return self.path or self.name


class TaskOutput(_Model):
    name: str
    path: RelativePath | None = None

    @property
    def dir(self) -> str:
        return self.path or self.name


class TaskCache(_Model):
    path: RelativePath


class RunConfig(_Model):
    path: str
    args: list[str] = []
    dir: RelativePath | None = None
    user: str | None = None


def _memory(value: Any) -> Any:
    return parse_memory(value) if isinstance(value, (int, str)) else value


class ContainerLimits(_Model):
    """Concourse's: `cpu` in shares (relative weight, 1024 = one process's), `memory` in
    bytes or with a unit (`512MB`, `2GB`); 0 means unlimited, absent the server's default."""

    cpu: Annotated[int, Field(ge=0)] | None = None
    memory: Annotated[int, BeforeValidator(_memory)] | None = None

    def limits(self) -> Limits:
        return Limits(memory=self.memory, cpu=self.cpu)


class TaskConfig(_Model):
    platform: str
    image_resource: ImageResource | None = None
    rootfs_uri: str | None = None
    inputs: list[TaskInput] = []
    outputs: list[TaskOutput] = []
    caches: list[TaskCache] = []
    params: dict[str, Any] = {}
    run: RunConfig
    container_limits: ContainerLimits | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> TaskConfig:
        for kind, names in (("input", [i.name for i in self.inputs]),
                            ("output", [o.name for o in self.outputs])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind} names must be unique: {', '.join(dupes)} "
                                 "appears more than once")
        return self


def parse_task_config(data: Any, where: str) -> TaskConfig:
    """Validate a task config read from `where` (named in the error)."""
    if not isinstance(data, Mapping):
        raise StepError(f"invalid task config in {where}: expected a mapping with platform "
                        f"and run, got {type(data).__name__}")
    try:
        return TaskConfig.model_validate(data)
    except ValidationError as e:
        problems = [_describe(err) for err in e.errors()]
        raise StepError(f"invalid task config in {where}:\n" +
                        "\n".join(f"  {p}" for p in problems)) from None


def _describe(err: Any) -> str:
    loc = ".".join(str(part) for part in err["loc"])
    if err["type"] == "missing":
        hint = {"platform": "missing 'platform' (e.g. platform: linux)",
                "run": "missing 'run' (the executable to run: run: {path: ...})",
                "run.path": "missing path to executable to run (run.path)"}.get(loc)
        return hint or f"{loc}: missing"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def param_env(params: Mapping[str, Any]) -> dict[str, str]:
    """Task params as environment variables: strings as they are, null as "", the rest
    JSON-encoded (Concourse's coercion)."""
    env: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            env[name] = ""
        elif isinstance(value, str):
            env[name] = value
        else:
            env[name] = json.dumps(value, separators=(",", ":"))
    return env
