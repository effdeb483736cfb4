"""What a task executor is: something that runs one task's process to its end.

The engine prepares a task's directory (its inputs copied in, its outputs and
caches as empty directories, all at their configured paths) and hands the executor
a `ProcessSpec`. The executor runs `argv` in `cwd` with exactly `env`, streams
stdout and stderr to `output` as text chunks, and answers the exit status
(128 + N when a signal N ended it). Cancelling `run` must stop every process the
task started and wait for them before re-raising. `limits` are the task's
`container_limits` (None fields: the executor's defaults); a task stopped for going
over one raises `LimitExceeded` with a message that names it.

Executors decide how much isolation they give: `LocalExecutor` (local.py) runs on
this host, sandboxed with bubblewrap when it is installed, in the task's `image`
when it has one (taskimage.py, imagesandbox.py), else in a masked view of the host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from headwater.ci.resources.cgroups import LimitExceeded, Limits

__all__ = ["ArtifactImage", "LimitExceeded", "Limits", "Output", "ProcessSpec", "RegistryImage",
           "RootfsUri", "Stream", "TaskExecutor", "TaskImage"]

Stream = Literal["stdout", "stderr"]
Output = Callable[[Stream, str], Awaitable[None]]


@dataclass(frozen=True)
class RegistryImage:
    """`image_resource`: a `registry-image` / `docker-image` source."""

    type: str
    source: Mapping[str, Any]


@dataclass(frozen=True)
class ArtifactImage:
    """`image:` on the step: the artifact `name` at `path` (`rootfs/` + `metadata.json`)."""

    name: str
    path: Path


@dataclass(frozen=True)
class RootfsUri:
    """`rootfs_uri`: `raw:///dir` or `docker:///repository#tag`."""

    uri: str


TaskImage = RegistryImage | ArtifactImage | RootfsUri


@dataclass(frozen=True)
class ProcessSpec:
    argv: list[str]
    root: Path  # the task's own directory: inputs, outputs and caches live under it
    cwd: Path  # `run.dir` (inside `root`)
    env: Mapping[str, str]
    # Relative paths under `root`, for executors that mount them into an image.
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    caches: list[str] = field(default_factory=list)
    network: bool = False  # may the task reach the network (headwater: off by default)
    privileged: bool = False
    user: str | None = None  # `run.user`
    # The task's image: `image:` on the step, else `image_resource`, else `rootfs_uri`
    # (Concourse's precedence); None: the host's view.
    image: TaskImage | None = None
    # Where `root` appears inside an image (Concourse's /tmp/build/<hash of the name>).
    image_root: str = "/tmp/build/task"  # noqa: S108 - inside the sandbox
    name: str = "task"  # the step's name, for messages
    limits: Limits = field(default_factory=Limits)  # `container_limits`


class TaskExecutor(Protocol):
    async def run(self, spec: ProcessSpec, *, output: Output) -> int: ...
