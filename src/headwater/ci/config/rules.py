"""The rules that compare parts of a pipeline: Concourse's `atc/configvalidate` and step validator.

- names of resources, resource types, jobs, groups and var sources are unique, and
  follow Concourse's identifier rule (a WARNING, as Concourse: `Docker Build` warns);
- a pipeline has at least one job (an error since Concourse 7.0);
- every resource is used by some get or put (an error, as Concourse);
- when groups exist every job is in one, and groups name only known jobs/resources;
- get/put name known resources; a job's get names are unique; `passed` names jobs
  (exact names or globs) that get or put the same resource, and no chain of `passed`
  loops back on itself (no job of such a loop could ever run);
- load_var names are unique in their scope; build log retention is consistent;
  `serial`/`serial_groups` with `max_in_flight` warns (serial wins, as in Concourse);
- var sources have a known type, display's background image is an http(s) URL.

The data is the raw map `shape.py` checked, read defensively: a malformed part was
already reported and is skipped here, so one run still lists every error.
"""

from __future__ import annotations

import fnmatch
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlparse

from headwater.ci.config.diagnostics import quote
from headwater.ci.config.schema import Ctx, suggest
from headwater.ci.config.steps import HOOKS, StepAt, walk
from headwater.ci.vars import VAR_RE, Location

__all__ = ["check_rules", "identifier_problem", "job_steps", "matches"]

_VAR_SOURCE_TYPES: Final = ("vault", "credhub", "kubernetes", "ssm", "secretsmanager",
                            "conjur", "dummy", "idtoken")
_IN_PIPELINE: Final = ("vault", "dummy", "ssm", "secretsmanager", "idtoken")
_GLOB: Final = frozenset("*?[")


def identifier_problem(name: str) -> str | None:
    """Why `name` breaks Concourse's identifier rule, or None (`((vars))` are skipped)."""
    rest = VAR_RE.sub("", name)
    if not rest:
        return None
    if not name.startswith("((") and not _letter(rest[0]):
        return "must start with a lowercase letter"
    for char in rest[1:] if not name.startswith("((") else rest:
        if not (_letter(char) or char in "0123456789-_."):
            return f"illegal character {quote(char)}"
    return None


def _letter(char: str) -> bool:
    return unicodedata.category(char) in ("Ll", "Lt", "Lm", "Lo")


def matches(pattern: str, names: list[str]) -> list[str]:
    """The names a `passed` or group entry means: itself, or those its glob matches."""
    if _GLOB & set(pattern):
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return [pattern] if pattern in names else []


def _items(data: Mapping[str, Any], key: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    items = data.get(key)
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                yield i, item


def _name(item: Mapping[str, Any]) -> str | None:
    name = item.get("name")
    return name if isinstance(name, str) and name else None


def job_steps(job: Mapping[str, Any], path: Location) -> Iterator[StepAt]:
    """Every step of a job: its plan, then its own hooks (inner first, as Concourse)."""
    plan = job.get("plan")
    if isinstance(plan, list):
        for i, step in enumerate(plan):
            yield from walk(step, (*path, "plan", i))
    for hook in reversed(HOOKS):
        if hook in job:
            yield from walk(job[hook], (*path, hook))


@dataclass
class _Pipeline:
    """Names of what the pipeline declares, and what its jobs use."""

    resources: dict[str, Location] = field(default_factory=dict)
    jobs: dict[str, Location] = field(default_factory=dict)
    # job -> resources it gets or puts
    uses: dict[str, set[str]] = field(default_factory=dict)
    # job -> [(get step, upstream jobs)] from `passed`
    upstream: dict[str, list[tuple[StepAt, list[str]]]] = field(default_factory=dict)


def check_rules(data: Mapping[str, Any], ctx: Ctx) -> None:
    seen = _Pipeline()
    if not data.get("jobs"):
        ctx.out.error(("jobs",), "pipeline must contain at least one job (Concourse 7 "
                                 "refuses a pipeline without jobs)")
    for key, what in (("resources", "resource"), ("resource_types", "resource type"),
                      ("jobs", "job"), ("groups", "group"), ("var_sources", "var source")):
        names = _names(data, key, what, ctx)
        if key == "resources":
            seen.resources = names
        elif key == "jobs":
            seen.jobs = names
    for j, job in _items(data, "jobs"):
        _job(job, ("jobs", j), ctx)
        seen.uses[_name(job) or f"jobs[{j}]"] = {
            _resource_of(s) for s in job_steps(job, ("jobs", j)) if s.kind in ("get", "put")}
    for j, job in _items(data, "jobs"):
        _steps(job, ("jobs", j), seen, ctx)
    used = set().union(*seen.uses.values()) if seen.uses else set()
    for name, path in seen.resources.items():
        if name not in used:
            ctx.out.error(path, f"resource {quote(name)} is not used by any job (remove it, "
                                f"or get or put it in a job)")
    _cycles(seen, ctx)
    _groups(data, seen, ctx)
    _var_sources(data, ctx)
    _display(data, ctx)


def _names(data: Mapping[str, Any], key: str, what: str, ctx: Ctx) -> dict[str, Location]:
    names: dict[str, Location] = {}
    for i, item in _items(data, key):
        name = _name(item)
        if name is None:
            continue
        path: Location = (key, i)
        if name in names:
            first = ctx.out.line(names[name])
            ctx.out.error((*path, "name"), f"{what} name {quote(name)} is used twice (first "
                                            f"at line {first}): names must be unique")
            continue
        names[name] = path
        _identifier(name, (*path, "name"), ctx)
    return names


def _identifier(name: str, path: Location, ctx: Ctx) -> None:
    problem = identifier_problem(name)
    if problem:
        ctx.out.warning(path, f"{quote(name)} is not a valid identifier: {problem} (names "
                              f'are lowercase letters, digits, "-", "_" and ".")')


def _resource_of(step: StepAt) -> str:
    resource = step.step.get("resource")
    return resource if isinstance(resource, str) and resource else str(step.name)


def _job(job: Mapping[str, Any], path: Location, ctx: Ctx) -> None:
    retention = job.get("build_log_retention")
    if job.get("build_logs_to_retain"):
        ctx.out.warning((*path, "build_logs_to_retain"), "build_logs_to_retain is deprecated: "
                                                          "use build_log_retention")
    if isinstance(retention, Mapping):
        if job.get("build_logs_to_retain"):
            ctx.out.error((*path, "build_logs_to_retain"), "use build_log_retention or "
                                                            "build_logs_to_retain, not both")
        builds, minimum = retention.get("builds"), retention.get("minimum_succeeded_builds")
        if isinstance(builds, int) and isinstance(minimum, int) and 0 < builds < minimum:
            ctx.out.error((*path, "build_log_retention", "minimum_succeeded_builds"),
                          f"keeps {minimum} succeeded builds of at most {builds} builds: "
                          f"it must be {builds} or less")
    if job.get("max_in_flight") is not None:
        for key in ("serial", "serial_groups"):
            if job.get(key):
                ctx.out.warning((*path, "max_in_flight"), f"max_in_flight is ignored: "
                                                           f"{key} runs one build at a time")
                break
    if job.get("plan") is None:
        ctx.out.warning(path, "the job has no plan: its builds do nothing")


def _steps(job: Mapping[str, Any], path: Location, seen: _Pipeline, ctx: Ctx) -> None:
    gets: dict[str, Location] = {}
    local_vars: dict[tuple[Location, ...], dict[str, Location]] = {}
    job_name = _name(job) or f"jobs[{path[-1]}]"
    for step in job_steps(job, path):
        name = step.name
        if not isinstance(name, str):
            continue
        if step.kind in ("get", "put", "task", "set_pipeline", "load_var"):
            _identifier(name, (*step.path, step.kind), ctx)
        if step.kind in ("get", "put"):
            _resource(step, seen, ctx)
        if step.kind == "get":
            if name in gets:
                ctx.out.error((*step.path, "get"), f"get name {quote(name)} is used twice in "
                                                    f"this job (first at line "
                                                    f"{ctx.out.line(gets[name] + ('get',))}): "
                                                    f"name one of them differently and set "
                                                    f"`resource:`")
            gets.setdefault(name, step.path)
            _passed(step, job_name, seen, ctx)
        if step.kind == "load_var":
            _load_var(step, local_vars, ctx)


def _resource(step: StepAt, seen: _Pipeline, ctx: Ctx) -> None:
    resource = _resource_of(step)
    if resource in seen.resources or "((" in resource:
        return
    where = "resource" if isinstance(step.step.get("resource"), str) else step.kind
    ctx.out.error((*step.path, where),
                  f"unknown resource {quote(resource)}{suggest(resource, seen.resources)}")


def _passed(step: StepAt, job_name: str, seen: _Pipeline, ctx: Ctx) -> None:
    passed = step.step.get("passed")
    if not isinstance(passed, list):
        return
    resource = _resource_of(step)
    upstream: list[str] = []
    for k, pattern in enumerate(passed):
        if not isinstance(pattern, str) or "((" in pattern:
            continue
        where = (*step.path, "passed", k)
        found = matches(pattern, list(seen.jobs))
        if not found:
            ctx.out.error(where, f"unknown job {quote(pattern)}{suggest(pattern, seen.jobs)}")
        for other in found:
            if resource in seen.resources and resource not in seen.uses.get(other, set()):
                ctx.out.error(where, f"job {quote(other)} does not get or put resource "
                                     f"{quote(resource)}: no version of it can pass that job")
        upstream.extend(found)
    seen.upstream.setdefault(job_name, []).append((step, upstream))


def _load_var(step: StepAt, scopes: dict[tuple[Location, ...], dict[str, Location]],
              ctx: Ctx) -> None:
    name = str(step.name)
    here = scopes.setdefault(step.scope, {})
    if name in here:
        ctx.out.error((*step.path, "load_var"), f"local var {quote(name)} is already set "
                                                 f"by a load_var at line "
                                                 f"{ctx.out.line(here[name])}")
        return
    for depth in range(len(step.scope)):
        if name in scopes.get(step.scope[:depth], {}):
            ctx.out.warning((*step.path, "load_var"), f"shadows local var {quote(name)}")
            break
    here[name] = (*step.path, "load_var")


def _cycles(seen: _Pipeline, ctx: Ctx) -> None:
    """Report each loop of `passed` once, at its first get in file order."""
    graph = {job: {u for _, ups in entries for u in ups}
             for job, entries in seen.upstream.items()}
    reported: set[frozenset[str]] = set()
    for job, entries in seen.upstream.items():
        for step, ups in entries:
            for up in ups:
                loop = _path(graph, up, job)
                if loop is None:
                    continue
                members = frozenset(loop)
                if members in reported:
                    continue
                reported.add(members)
                shown = " -> ".join(quote(j) for j in [job, *loop])
                ctx.out.error((*step.path, "passed"),
                              f"passed constraints loop back: {shown}; no job in the loop "
                              f"can ever get a version")


def _path(graph: Mapping[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A path of upstream edges from `start` to `goal` (both included), or None."""
    stack: list[list[str]] = [[start]]
    visited: set[str] = set()
    while stack:
        route = stack.pop()
        node = route[-1]
        if node == goal:
            return route
        if node in visited:
            continue
        visited.add(node)
        stack.extend([*route, nxt] for nxt in sorted(graph.get(node, ()), reverse=True))
    return None


def _groups(data: Mapping[str, Any], seen: _Pipeline, ctx: Ctx) -> None:
    groups = list(_items(data, "groups"))
    grouped: set[str] = set()
    for g, group in groups:
        for key, known in (("jobs", seen.jobs), ("resources", seen.resources)):
            entries = group.get(key)
            if not isinstance(entries, list):
                continue
            for k, entry in enumerate(entries):
                if not isinstance(entry, str):
                    continue
                found = matches(entry, list(known))
                if not found:
                    ctx.out.error(("groups", g, key, k),
                                  f"unknown {key[:-1]} {quote(entry)}{suggest(entry, known)}")
                if key == "jobs":
                    grouped.update(found)
    if isinstance(data.get("groups"), list) and data["groups"]:
        for name, path in seen.jobs.items():
            if name not in grouped:
                ctx.out.error(path, f"job {quote(name)} belongs to no group: when groups are "
                                    f"declared, every job must be in one")


def _var_sources(data: Mapping[str, Any], ctx: Ctx) -> None:
    for i, source in _items(data, "var_sources"):
        kind = source.get("type")
        path: Location = ("var_sources", i, "type")
        if not isinstance(kind, str) or not kind:
            continue
        if kind not in _VAR_SOURCE_TYPES:
            ctx.out.error(path, f"unknown var source type {quote(kind)}"
                                f"{suggest(kind, _VAR_SOURCE_TYPES)}")
        elif kind not in _IN_PIPELINE:
            ctx.out.error(path, f"var source type {quote(kind)} cannot be used in a pipeline "
                                f"(Concourse allows vault, dummy, ssm, secretsmanager and idtoken)")
        elif kind != "dummy":
            name = _name(source) or "NAME"
            ctx.out.warning(path, f"headwater cannot read {kind} var sources: give their vars "
                                  f"when setting the pipeline (-v {name}:VAR=VALUE)")
        else:
            config = source.get("config")
            values = config.get("vars") if isinstance(config, Mapping) else None
            if config is not None and not isinstance(values, Mapping):
                ctx.out.error(("var_sources", i, "config"),
                              "a dummy var source takes config: {vars: {NAME: VALUE, ...}}")


def _display(data: Mapping[str, Any], ctx: Ctx) -> None:
    display = data.get("display")
    image = display.get("background_image") if isinstance(display, Mapping) else None
    if isinstance(image, str) and urlparse(image).scheme not in ("", "http", "https"):
        ctx.out.error(("display", "background_image"),
                      "background_image must be an http or https URL, or a relative path")
