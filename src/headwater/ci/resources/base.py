"""The one interface every resource type implements: Concourse's check / in / out.

Concourse's protocol, kept as is so existing resource scripts run unchanged:
versions are maps of strings to strings, metadata is a list of `{"name", "value"}`,
`check` gets the source and the last known version and answers the versions since
(oldest first, including the given one when it still exists), `in` fetches one
version into a directory, `out` pushes from a directory of the build's artifacts and
answers the version it created. The progress a type prints (stderr for scripts)
goes to `log`, which ends up in the build log or the check's error.

`get` and `put` also take the build's metadata as `env` (`BUILD_ID`, `BUILD_NAME`,
`BUILD_JOB_NAME`, `BUILD_PIPELINE_NAME`, `BUILD_TEAM_NAME`, `ATC_EXTERNAL_URL`, ...):
Concourse gives it to `in` and `out` as environment variables, never to `check`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from headwater.errors import HeadwaterError

Version = dict[str, str]
Log = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class MetadataField:
    name: str
    value: str


@dataclass(frozen=True)
class Fetched:
    """What `in` and `out` answer: the version they fetched or created, and metadata."""

    version: Version
    metadata: list[MetadataField] = field(default_factory=list)


class ResourceError(HeadwaterError):
    """The resource type failed (a script exited non-zero, or answered bad JSON).

    The user's problem, not headwater's: a get/put step that raises it fails the
    build as `errored` with this message, a check records it on the resource.
    """


class ResourceType(Protocol):
    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                     log: Log) -> list[Version]: ...

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched: ...

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched: ...
