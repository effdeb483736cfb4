"""The `((var))` interpolation the engine does itself, at run time.

Pipeline vars are resolved when the pipeline is set (ci/vars.py); what is left for
the engine is what only exists while a build runs:

- `((.:name))` and `((.:name.field))`: build-local vars, set by `load_var`; replaced
  in get/put `source` and `params`, and in task configs and params;
- `((name))` in a task *file*, from the task step's `vars`.

A string that is nothing but one var becomes the var's value, whatever its type; a
var inside a longer string is replaced by its text (JSON for non-strings). Vars of
other sources (`((vault:x))`) are left alone. This is deliberately minimal and will
share ci/vars.py's parser once both exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from headwater.ci.build.errors import StepError

_VAR = re.compile(r"\(\(\s*([^()\s]+)\s*\)\)")
_LOCAL = ".:"


def interpolate(value: Any, local_vars: Mapping[str, Any], *,
                vars: Mapping[str, Any] | None = None, what: str = "") -> Any:
    """`value` with local vars (and, when `vars` is given, plain vars) replaced.

    Raises `StepError` naming every var that is used but not defined."""
    missing: list[str] = []
    result = _walk(value, local_vars, vars, missing)
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        where = f" in {what}" if what else ""
        raise StepError(f"undefined vars{where}: {names} (local vars ((.:name)) come from a "
                        "load_var step that ran earlier in the build; task file vars from "
                        "the task step's vars:)")
    return result


def _walk(value: Any, local_vars: Mapping[str, Any], vars: Mapping[str, Any] | None,
          missing: list[str]) -> Any:
    if isinstance(value, str):
        return _string(value, local_vars, vars, missing)
    if isinstance(value, Mapping):
        return {_walk(k, local_vars, vars, missing): _walk(v, local_vars, vars, missing)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, local_vars, vars, missing) for v in value]
    return value


def _string(text: str, local_vars: Mapping[str, Any], vars: Mapping[str, Any] | None,
            missing: list[str]) -> Any:
    whole = _VAR.fullmatch(text)
    if whole:
        found, value = _lookup(whole.group(1), local_vars, vars, missing)
        return value if found else text

    def replace(m: re.Match[str]) -> str:
        found, value = _lookup(m.group(1), local_vars, vars, missing)
        if not found:
            return m.group(0)
        return value if isinstance(value, str) else json.dumps(value)

    return _VAR.sub(replace, text)


def _lookup(ref: str, local_vars: Mapping[str, Any], vars: Mapping[str, Any] | None,
            missing: list[str]) -> tuple[bool, Any]:
    if ref.startswith(_LOCAL):
        table, path = local_vars, ref[len(_LOCAL):]
    elif ":" not in ref and vars is not None:
        table, path = vars, ref
    else:
        return False, None
    name, *fields = path.split(".")
    if name not in table:
        missing.append(ref)
        return False, None
    value = table[name]
    for field in fields:
        if not isinstance(value, Mapping) or field not in value:
            missing.append(ref)
            return False, None
        value = value[field]
    return True, value
