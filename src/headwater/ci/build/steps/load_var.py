"""`load_var`: read a file from an artifact into a build-local var, `((.:name))`.

The format is `json`, `yaml`/`yml`, `trim` (the text, stripped) or `raw` (the text
as is); without one it follows the file's extension, and `trim` otherwise, as
Concourse. Unless `reveal: true`, every string (and number) in the value is a
secret from then on: the engine redacts it from log and error events and tells the
delegate (`redact`). Events: initialize, start, finish.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import PurePosixPath
from typing import Any

import yaml

from headwater import yamlload
from headwater.ci import eventtypes as ev
from headwater.ci.build.errors import StepError
from headwater.ci.build.state import RunState
from headwater.ci.plan import LoadVar
from headwater.ci.vars import secret_texts

_FORMATS = ("json", "yaml", "yml", "trim", "raw")


class LoadVarStep:
    def __init__(self, plan: LoadVar) -> None:
        self.plan = plan

    async def run(self, state: RunState) -> bool:
        p = self.plan
        await state.event(ev.Initialize(origin=ev.Origin(p.id)))
        await state.event(ev.Start(origin=ev.Origin(p.id)))
        limits = state.ctx.yaml_limits
        text = await state.read_artifact_text(p.file, "load_var file")
        value = await asyncio.to_thread(parse_var, text, file_format(p.file, p.format),
                                        p.file, limits=limits)
        state.local_vars[p.name] = value
        if not p.reveal:
            await state.add_secrets(secret_texts(value))
        await state.log(p.id, f"var {p.name} fetched.\nadded var {p.name} to build.\n")
        await state.event(ev.Finish(origin=ev.Origin(p.id), exit_status=0, succeeded=True))
        return True


def file_format(file: str, given: str | None) -> str:
    if given:
        return given
    ext = PurePosixPath(file).suffix.removeprefix(".")
    return ext if ext in _FORMATS else "trim"


def parse_var(text: str, fmt: str, file: str, *,
              limits: yamlload.Limits = yamlload.DEFAULT) -> Any:
    try:
        if fmt == "json":
            return json.loads(text)
        if fmt in ("yaml", "yml"):
            return yamlload.load(text, filename=file, limits=limits)
    except yamlload.YamlLimitError as e:
        raise StepError(f"load_var: {e}") from None
    except (ValueError, RecursionError, yaml.YAMLError) as e:
        raise StepError(f"load_var: failed to parse {file} as {fmt}: {e}") from None
    if fmt == "trim":
        return text.strip()
    if fmt == "raw":
        return text
    raise StepError(f"load_var: unknown format {fmt!r}: use json, yaml, yml, trim or raw")

