"""Everything one build runs with, besides its plan and its delegate.

`BuildContext` carries the build's identity (which becomes the `BUILD_*` environment
of tasks and of resources' `in`/`out`, as in Concourse), its work directory (each
artifact is the directory `workdir/<artifact name>`; steps' scratch space is under
`workdir/.scratch/`), where to find resource types, and the task executor. The
server makes one per build; the engine never deletes `workdir` (the server decides
when a finished build's files go).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from headwater import yamlload
from headwater.ci.build.executor import TaskExecutor
from headwater.ci.plan import ResourceTypeRef
from headwater.ci.resources.base import ResourceType


class TypeResolver(Protocol):
    """`headwater.ci.resources.types.ResourceTypes` is the one the server uses."""

    def resolve(self, type_name: str,
                resource_types: Sequence[ResourceTypeRef] = ()) -> ResourceType: ...


@dataclass(frozen=True)
class BuildContext:
    build_id: int
    build_name: str  # the build's number within its job ("12"), or the id for one-offs
    team: str
    workdir: Path
    types: TypeResolver  # resource types: ResourceTypes in the server
    executor: TaskExecutor
    job: str | None = None  # None for one-off builds (`execute`)
    pipeline: str | None = None
    # Artifacts already in `workdir/<name>` when the build starts (`execute`'s uploads).
    inputs: tuple[str, ...] = ()
    external_url: str = ""  # the server's URL as users reach it (`ATC_EXTERNAL_URL`)
    # The server's default timeouts of get and put steps, in seconds (None: none).
    get_timeout: float | None = None
    put_timeout: float | None = None
    yaml_limits: yamlload.Limits = yamlload.DEFAULT  # task files, load_var, var_files
    # Where task caches are kept between builds of a job (None: not kept).
    task_caches: Path | None = None

    @property
    def build_url(self) -> str:
        """The build's page in the web UI, Concourse's URL scheme."""
        base = self.external_url.rstrip("/")
        if self.job and self.pipeline:
            return (f"{base}/teams/{quote(self.team, safe='')}/pipelines/"
                    f"{quote(self.pipeline, safe='')}/jobs/{quote(self.job, safe='')}"
                    f"/builds/{quote(self.build_name, safe='')}")
        return f"{base}/builds/{self.build_id}"

    def env(self) -> dict[str, str]:
        """The build's metadata as environment variables (tasks, `in`, `out`)."""
        env = {"BUILD_ID": str(self.build_id), "BUILD_NAME": self.build_name,
               "BUILD_TEAM_NAME": self.team, "BUILD_URL": self.build_url}
        if self.job:
            env["BUILD_JOB_NAME"] = self.job
        if self.pipeline:
            env["BUILD_PIPELINE_NAME"] = self.pipeline
        if self.external_url:
            env["ATC_EXTERNAL_URL"] = self.external_url
        return env
