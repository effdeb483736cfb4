"""What the engine reports while a build runs, as Concourse's build events.

The engine never writes to a database or a socket: it calls a delegate. The server's
delegate stores each event, streams it to watchers and records outputs; tests use a
delegate that keeps events in a list. Events are the typed classes of
`headwater.ci.eventtypes` (Concourse's `atc/event`), so `watch` prints what users
expect. The implicit get after a put
reports with the id `<put id>/get`; a `timeout` reports "timeout exceeded" as an
error of the step it wraps. The delegate stamps each event's "time".
"""

from __future__ import annotations

from typing import Any, Protocol

from headwater.ci.eventtypes import BuildEvent
from headwater.ci.resources.base import Fetched


class BuildDelegate(Protocol):
    async def event(self, event: BuildEvent) -> None:
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
