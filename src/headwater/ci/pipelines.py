"""Setting a pipeline: interpolate its vars, validate it, save what the engine needs.

The server receives the YAML as the user wrote it and the vars given with
`-v/-y/-l`. `load_pipeline` interpolates and validates (every error with its line;
missing vars are errors naming them) and reports the strings that came from vars;
those are stored with the pipeline so every build log of it is redacted. The text
is stored as set, placeholders included, so reading a pipeline back never shows a
var's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headwater.ci.config import load_pipeline
from headwater.ci.config.diagnostics import Diagnostic
from headwater.store import JobSpec, ResourceSpec, Store


@dataclass(frozen=True)
class SetResult:
    created: bool
    changed: bool
    version: int
    warnings: tuple[Diagnostic, ...]


async def set_pipeline(store: Store, team: str, name: str, text: str, vars: dict[str, Any],
                       *, filename: str) -> SetResult:
    """Validate and save; raises `PipelineInvalid` with every error otherwise."""
    loaded = load_pipeline(text, vars=vars, filename=filename)
    config = loaded.config
    before = await store.get_pipeline(team, name)
    data = config.to_data()
    resources = [
        ResourceSpec(name=r.name, type=r.type, source=r.source,
                     check_every=r.check_every_seconds, webhook_token=r.webhook_token,
                     pinned_version=r.version, config=r.model_dump(mode="json",
                                                                    exclude_none=True))
        for r in config.resources]
    jobs = [JobSpec(name=j.name, config=j.model_dump(mode="json", exclude_none=True))
            for j in config.jobs]
    saved = await store.save_pipeline(team, name, config=data, config_text=text,
                                      redact=sorted(loaded.redact), resources=resources,
                                      jobs=jobs)
    changed = before is None or before.config != data or before.config_text != text
    return SetResult(created=saved.created, changed=changed, version=saved.version,
                     warnings=loaded.warnings)
