"""What the store takes and gives: small frozen dataclasses, never ORM objects.

Rows are read into these at the edge of each query (`from_row`), so callers get
plain values that stay valid after the transaction ends and compare by value in
tests. JSON columns come back as the dicts and lists they were saved as.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

# The status type lives in a bottom module (the CLI reads it without SQLAlchemy).
from headwater.buildstatus import FINISHED_STATUSES, BuildStatus

__all__ = [  # the status type is re-exported: it lives in headwater.buildstatus
    "FINISHED_STATUSES", "ApiToken", "Build", "BuildInput", "BuildResource", "BuildStatus",
    "Event", "Job", "JobSpec", "Pipeline", "Resource", "ResourceSpec", "ResourceVersion",
    "SavedPipeline", "Version", "canonical_json", "digest", "resource_scope",
]

Version = dict[str, str]


def canonical_json(value: Any) -> str:
    """One text per value whatever the key order: what versions are keyed by."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    """sha256 (hex) of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def resource_scope(type: str, source: dict[str, Any]) -> str:
    """The version history a resource uses: one per (type, source), as Concourse."""
    return digest({"type": type, "source": source})


# -- what callers hand in ---------------------------------------------------------------

@dataclass(frozen=True)
class ResourceSpec:
    """A resource as a pipeline config declares it (values already interpolated)."""

    name: str
    type: str
    source: dict[str, Any] = field(default_factory=dict)
    check_every: float | None = 60.0  # seconds; None: never
    webhook_token: str | None = None
    pinned_version: Version | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobSpec:
    """A job as a pipeline config declares it. `paused` applies when the job is new: a
    re-set keeps the paused state a user gave the job since."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    paused: bool = False


@dataclass(frozen=True)
class BuildInput:
    """One input the scheduler chose: the get's name, its resource and version ids."""

    name: str
    resource_id: int
    version_id: int


# -- what the store answers -------------------------------------------------------------

@dataclass(frozen=True)
class SavedPipeline:
    id: int
    created: bool
    version: int


@dataclass(frozen=True)
class Pipeline:
    id: int
    team: str
    name: str
    paused: bool
    version: int
    config: dict[str, Any]
    config_text: str
    redact: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Pipeline:
        m = row._mapping
        return cls(id=m["id"], team=m["team"], name=m["name"], paused=m["paused"],
                   version=m["version"], config=m["config"], config_text=m["config_text"],
                   redact=list(m["redact"]), created_at=m["created_at"],
                   updated_at=m["updated_at"])


@dataclass(frozen=True)
class Resource:
    id: int
    pipeline_id: int
    name: str
    type: str
    source: dict[str, Any]
    check_every: float | None
    webhook_token_sha256: str | None  # the webhook token's sha256 (hex); never the token
    pinned_version: Version | None
    last_checked: datetime | None
    check_error: str | None
    config: dict[str, Any]
    api_pinned_version: Version | None = None
    pin_comment: str | None = None

    @property
    def pin(self) -> Version | None:
        """The version every get of the resource uses: the config's `version:` (it wins,
        as in Concourse), else the one pinned through the API."""
        return self.pinned_version or self.api_pinned_version

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Resource:
        m = row._mapping
        return cls(id=m["id"], pipeline_id=m["pipeline_id"], name=m["name"], type=m["type"],
                   source=m["source"], check_every=m["check_every"],
                   webhook_token_sha256=m["webhook_token_sha256"],
                   pinned_version=m["pinned_version"],
                   last_checked=m["last_checked"], check_error=m["check_error"],
                   config=m["config"], api_pinned_version=m["api_pinned_version"],
                   pin_comment=m["pin_comment"])


@dataclass(frozen=True)
class ResourceVersion:
    id: int
    version: Version
    metadata: list[dict[str, str]]
    check_order: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> ResourceVersion:
        m = row._mapping
        return cls(id=m["id"], version=m["version"], metadata=m["metadata"],
                   check_order=m["check_order"], created_at=m["created_at"])


@dataclass(frozen=True)
class Job:
    id: int
    pipeline_id: int
    name: str
    config: dict[str, Any]
    paused: bool
    next_build_number: int

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Job:
        m = row._mapping
        return cls(id=m["id"], pipeline_id=m["pipeline_id"], name=m["name"],
                   config=m["config"], paused=m["paused"],
                   next_build_number=m["next_build_number"])


@dataclass(frozen=True)
class Build:
    id: int
    team: str
    name: str  # "1", "2"... per job; a global number for one-off builds
    pipeline_id: int | None
    pipeline_name: str | None
    job_id: int | None
    job_name: str | None
    status: BuildStatus
    manually_triggered: bool
    plan: str | None  # the plan as JSON (ci.plan.PLAN)
    aborted: bool  # an abort was requested
    create_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    reap_time: datetime | None  # when its events were pruned by the retention policy

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Build:
        m = row._mapping
        return cls(id=m["id"], team=m["team"], name=m["name"], pipeline_id=m["pipeline_id"],
                   pipeline_name=m["pipeline_name"], job_id=m["job_id"],
                   job_name=m["job_name"], status=BuildStatus(m["status"]),
                   manually_triggered=m["manually_triggered"], plan=m["plan"],
                   aborted=m["aborted"], create_time=m["create_time"],
                   start_time=m["start_time"], end_time=m["end_time"],
                   reap_time=m["reap_time"])


@dataclass(frozen=True)
class BuildResource:
    """An input or output of a build, with the version it names."""

    name: str
    resource_id: int
    version_id: int
    version: Version


@dataclass(frozen=True)
class ApiToken:
    """A token of the API, without the token: only its hash is stored."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    payload: dict[str, Any]
    time: datetime
