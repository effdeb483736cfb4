"""The pipeline's shape: its top-level keys, resources, resource types, jobs, groups.

The key lists are Concourse's (`atc/config.go`, `atc/job_config.go`): a key Concourse
would refuse is refused here too, with its line. At the top level Concourse drops an
unknown key instead (so that it can hold YAML anchors): here it warns. `check_shape`
only looks at one value at a time; the rules that compare values with each other are
in `rules.py`.
"""

from __future__ import annotations

from typing import Any, Final

from headwater.ci.config.diagnostics import quote
from headwater.ci.config.schema import (
    AnyMap,
    AnyValue,
    Bool,
    Ctx,
    Duration,
    Int,
    ListOf,
    Obj,
    Str,
    StrList,
    VersionPin,
    kind_of,
    suggest,
)
from headwater.ci.config.steps import HOOKS, STEP, STEPS

__all__ = ["TOP_LEVEL", "check_shape"]


RESOURCE: Final = Obj("a resource", {
    "name": Str(), "type": Str(), "source": AnyMap(), "old_name": Str(), "public": Bool(),
    "webhook_token": Str(), "check_every": Duration(never=True), "check_timeout": Duration(),
    "tags": StrList(), "version": VersionPin(), "icon": Str(),
    "expose_build_created_by": Bool(),
}, ("name", "type"))

RESOURCE_TYPE: Final = Obj("a resource type", {
    "name": Str(), "type": Str(), "source": AnyMap(), "defaults": AnyMap(),
    "privileged": Bool(), "check_every": Duration(never=True), "tags": StrList(),
    "params": AnyMap(), "unique_version_history": Bool(),
}, ("name", "type"))

JOB: Final = Obj("a job", {
    "name": Str(), "old_name": Str(), "public": Bool(), "disable_manual_trigger": Bool(),
    "serial": Bool(), "interruptible": Bool(), "serial_groups": StrList(),
    "max_in_flight": Int(0, " (0 or left out: no limit)"),
    "build_logs_to_retain": Int(0),
    "build_log_retention": Obj("build_log_retention", {
        "builds": Int(0), "days": Int(0), "minimum_succeeded_builds": Int(0)}),
    "plan": STEPS,
    **{hook: STEP for hook in HOOKS},
}, ("name",))

GROUP: Final = Obj("a group", {"name": Str(), "jobs": StrList(), "resources": StrList()},
                   ("name",))

VAR_SOURCE: Final = Obj("a var source", {"name": Str(), "type": Str(), "config": AnyMap()},
                        ("name", "type"))

DISPLAY: Final = Obj("display", {"background_image": Str(), "background_filter": Str()})

TOP_LEVEL: Final = Obj("the pipeline", {
    "resources": ListOf(RESOURCE, "a list of resources"),
    "resource_types": ListOf(RESOURCE_TYPE, "a list of resource types"),
    "jobs": ListOf(JOB, "a list of jobs"),
    "groups": ListOf(GROUP, "a list of groups"),
    "var_sources": ListOf(VAR_SOURCE, "a list of var sources"),
    "display": DISPLAY,
    "user_data": AnyValue(),  # free-form, for the user's own tools (Concourse ignores it too)
})


def check_shape(data: Any, ctx: Ctx) -> bool:
    """Check the whole pipeline's shape; False when it is not even a map."""
    if not isinstance(data, dict):
        ctx.out.error((), f"a pipeline must be a map of resources, resource_types, jobs, "
                          f"groups, var_sources and display, found {kind_of(data)}")
        return False
    # As fly and Concourse, an unknown top-level key is dropped with a warning (it may
    # hold YAML anchors); `validate-pipeline --strict` fails on it, as fly's does.
    for key in data:
        if key in TOP_LEVEL.fields:
            continue
        if any(where[:1] == (key,) for where in ctx.anchored):
            why = ": it holds YAML anchors used elsewhere"
        else:
            why = suggest(key, TOP_LEVEL.fields)
        ctx.out.warning((key,), f"unknown key {quote(key)} in the pipeline is ignored{why}")
    TOP_LEVEL.check({k: v for k, v in data.items() if k in TOP_LEVEL.fields}, (), ctx)
    return True
