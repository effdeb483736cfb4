"""The `((var))` interpolation the engine does itself, at run time.

Pipeline vars are resolved when the pipeline is set; what is left for the engine is
what only exists while a build runs:

- `((.:name))` and `((.:name.field))`: build-local vars, set by `load_var`; replaced
  in get/put `source` and `params`, and in task configs and params;
- `((name))` in a task *file*, from the task step's `vars`.

The parsing and the replacing are ci/vars.py's (Concourse's rules: a string that is
one var becomes the var's value whatever its type; a var inside a longer string is
spliced as text). Vars of other sources (`((vault:x))`) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.ci.build.errors import StepError
from headwater.ci.vars import KEEP, NOT_FOUND, Reference, VarsError
from headwater.ci.vars import interpolate as _interpolate


def interpolate(value: Any, local_vars: Mapping[str, Any], *,
                vars: Mapping[str, Any] | None = None, what: str = "") -> Any:
    """`value` with local vars (and, when `vars` is given, plain vars) replaced.

    Raises `StepError` naming every var that is used but not defined."""

    def lookup(ref: Reference) -> Any:
        if ref.source == ".":
            table: Mapping[str, Any] = local_vars
        elif ref.source == "" and vars is not None:
            table = vars
        else:
            return KEEP
        if ref.path not in table:
            return NOT_FOUND
        return table[ref.path]  # the interpolator follows ref.fields

    where = f" in {what}" if what else ""
    try:
        done = _interpolate(value, lookup)
    except VarsError as e:
        raise StepError(f"{e}{where}") from e
    problems = [message for _, message in done.errors]
    if done.missing:
        problems.insert(0, f"undefined vars{where}: {', '.join(done.missing)} (local vars "
                           "((.:name)) come from a load_var step that ran earlier in the "
                           "build; task file vars from the task step's vars:)")
    if problems:
        raise StepError("; ".join(problems))
    return done.value
