"""The JSON shapes of the CI API's objects (the CLI and the UI read these fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from headwater.store import Build, Pipeline


def time(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def pipeline(p: Pipeline) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "team": p.team, "paused": p.paused,
            "version": p.version, "updated_at": time(p.updated_at)}


def build(b: Build) -> dict[str, Any]:
    return {"id": b.id, "name": b.name, "team": b.team, "status": b.status,
            "pipeline": b.pipeline_name, "job": b.job_name,
            "start_time": time(b.start_time), "end_time": time(b.end_time)}
