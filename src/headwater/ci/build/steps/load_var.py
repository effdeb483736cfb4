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
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from headwater import yamlload
from headwater.ci.build.errors import StepError
from headwater.ci.build.state import RunState
from headwater.ci.plan import LoadVar

_FORMATS = ("json", "yaml", "yml", "trim", "raw")


class LoadVarStep:
    def __init__(self, plan: LoadVar) -> None:
        self.plan = plan

    async def run(self, state: RunState) -> bool:
        p = self.plan
        await state.event("initialize", p.id)
        await state.event("start", p.id)
        path = state.artifact_file(p.file, "load_var file")
        limits = state.ctx.yaml_limits
        fmt = file_format(p.file, p.format)
        value = await asyncio.to_thread(_read_var, path, fmt, p.file, limits)
        state.local_vars[p.name] = value
        if not p.reveal:
            await state.add_secrets(secret_strings(value))
        await state.log(p.id, f"var {p.name} fetched.\nadded var {p.name} to build.\n")
        await state.event("finish", p.id, exit_status=0, succeeded=True)
        return True


def file_format(file: str, given: str | None) -> str:
    if given:
        return given
    ext = PurePosixPath(file).suffix.removeprefix(".")
    return ext if ext in _FORMATS else "trim"


def _read_var(path: Path, fmt: str, file: str, limits: yamlload.Limits) -> Any:
    """The file's value (off the event loop), read no further than `limits.max_bytes`."""
    try:
        text = yamlload.read_text(path, limits=limits, filename=file)
    except yamlload.YamlLimitError as e:
        raise StepError(f"load_var: {e}") from None
    except UnicodeDecodeError:
        raise StepError(f"load_var: {file} is not UTF-8 text") from None
    return parse_var(text, fmt, file, limits=limits)


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


def secret_strings(value: Any) -> list[str]:
    """The values a secret var would reveal when printed: its strings and numbers."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in secret_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in secret_strings(item)]
    return [str(value)]
