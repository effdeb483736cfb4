"""Where a diagnostic is, named as Concourse names it: `jobs.build.plan.do[1].task(compile)`.

Concourse's validation (`atc/configvalidate`, `atc/step_validator.go`) names a place by
what is there, not by list index: an item of `resources`, `resource_types`, `jobs`,
`groups` or `var_sources` by its name (`resources.repo`; by index, `jobs[3]`, when it
has no name or shares it with another); a job's plan as the `do` step Concourse makes
of it (`jobs.build.plan.do[0]`); a step by its kind and name (`.get(repo)`,
`.task(compile)`, `.in_parallel.steps[1]`, `.try`, `.do[2]`). As in Concourse, hooks
and the modifiers `attempts`, `timeout` and `across` hang off the step's place, not off
its core step (`jobs.build.plan.do[1].on_failure.put(slack)`,
`jobs.build.plan.do[1].timeout`), and a job's own hooks off its plan
(`jobs.build.plan.on_success.task(notify)`). What Concourse does not name (a step's
`params`, a key of a task config, a `passed` entry) follows with `.key` and `[index]`.

`concourse_path(path, data)` turns a data path of the raw pipeline (`("jobs", 0,
"plan", 1, "task")`) into that name; the line of the place is the Collector's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from headwater.ci.config.diagnostics import format_path
from headwater.ci.config.steps import HOOKS, step_kind
from headwater.ci.vars import Location

__all__ = ["concourse_path"]

NAMED: Final = ("resources", "resource_types", "jobs", "groups", "var_sources")
_NAMED_STEPS: Final = ("get", "put", "task", "set_pipeline", "load_var")
_MODIFIERS: Final = ("attempts", "timeout", "across")


def concourse_path(path: Location, data: Any) -> str:
    """The Concourse-style name of `path` in the raw pipeline `data` ("" for the root)."""
    if len(path) >= 2 and path[0] in NAMED and isinstance(path[1], int):
        items = data.get(path[0]) if isinstance(data, Mapping) else None
        item = _at(items, path[1])
        head = f"{path[0]}{_item_name(items, path[1])}"
        if path[0] == "jobs":
            return head + _job(item, path[2:])
        return head + _tail(path[2:])
    return format_path(path)


def _at(items: Any, index: str | int) -> Any:
    if isinstance(items, list) and isinstance(index, int) and 0 <= index < len(items):
        return items[index]
    if isinstance(items, Mapping) and isinstance(index, str):
        return items.get(index)
    return None


def _item_name(items: Any, index: int) -> str:
    """`.name` when the item has a name of its own among its siblings, else `[index]`."""
    item = _at(items, index)
    name = item.get("name") if isinstance(item, Mapping) else None
    if not isinstance(name, str) or not name or not name.isprintable():
        return f"[{index}]"
    same = sum(1 for other in items if isinstance(other, Mapping) and other.get("name") == name)
    return f".{name}" if same == 1 else f"[{index}]"


def _tail(rest: Location) -> str:
    """`.key` and `[index]` for what Concourse does not name."""
    if not rest:
        return ""
    text = format_path(rest)
    return text if text.startswith("[") else f".{text}"


def _job(job: Any, rest: Location) -> str:
    if not rest:
        return ""
    key = rest[0]
    if key == "plan":
        if len(rest) >= 2 and isinstance(rest[1], int):
            return f".plan.do[{rest[1]}]" + _step(_at(_at(job, "plan"), rest[1]), rest[2:])
        return _tail(rest)
    if key in HOOKS:
        return f".plan.{key}" + _step(_at(job, key), rest[1:])
    return _tail(rest)


def _step(step: Any, rest: Location) -> str:
    """The name of `rest` inside `step`, whose own place is already named."""
    kind = step_kind(step) if isinstance(step, Mapping) else None
    if kind is None or not rest:
        return _tail(rest)
    key = rest[0]
    if key in HOOKS:
        return f".{key}" + _step(_at(step, key), rest[1:])
    if key in _MODIFIERS:
        return _tail(rest)
    if kind in _NAMED_STEPS:
        name = step.get(kind)
        shown = name if isinstance(name, str) and name.isprintable() else ""
        return f".{kind}({shown})" + _tail(rest[1:] if key == kind else rest)
    inner = step.get(kind)
    if key != kind:
        return _tail(rest)
    sub = rest[1:]
    if kind == "try":
        return ".try" + _step(inner, sub)
    if kind == "in_parallel":
        if isinstance(inner, Mapping) and sub[:1] == ("steps",):
            inner, sub = inner.get("steps"), sub[1:]
        elif not isinstance(inner, list):
            return ".in_parallel" + _tail(sub)
        if sub and isinstance(sub[0], int):
            return f".in_parallel.steps[{sub[0]}]" + _step(_at(inner, sub[0]), sub[1:])
        return ".in_parallel" + _tail(sub)
    # do, aggregate: a list of steps
    if sub and isinstance(sub[0], int):
        return f".{kind}[{sub[0]}]" + _step(_at(inner, sub[0]), sub[1:])
    return f".{kind}" + _tail(sub)
