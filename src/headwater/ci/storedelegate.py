"""The server's build delegate: what the engine reports, stored, redacted, fanned out.

The engine (`ci/build`) never touches the database; it calls a delegate
(`ci/build/delegate.py`). This one, as Concourse's `atc/engine` build delegate:

- stores each typed event (`ci/eventtypes.py`) as Concourse's JSON, with the
  pipeline's var values and `load_var` secrets redacted, the log capped, in batches
  (`buildlog.BuildLog`), and fans it out to watchers (`events.Hub`);
- redacts log output as a stream: a secret cut across two chunks is held until whole;
- saves the versions a `put` created, and the pipelines a `set_pipeline` step sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from headwater import yamlload
from headwater.ci import eventtypes as ev
from headwater.ci.build.errors import StepError
from headwater.ci.buildlog import BuildLog, BuildLogSettings
from headwater.ci.config.errors import PipelineInvalid
from headwater.ci.events import Hub
from headwater.ci.pipelines import set_pipeline
from headwater.ci.resources.base import Fetched
from headwater.ci.vars import Redactor, StreamRedactor
from headwater.store import Build, Store


class StoreDelegate:
    """The engine's delegate for a build of the server: store, redact, fan out."""

    def __init__(self, store: Store, hub: Hub, build: Build, secrets: list[str], *,
                 log: BuildLogSettings, yaml_limits: yamlload.Limits,
                 on_output: Callable[[], None]) -> None:
        self._store = store
        self._log = BuildLog(store, hub, build.id, log)
        self._build = build
        self._secrets = secrets
        self._redact = Redactor(secrets)
        self._stream = StreamRedactor(self._redact)
        self._yaml_limits = yaml_limits
        self._on_output = on_output  # a put saved a version: the scheduler may act

    async def event(self, event: ev.BuildEvent) -> None:
        # Stored as Concourse's JSON (`to_data`), redacted: the text is what is checked.
        type, payload = event.kind, event.to_data()
        origin = payload.get("origin") or {}
        if type == "log":
            # Output comes in chunks: a secret cut in two is held until it is whole.
            text = self._stream.feed((origin.get("id"), origin.get("source")),
                                     str(payload.get("payload", "")))
            if text:
                await self._store_event(type, payload, text=text)
            return
        # The step (or the build) goes on: what its output held back is shown first.
        step = origin.get("id")
        held = self._stream.flush(lambda k: step is None or k[0] == step)
        for (step_id, source), held_text in held.items():
            await self._store_event("log", {"origin": {"id": step_id, "source": source}},
                                    text=held_text)
        await self._store_event(type, payload)

    async def _store_event(self, type: str, payload: dict[str, Any], *,
                           text: str | None = None) -> None:
        """`text`: a log event's output, redacted already by the stream redactor."""
        payload = self._redact.redact_obj({**payload, "time": time.time()})
        if text is None:
            await self._log.add(type, payload)
        else:  # capped at the build's log size
            await self._log.log(payload.get("origin") or {}, text, payload)

    async def close(self) -> None:
        """The build is over: store the events still waiting in the batch."""
        await self._log.close()

    async def saved_output(self, resource: str, fetched: Fetched) -> None:
        if self._build.pipeline_id is None:
            return
        res = await self._store.resource(self._build.pipeline_id, resource)
        if res is None:
            return
        vid = await self._store.save_output_version(
            res.id, fetched.version, [{"name": m.name, "value": m.value}
                                      for m in fetched.metadata])
        await self._store.add_build_output(self._build.id, resource, res.id, vid)
        self._on_output()

    async def redact(self, values: list[str]) -> None:
        """`load_var` values (without `reveal`) are secrets from now on in this build."""
        self._secrets = [*self._secrets, *values]
        self._redact = Redactor(self._secrets)
        self._stream.redactor = self._redact

    async def set_pipeline(self, name: str, team: str | None, config_text: str,
                           vars: dict[str, Any], *, file: str) -> bool:
        try:
            result = await set_pipeline(self._store, team or self._build.team, name,
                                        config_text, vars, filename=file,
                                        limits=self._yaml_limits)
        except PipelineInvalid as e:
            raise StepError(f"set_pipeline {name}: {e}") from e
        return result.changed
