"""What the engine reports while a build runs, as Concourse's build events.

The engine never writes to a database or a socket: it calls a delegate. The server's
delegate stores each event, streams it to watchers and records outputs; tests use a
delegate that keeps events in a list. Event types and payloads follow Concourse's
`atc/event` so `watch` prints what users expect:

    log               {"origin": {"id": step_id, "source": "stdout"|"stderr"}, "payload": text}
    initialize-get|put|task   {"origin": {"id": step_id}}
    start-get|put|task        {"origin": {"id": step_id}}
    finish-get|put    {"origin": {"id": step_id}, "exit_status": 0|1,
                       "version": {...}, "metadata": [{"name", "value"}]}
    finish-task       {"origin": {"id": step_id}, "exit_status": N}
    initialize|start  {"origin": {"id": step_id}}        (load_var, set_pipeline)
    finish            {"origin": {"id": step_id}, "exit_status": 0|1, "succeeded": bool}
    error             {"origin": {"id": step_id}, "message": text}
    status            {"status": "started"|"succeeded"|"failed"|"errored"|"aborted"}

Every event also carries "time" (Unix seconds, float), added by the delegate. The
implicit get after a put reports with the id `<put id>/get`; a `timeout` reports
"timeout exceeded" as an error of the step it wraps.
"""

from __future__ import annotations

from typing import Any, Protocol

from headwater.ci.resources.base import Fetched


class BuildDelegate(Protocol):
    async def event(self, type: str, payload: dict[str, Any]) -> None:
        """Record one build event (and stream it to anyone watching)."""
        ...

    async def saved_output(self, resource: str, fetched: Fetched) -> None:
        """A `put` created this version of a pipeline resource: store it, so later
        checks, `passed` constraints and the implicit get see it."""
        ...

    async def set_pipeline(self, name: str, team: str | None, config_text: str,
                           vars: dict[str, Any], *, file: str) -> bool:
        """A `set_pipeline` step: validate and save the pipeline. True when it changed.

        `file` is the step's `file:` (`artifact/path`), for messages. A pipeline the user
        got wrong raises `headwater.ci.build.errors.StepError` with a message naming the
        problem (and its line in `file`): the step errors with that message."""
        ...

    async def redact(self, values: list[str]) -> None:
        """A `load_var` without `reveal: true` loaded these secret values: from now on
        they must not appear in anything the build shows (events, logs, API answers).
        The engine already replaces them with `((redacted))` in the `log` and `error`
        events it emits; the delegate hides them wherever else it shows build data."""
        ...
