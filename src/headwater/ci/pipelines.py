"""Setting a pipeline: interpolate its vars, validate it, save what the engine needs.

The server receives the YAML as the user wrote it and the vars given with
`-v/-y/-l`. `load_pipeline` interpolates and validates (every error with its line;
missing vars are errors naming them) and reports the strings that came from vars;
those are stored with the pipeline so every build log of it is redacted. The text
is stored as set, placeholders included, so reading a pipeline back never shows a
var's value.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from headwater import yamlload
from headwater.ci.config import LoadedPipeline, load_pipeline
from headwater.ci.config.diagnostics import Diagnostic
from headwater.store import JobSpec, ResourceSpec, Store


@dataclass(frozen=True)
class SetResult:
    created: bool
    changed: bool
    version: int
    warnings: tuple[Diagnostic, ...]


@dataclass(frozen=True)
class _Prepared:
    loaded: LoadedPipeline
    data: dict[str, Any]
    resources: list[ResourceSpec]
    jobs: list[JobSpec]


async def set_pipeline(store: Store, team: str, name: str, text: str, vars: dict[str, Any],
                       *, filename: str,
                       limits: yamlload.Limits = yamlload.DEFAULT) -> SetResult:
    """Validate and save; raises `PipelineInvalid` with every error otherwise.

    Parsing and validating run in a thread: a big pipeline never holds the event loop,
    and `limits` bound its YAML (an alias bomb is a `PipelineInvalid` at its line)."""
    ready = await asyncio.to_thread(_prepare, text, vars, filename, limits)
    before = await store.get_pipeline(team, name)
    saved = await store.save_pipeline(team, name, config=ready.data, config_text=text,
                                      redact=sorted(ready.loaded.redact),
                                      resources=ready.resources, jobs=ready.jobs)
    changed = before is None or before.config != ready.data or before.config_text != text
    return SetResult(created=saved.created, changed=changed, version=saved.version,
                     warnings=ready.loaded.warnings)


def _prepare(text: str, vars: dict[str, Any], filename: str,
             limits: yamlload.Limits) -> _Prepared:
    loaded = load_pipeline(text, vars=vars, filename=filename, limits=limits)
    config = loaded.config
    resources = [
        ResourceSpec(name=r.name, type=r.type, source=r.source,
                     check_every=r.check_every_seconds, webhook_token=r.webhook_token,
                     pinned_version=r.version, config=r.model_dump(mode="json",
                                                                    exclude_none=True))
        for r in config.resources]
    jobs = [JobSpec(name=j.name, config=j.model_dump(mode="json", exclude_none=True))
            for j in config.jobs]
    return _Prepared(loaded, config.to_data(), resources, jobs)
