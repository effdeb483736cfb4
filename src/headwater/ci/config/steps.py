"""Steps: which kind a step is, its shape, and a walk over every step of a job.

A step is one map holding one core key (`get`, `put`, `task`, ...) and any modifiers.
As Concourse's `atc/steps.go` (`StepPrecedence`), the keys are read in a fixed order,
outermost first: the hooks `ensure`, `on_error`, `on_abort`, `on_failure`,
`on_success`, then `across`, `attempts`, `timeout`, and last the core step, the first
of `task put get set_pipeline load_var try do in_parallel aggregate` present. So
`attempts: 3` + `timeout: 1m` retries a step that times out after a minute, and a hook
sees the outcome of all the retries. Another core key in the same map is an error.

`StepSpec` checks a step's own shape (keys, types, `file`/`config` of a task, the
inline task config); cross-references (resources, jobs, names) are `rules.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from headwater.ci.config.diagnostics import quote
from headwater.ci.config.schema import (
    AnyMap,
    AnyValue,
    Bool,
    Choice,
    Ctx,
    Duration,
    Int,
    ListOf,
    Obj,
    Spec,
    Str,
    StrList,
    StrMap,
    VersionPin,
    is_placeholder,
    kind_of,
    suggest,
)
from headwater.ci.vars import Location

__all__ = ["CORE", "HOOKS", "STEP", "STEPS", "StepAt", "StepSpec", "step_kind", "walk"]

HOOKS: Final = ("ensure", "on_error", "on_abort", "on_failure", "on_success")
CORE: Final = ("task", "put", "get", "set_pipeline", "load_var", "try", "do", "in_parallel",
               "aggregate")
_SHOWN: Final = "get, put, task, set_pipeline, load_var, in_parallel, do or try"


def step_kind(step: Mapping[str, Any]) -> str | None:
    """The core key of a step map (the first in Concourse's order), or None."""
    return next((k for k in CORE if k in step), None)


class _Version(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if isinstance(value, str):
            if value not in ("latest", "every"):
                ctx.out.error(path, f'must be "latest", "every" or a version map such as '
                                    f'{{ref: abc123}}, found {quote(value)}')
            return
        VersionPin().check(value, path, ctx)


class _Inputs(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if isinstance(value, str):
            Choice(("all", "detect")).check(value, path, ctx)
        else:
            StrList().check(value, path, ctx)


class _MaxInFlight(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if value != "all":
            Int(1, ' (or "all")').check(value, path, ctx)


class _AcrossValues(Spec):
    """A list, or one ((var)) that gives a list when the step runs (`((.:list))` of a
    load_var), as Concourse allows."""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not is_placeholder(value):
            ListOf(AnyValue(), 'a list (or one ((var)) holding a list)').check(value, path, ctx)


class StepSpec(Spec):
    """One step: its kind, its keys, the types of its values, recursively."""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, Mapping):
            ctx.out.error(path, f"a step must be a map such as {{get: NAME}}, "
                                f"found {kind_of(value)}")
            return
        kind = step_kind(value)
        if kind is None:
            self._no_kind(value, path, ctx)
            return
        fields: dict[str, Spec] = {**_CORE_FIELDS[kind], **_MODIFIERS}
        if "across" in value:
            fields["fail_fast"] = Bool()
        what = f"a {kind} step"
        for key in value:
            if key not in fields and key in CORE:
                ctx.out.error((*path, key), f"a step has one type: {quote(key)} cannot be "
                                             f"in {what} (give it its own list item)")
                fields[key] = _Ignored()
        obj = Obj(what, fields, _REQUIRED.get(kind, ()))
        obj.check_keys(value, path, ctx, fields)
        obj.check_required(value, path, ctx)
        _KIND_CHECKS.get(kind, _no_check)(value, path, ctx)

    def _no_kind(self, value: Mapping[str, Any], path: Location, ctx: Ctx) -> None:
        known = set(CORE) | set(_MODIFIERS)
        for key in value:
            if key not in known and suggest(key, CORE):
                ctx.out.error((*path, key), f"unknown key {quote(key)}: a step needs one of "
                                             f"{_SHOWN}{suggest(key, CORE)}")
                return
        if any(k in _MODIFIERS for k in value):
            ctx.out.error(path, f"no step here, only modifiers: a step needs one of {_SHOWN}")
        else:
            keys = ", ".join(quote(k) for k in value) or "none"
            ctx.out.error(path, f"not a step: a step needs one of {_SHOWN} (found keys: {keys})")


class _Ignored(Spec):
    """A second core key: already reported by `StepSpec.check`."""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        return


class _InParallel(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if isinstance(value, list):
            STEPS.check(value, path, ctx)
            return
        if not isinstance(value, Mapping):
            ctx.out.error(path, f"in_parallel takes a list of steps or a map of steps, limit "
                                f"and fail_fast, found {kind_of(value)}")
            return
        Obj("in_parallel", {"steps": STEPS, "limit": Int(0, " (0 or left out: no limit)"),
                            "fail_fast": Bool()}).check(value, path, ctx)


def _no_check(step: Mapping[str, Any], path: Location, ctx: Ctx) -> None:
    return


def _check_task(step: Mapping[str, Any], path: Location, ctx: Ctx) -> None:
    has_file, config = step.get("file") is not None, step.get("config")
    if not has_file and config is None:
        ctx.out.error((*path, "task"), "a task step needs `file:` (a task config in an "
                                       "artifact) or `config:` (inline), and has neither")
    elif has_file and config is not None:
        ctx.out.error((*path, "task"), "a task step takes `file:` or `config:`, not both")
    if isinstance(config, Mapping) and step.get("image") is not None and (
            config.get("image_resource") is not None or config.get("rootfs_uri") is not None):
        ctx.out.warning((*path, "image"), "the step's `image:` takes precedence over the "
                                           "image of its config")
    if step.get("hermetic"):
        ctx.out.warning((*path, "hermetic"), "hermetic has no effect: headwater runs a task "
                                              "offline unless its step says network: true")


def _check_set_pipeline(step: Mapping[str, Any], path: Location, ctx: Ctx) -> None:
    if step.get("instance_vars") is not None:
        ctx.out.warning((*path, "instance_vars"), "instance_vars are not supported yet "
                                                   "(headwater has no instanced pipelines): "
                                                   "they are ignored")


def _check_aggregate(step: Mapping[str, Any], path: Location, ctx: Ctx) -> None:
    ctx.out.warning((*path, "aggregate"), "aggregate is deprecated: use in_parallel "
                                           "(headwater runs it as in_parallel)")


class _TaskConfig(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        _TASK_CONFIG.check(value, path, ctx)


_KIND_CHECKS: Final = {"task": _check_task, "set_pipeline": _check_set_pipeline,
                       "aggregate": _check_aggregate}

STEP: Final = StepSpec()
STEPS: Final = ListOf(STEP, "a list of steps")

_NAMED = ListOf(Obj("an input", {"name": Str(), "path": Str(), "optional": Bool()}, ("name",)))
_TASK_CONFIG: Final = Obj("a task config", {
    "platform": Str(),
    "rootfs_uri": Str(),
    "image_resource": Obj("an image_resource", {"type": Str(), "source": AnyMap(),
                                                "params": AnyMap(), "version": VersionPin()},
                          ("type",)),
    "container_limits": Obj("container_limits", {"cpu": Int(0), "memory": Int(0)}),
    "params": AnyMap(),
    "run": Obj("run", {"path": Str(), "args": StrList(), "dir": Str(), "user": Str()},
               ("path",)),
    "inputs": _NAMED,
    "outputs": ListOf(Obj("an output", {"name": Str(), "path": Str()}, ("name",))),
    "caches": ListOf(Obj("a cache", {"path": Str()}, ("path",))),
}, ("platform", "run"))

_MODIFIERS: Final[dict[str, Spec]] = {
    **{hook: STEP for hook in HOOKS},
    "attempts": Int(1),
    "timeout": Duration(),
    "across": ListOf(Obj("an across var", {"var": Str(), "values": _AcrossValues(),
                                           "max_in_flight": _MaxInFlight()}, ("var",))),
}

_CORE_FIELDS: Final[dict[str, dict[str, Spec]]] = {
    "get": {"get": Str(), "resource": Str(), "version": _Version(), "params": AnyMap(),
            "passed": StrList(), "trigger": Bool(), "tags": StrList()},
    "put": {"put": Str(), "resource": Str(), "params": AnyMap(), "inputs": _Inputs(),
            "tags": StrList(), "get_params": AnyMap(), "no_get": Bool()},
    "task": {"task": Str(), "privileged": Bool(), "file": Str(), "config": _TaskConfig(),
             "params": AnyMap(), "vars": AnyMap(), "tags": StrList(),
             "input_mapping": StrMap(), "output_mapping": StrMap(), "image": Str(),
             "container_limits": Obj("container_limits", {"cpu": Int(0), "memory": Int(0)}),
             "hermetic": Bool(), "network": Bool()},  # network: headwater's, see plan.Task
    "set_pipeline": {"set_pipeline": Str(), "file": Str(), "team": Str(), "vars": AnyMap(),
                     "var_files": StrList(), "instance_vars": AnyMap()},
    "load_var": {"load_var": Str(), "file": Str(),
                 "format": Choice(("json", "yaml", "yml", "trim", "raw")), "reveal": Bool()},
    "try": {"try": STEP},
    "do": {"do": STEPS},
    "in_parallel": {"in_parallel": _InParallel()},
    "aggregate": {"aggregate": STEPS},
}
_REQUIRED: Final = {"get": ("get",), "put": ("put",), "task": ("task",), "try": ("try",),
                    "set_pipeline": ("set_pipeline", "file"), "load_var": ("load_var", "file")}


# -- the walk -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepAt:
    """A well-formed step found by `walk`: where it is, its kind, its raw map."""

    path: Location
    kind: str
    step: Mapping[str, Any]
    scope: tuple[Location, ...]  # the enclosing across steps: local var scopes

    @property
    def name(self) -> Any:
        return self.step.get(self.kind)


def walk(step: Any, path: Location, scope: tuple[Location, ...] = ()) -> Iterator[StepAt]:
    """Every step inside `step` (itself first), in Concourse's visiting order.

    The core step comes before its hooks; a hook's steps come in the order
    on_success, on_failure, on_abort, on_error, ensure (inner hooks first).
    Malformed pieces are skipped: `StepSpec` reports them.
    """
    if not isinstance(step, Mapping):
        return
    kind = step_kind(step)
    if kind is None:
        return
    outer = scope  # hooks wrap `across`: they are outside its scope
    if "across" in step:
        scope = (*scope, path)
    yield StepAt(path, kind, step, scope)
    inner = step.get(kind)
    if kind in ("do", "aggregate"):
        yield from _walk_list(inner, (*path, kind), scope)
    elif kind == "in_parallel":
        if isinstance(inner, list):
            yield from _walk_list(inner, (*path, kind), scope)
        elif isinstance(inner, Mapping):
            yield from _walk_list(inner.get("steps"), (*path, kind, "steps"), scope)
    elif kind == "try":
        yield from walk(inner, (*path, kind), scope)
    for hook in reversed(HOOKS):
        if hook in step:
            yield from walk(step[hook], (*path, hook), outer)


def _walk_list(steps: Any, path: Location, scope: tuple[Location, ...]) -> Iterator[StepAt]:
    if isinstance(steps, list):
        for i, sub in enumerate(steps):
            yield from walk(sub, (*path, i), scope)
