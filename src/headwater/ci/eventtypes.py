"""Build events, one small class per kind, as Concourse's `atc/event/events.go`.

The engine makes them, the server's delegate stores them (`to_data`: the JSON object
Concourse sends, unchanged on the wire and in the store), the SSE route sends them as
`{"event": kind, "data": data}`, and the CLI's `watch` reads them back with `parse`.
The CLI imports this module, so it stays light: dataclasses and the standard library,
no pydantic, nothing of the engine.

    log               Log(origin(id, source), payload)
    initialize-get|put|task, start-get|put|task, initialize, start   (origin)
    finish-get|put    FinishGet/FinishPut(origin, exit_status, version, metadata)
    finish-task       FinishTask(origin, exit_status)
    finish            Finish(origin, exit_status, succeeded)   (load_var, set_pipeline)
    error             Error(message, origin or None: the build itself broke)
    status            Status(status: BuildStatus)

On the wire (the SSE route's `data:` lines) an event is `envelope(kind, data)`, read
back by `from_envelope`: stored events are sent as they were stored, never re-encoded.

Every stored event also carries "time" (Unix seconds, float), added by the delegate;
`parse` keeps it in `time`. A kind this module does not know parses as `Unknown`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from headwater.buildstatus import BuildStatus

__all__ = [
    "BuildEvent", "Error", "Finish", "FinishGet", "FinishPut", "FinishTask", "Initialize",
    "InitializeGet", "InitializePut", "InitializeTask", "Log", "Origin", "Start", "StartGet",
    "StartPut", "StartTask", "Status", "Unknown", "envelope", "from_envelope", "parse",
]


@dataclass(frozen=True)
class Origin:
    """The step an event is about; `source` ("stdout"/"stderr") for log output only."""

    id: str
    source: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id} if self.source is None else {"id": self.id,
                                                           "source": self.source}

    @classmethod
    def from_data(cls, data: Any) -> Origin | None:
        if not isinstance(data, dict) or "id" not in data:
            return None
        source = data.get("source")
        return cls(id=str(data["id"]), source=None if source is None else str(source))


@dataclass(frozen=True, kw_only=True)
class BuildEvent:
    """What every event has: its kind (`KIND`, Concourse's name) and when it happened."""

    KIND: ClassVar[str] = ""
    time: float | None = None

    @property
    def kind(self) -> str:
        return self.KIND

    def fields(self) -> dict[str, Any]:
        """The event's own JSON fields (without "time")."""
        return {}

    def to_data(self) -> dict[str, Any]:
        """The JSON object stored and sent as the event's `data`."""
        data = self.fields()
        return data if self.time is None else {**data, "time": self.time}


@dataclass(frozen=True, kw_only=True)
class _StepEvent(BuildEvent):
    origin: Origin

    def fields(self) -> dict[str, Any]:
        return {"origin": self.origin.to_data()}


@dataclass(frozen=True, kw_only=True)
class Log(_StepEvent):
    KIND: ClassVar[str] = "log"
    payload: str

    def fields(self) -> dict[str, Any]:
        return {"origin": self.origin.to_data(), "payload": self.payload}


@dataclass(frozen=True, kw_only=True)
class InitializeTask(_StepEvent):
    KIND: ClassVar[str] = "initialize-task"


@dataclass(frozen=True, kw_only=True)
class StartTask(_StepEvent):
    KIND: ClassVar[str] = "start-task"


@dataclass(frozen=True, kw_only=True)
class FinishTask(_StepEvent):
    KIND: ClassVar[str] = "finish-task"
    exit_status: int

    def fields(self) -> dict[str, Any]:
        return {"origin": self.origin.to_data(), "exit_status": self.exit_status}


@dataclass(frozen=True, kw_only=True)
class InitializeGet(_StepEvent):
    KIND: ClassVar[str] = "initialize-get"


@dataclass(frozen=True, kw_only=True)
class StartGet(_StepEvent):
    KIND: ClassVar[str] = "start-get"


@dataclass(frozen=True, kw_only=True)
class _FinishResource(_StepEvent):
    exit_status: int
    version: dict[str, str] = field(default_factory=dict)
    metadata: list[dict[str, str]] = field(default_factory=list)  # [{"name", "value"}]

    def fields(self) -> dict[str, Any]:
        return {"origin": self.origin.to_data(), "exit_status": self.exit_status,
                "version": self.version, "metadata": self.metadata}


@dataclass(frozen=True, kw_only=True)
class FinishGet(_FinishResource):
    KIND: ClassVar[str] = "finish-get"


@dataclass(frozen=True, kw_only=True)
class InitializePut(_StepEvent):
    KIND: ClassVar[str] = "initialize-put"


@dataclass(frozen=True, kw_only=True)
class StartPut(_StepEvent):
    KIND: ClassVar[str] = "start-put"


@dataclass(frozen=True, kw_only=True)
class FinishPut(_FinishResource):
    KIND: ClassVar[str] = "finish-put"


@dataclass(frozen=True, kw_only=True)
class Initialize(_StepEvent):
    """A step with no kind of its own (load_var, set_pipeline) is initializing."""

    KIND: ClassVar[str] = "initialize"


@dataclass(frozen=True, kw_only=True)
class Start(_StepEvent):
    KIND: ClassVar[str] = "start"


@dataclass(frozen=True, kw_only=True)
class Finish(_StepEvent):
    KIND: ClassVar[str] = "finish"
    exit_status: int
    succeeded: bool

    def fields(self) -> dict[str, Any]:
        return {"origin": self.origin.to_data(), "exit_status": self.exit_status,
                "succeeded": self.succeeded}


@dataclass(frozen=True, kw_only=True)
class Error(BuildEvent):
    """A step errored (`origin`), or the build itself broke (no origin)."""

    KIND: ClassVar[str] = "error"
    message: str
    origin: Origin | None = None

    def fields(self) -> dict[str, Any]:
        if self.origin is None:
            return {"message": self.message}
        return {"origin": self.origin.to_data(), "message": self.message}


@dataclass(frozen=True, kw_only=True)
class Status(BuildEvent):
    KIND: ClassVar[str] = "status"
    status: BuildStatus

    def fields(self) -> dict[str, Any]:
        return {"status": str(self.status)}


@dataclass(frozen=True, kw_only=True)
class Unknown(BuildEvent):
    """An event of a kind this version does not know: kept as it came."""

    name: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.name

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k != "time"}


_STEP_KINDS: dict[str, type[_StepEvent]] = {
    c.KIND: c for c in (InitializeTask, StartTask, InitializeGet, StartGet, InitializePut,
                        StartPut, Initialize, Start)}


def step_event(kind: str, origin: Origin) -> BuildEvent:
    """The event of `kind` that carries only its step (initialize-*, start-*)."""
    return _STEP_KINDS[kind](origin=origin)


def parse(kind: str, data: dict[str, Any]) -> BuildEvent:
    """The event of `kind` whose JSON `data` was stored or sent (`to_data`)."""
    stamp = data.get("time")
    time = float(stamp) if isinstance(stamp, int | float) else None
    origin = Origin.from_data(data.get("origin"))
    try:
        if kind == Status.KIND:
            return Status(status=BuildStatus(data["status"]), time=time)
        if kind == Error.KIND:
            return Error(message=str(data.get("message", "")), origin=origin, time=time)
        if origin is not None:
            if kind == Log.KIND:
                return Log(origin=origin, payload=str(data.get("payload", "")), time=time)
            if kind in _STEP_KINDS:
                return _STEP_KINDS[kind](origin=origin, time=time)
            if kind == FinishTask.KIND:
                return FinishTask(origin=origin, exit_status=int(data["exit_status"]),
                                  time=time)
            if kind in (FinishGet.KIND, FinishPut.KIND):
                cls = FinishGet if kind == FinishGet.KIND else FinishPut
                return cls(origin=origin, exit_status=int(data["exit_status"]),
                           version=dict(data.get("version") or {}),
                           metadata=list(data.get("metadata") or []), time=time)
            if kind == Finish.KIND:
                return Finish(origin=origin, exit_status=int(data["exit_status"]),
                              succeeded=bool(data.get("succeeded")), time=time)
    except (KeyError, ValueError, TypeError):
        pass  # not the shape this kind has: keep it as it came
    return Unknown(name=kind, data=data, time=time)


def envelope(kind: str, data: dict[str, Any]) -> str:
    """One event as the SSE route sends it: Concourse's `{"event": kind, "data": data}`."""
    return json.dumps({"event": kind, "data": data})


def from_envelope(text: str) -> BuildEvent | None:
    """The event of one SSE `data:` line (`envelope`); None for an empty one."""
    message = json.loads(text)
    if not isinstance(message, dict) or "event" not in message:
        return None
    data = message.get("data")
    return parse(str(message["event"]), data if isinstance(data, dict) else {})
