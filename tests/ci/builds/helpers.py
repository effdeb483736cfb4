"""What the build tests share: a recording delegate, a build context, plan shorthands.

The delegate is the real interface, implemented by keeping what the engine reports
in lists (the delegate pattern, not a mock).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.ci.build.context import BuildContext
from headwater.ci.build.executor import TaskExecutor
from headwater.ci.build.local import LocalExecutor
from headwater.ci.eventtypes import BuildEvent
from headwater.ci.plan import Task
from headwater.ci.resources.base import Fetched, ResourceType
from headwater.ci.resources.time import TimeResource
from headwater.ci.resources.types import ResourceTypes


@dataclass
class Event:
    type: str
    payload: dict[str, Any]
    time: float


@dataclass
class RecordingDelegate:
    events: list[Event] = field(default_factory=list)
    outputs: list[tuple[str, Fetched]] = field(default_factory=list)
    pipelines: list[tuple[str, str | None, str, dict[str, Any]]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    async def event(self, event: BuildEvent) -> None:
        self.events.append(Event(event.kind, event.to_data(), time.monotonic()))

    async def saved_output(self, resource: str, fetched: Fetched) -> None:
        self.outputs.append((resource, fetched))

    async def set_pipeline(self, name: str, team: str | None, config_text: str,
                           vars: dict[str, Any], *, file: str) -> bool:
        del file
        changed = not any(p[0] == name and p[2] == config_text for p in self.pipelines)
        self.pipelines.append((name, team, config_text, vars))
        return changed

    async def redact(self, values: list[str]) -> None:
        self.secrets.extend(values)

    # -- what tests ask ---------------------------------------------------------------

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def of(self, type: str, step_id: str | None = None) -> list[dict[str, Any]]:
        return [e.payload for e in self.events if e.type == type and
                (step_id is None or e.payload.get("origin", {}).get("id") == step_id)]

    def step_ids(self, type: str) -> list[str]:
        return [e.payload["origin"]["id"] for e in self.events if e.type == type]

    def log(self, step_id: str, source: str | None = None) -> str:
        return "".join(p["payload"] for p in self.of("log", step_id)
                       if source is None or p["origin"]["source"] == source)

    def errors(self) -> list[str]:
        return [p["message"] for p in self.of("error")]

    def statuses(self) -> list[str]:
        return [p["status"] for p in self.of("status")]


def make_ctx(workdir: Path, *, executor: TaskExecutor | None = None,
             builtins: dict[str, ResourceType] | None = None,
             types_dir: Path | None = None, **fields: Any) -> BuildContext:
    defaults: dict[str, Any] = {"build_id": 42, "build_name": "7", "team": "main",
                                "job": "unit", "pipeline": "app",
                                "external_url": "http://ci.example:8080"}
    defaults.update(fields)
    types = ResourceTypes(builtins if builtins is not None else {"time": TimeResource()},
                          types_dir)
    return BuildContext(workdir=workdir, types=types,
                        executor=executor or LocalExecutor(kill_grace=2.0), **defaults)


def sh(name: str, script: str, *, inputs: list[dict[str, Any]] | None = None,
       outputs: list[dict[str, Any]] | None = None, params: dict[str, Any] | None = None,
       step_id: str | None = None, **step: Any) -> Task:
    """A task step running `script` with `sh -ec`, with an inline config."""
    config: dict[str, Any] = {"platform": "linux", "run": {"path": "sh", "args": ["-ec", script]}}
    if inputs:
        config["inputs"] = inputs
    if outputs:
        config["outputs"] = outputs
    if params:
        config["params"] = params
    return Task(id=step_id or name, name=name, config=config, **step)


def pids_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


def sleeper() -> tuple[str, str]:
    """A `sleep` whose command line is unique, to find its process on the host."""
    seconds = f"1000.{random.randrange(10**8):08d}"
    return f"sleep {seconds}", seconds


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    """Is `pid` a running process (not gone, not a zombie waiting to be reaped)?"""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() != b""
    except OSError:
        return False


def existing(*paths: Path) -> list[Path]:
    return [path for path in paths if path.exists()]
