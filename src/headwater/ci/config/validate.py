"""Validate a pipeline file, and parse it into a `PipelineConfig`: one straight line of steps.

    {{vars}} (text) -> YAML with lines -> ((vars)) (data) -> shape -> rules -> model

`validate(text, filename=...)` is `fly validate-pipeline`: a `((var))` without a value
is left in place and accepted wherever it stands, since it will be replaced at set
time. A `{{var}}` (the old syntax, replaced in the text before YAML) must have a
value at both moments: without one it is an error, `unbound variable in template:
'name'`, as old fly's set-pipeline said. Given vars, it interpolates what it can and
validates the result.

`load_pipeline(text, vars=..., filename=...)` is set time: every var must have a value
(`undefined vars: a, b` lists all that do not), then the same checks run on the
interpolated data, and the model is built. It answers the config, the warnings, and the
strings that came from vars (to redact from logs); errors raise `PipelineInvalid`
carrying the whole `Report`. `((.:local))` vars are left for the build to fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headwater import yamlload
from headwater.ci.config.diagnostics import Collector, Diagnostic, Report, quote
from headwater.ci.config.errors import PipelineInvalid
from headwater.ci.config.model import PipelineConfig
from headwater.ci.config.paths import concourse_path
from headwater.ci.config.positions import YamlSyntaxError, load
from headwater.ci.config.rules import check_rules
from headwater.ci.config.schema import Ctx
from headwater.ci.config.shape import check_shape
from headwater.ci.config.steps import CORE, HOOKS, step_kind
from headwater.ci.vars import (
    NOT_FOUND,
    Location,
    Lookup,
    OldStyleTooLarge,
    Reference,
    Vars,
    VarsError,
    interpolate,
    resolve_old_style,
    unbound_message,
)

__all__ = ["LoadedPipeline", "load_pipeline", "parse_pipeline", "validate"]


@dataclass(frozen=True)
class LoadedPipeline:
    config: PipelineConfig
    warnings: tuple[Diagnostic, ...]
    redact: frozenset[str]  # every string that came from a var


@dataclass
class _Run:
    report: Report
    data: Any = None
    secrets: frozenset[str] = frozenset()


def validate(text: str, *, filename: str, vars: Mapping[str, Any] | None = None,
             limits: yamlload.Limits = yamlload.DEFAULT) -> Report:
    """Every error and warning of a pipeline file, as `fly validate-pipeline`."""
    del filename  # diagnostics carry lines; the caller prefixes the file name
    return _run(text, vars=None if vars is None else Vars.of(vars), strict=False,
                limits=limits).report


def load_pipeline(text: str, *, vars: Mapping[str, Any] | None = None,
                  filename: str = "pipeline.yml",
                  limits: yamlload.Limits = yamlload.DEFAULT) -> LoadedPipeline:
    """Set time: interpolate every var, validate, build the model; or raise `PipelineInvalid`."""
    run = _run(text, vars=Vars.of(vars), strict=True, limits=limits)
    if run.report.errors:
        raise PipelineInvalid(run.report, filename=filename)
    config = PipelineConfig.model_validate(_normalized(run.data))
    return LoadedPipeline(config, run.report.warnings, run.secrets)


def parse_pipeline(text: str, *, vars: Mapping[str, Any] | None = None,
                   filename: str = "pipeline.yml",
                   limits: yamlload.Limits = yamlload.DEFAULT) -> PipelineConfig:
    """`load_pipeline(...).config`."""
    return load_pipeline(text, vars=vars, filename=filename, limits=limits).config


def _run(text: str, *, vars: Vars | None, strict: bool, limits: yamlload.Limits) -> _Run:
    out = Collector()
    try:
        old = resolve_old_style(text, vars.values if vars is not None else {},
                                max_chars=limits.max_bytes)
    except OldStyleTooLarge as e:
        out.errors.append(Diagnostic(e.line, "", str(e)))
        return _Run(out.report())
    for name, line in old.missing:
        out.errors.append(Diagnostic(line, "", unbound_message(name)))
    try:
        loaded = load(old.text, limits=limits)
    except YamlSyntaxError as e:
        out.errors.append(Diagnostic(e.line, "", e.message))
        return _Run(out.report())
    out.lines = loaded.lines
    raw = loaded.data  # names in paths as written: a var's value (a secret?) never shows
    out.name = lambda path: concourse_path(path, raw)
    for dup in loaded.duplicates:
        out.error(dup.path, f"duplicate key {quote(dup.path[-1])} (first at line "
                            f"{dup.first_line}): YAML keeps only the last one")
    data = {} if loaded.data is None else loaded.data
    secrets = old.secrets
    missing: dict[str, int] = {}
    if vars is not None and isinstance(data, dict):
        data, more = _interpolate(data, vars, out, strict=strict, missing=missing)
        secrets |= more
        # A var's value stands wherever it is used, shared: the checks and the model
        # below would walk each use. Like aliases, the uses are counted first.
        if (where := _past(data, limits.max_nodes)) is not None:
            out.error(where, f"with its ((vars)) in place, the pipeline is more than "
                             f"{limits.max_nodes:,} nodes: refused (--yaml-max-nodes raises "
                             f"the limit)")
            return _Run(out.report())
    if missing:
        out.errors.append(Diagnostic(min(missing.values()), "",
                                     f"undefined vars: {', '.join(sorted(missing))}"))
    # Set time checks types after interpolation, except where an undefined var (already
    # an error) stands: `attempts: ((n))` is not also "not a number".
    ctx = Ctx(out, placeholders=not strict or bool(missing), anchored=loaded.anchored)
    if check_shape(data, ctx):
        check_rules(data, ctx)
    return _Run(out.report(), data, secrets)


def _interpolate(data: dict[str, Any], vars: Vars, out: Collector, *, strict: bool,
                 missing: dict[str, int]) -> tuple[dict[str, Any], frozenset[str]]:
    # Declared var sources: a `dummy` one holds its values (which may use unnamed vars),
    # any other type must be given with -v NAME:VAR=VALUE, its vars are undefined until.
    sources: dict[str, dict[str, Any]] = {}
    declared = data.get("var_sources")
    for i, source in enumerate(declared if isinstance(declared, list) else []):
        if not isinstance(source, dict) or not isinstance(source.get("name"), str):
            continue
        values: Any = {}
        if source.get("type") == "dummy":
            config = interpolate(source.get("config"), vars.lookup,
                                 where=("var_sources", i, "config")).value
            values = config.get("vars") if isinstance(config, dict) else {}
        sources[source["name"]] = values if isinstance(values, dict) else {}
    lookup = vars.with_sources(sources).lookup
    done = interpolate(data, lookup if strict else _lenient(lookup))
    for where, message in done.errors:
        out.error(where, message)
    if strict:
        for name, where in done.missing.items():
            missing.setdefault(name, out.line(where) or 1)
    return done.value, done.secrets


def _lenient(lookup: Lookup) -> Lookup:
    """Validation needs no vars: an unknown var source is as good as an unknown var."""

    def answer(ref: Reference) -> Any:
        try:
            return lookup(ref)
        except VarsError:
            return NOT_FOUND

    return answer


def _past(data: Any, limit: int) -> Location | None:
    """Where a walk of `data` (shared values walked at each use) passes `limit` nodes, or
    None; it stops there, so it costs at most `limit` steps."""
    count = 0
    # (parent entry, key, node): a node's path is only spelt out for the one reported.
    stack: list[tuple[Any, str | int, Any]] = [(None, "", data)]
    while stack:
        entry = stack.pop()
        count += 1
        if count > limit:
            path: list[str | int] = []
            while entry[0] is not None:
                path.append(entry[1])
                entry = entry[0]
            return tuple(reversed(path))
        node = entry[2]
        if isinstance(node, dict):
            stack += [(entry, k, v) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(entry, i, v) for i, v in reversed(list(enumerate(node)))]
    return None


# -- the model's input ----------------------------------------------------------------------


def _normalized(data: dict[str, Any]) -> dict[str, Any]:
    """Checked data as the model reads it: no nulls, `aggregate` as `in_parallel`, a limit
    of 0 as none (as Concourse), no
    top-level key the model does not hold (unknown ones, `user_data`)."""
    out = _drop_nulls({k: v for k, v in data.items() if k in PipelineConfig.model_fields})
    for job in out.get("jobs", []):
        if job.get("max_in_flight") == 0:  # Concourse's `MaxInFlight`: 0 is no limit
            del job["max_in_flight"]
        job["plan"] = [_step(s) for s in job.get("plan", [])]
        for hook in HOOKS:
            if hook in job:
                job[hook] = _step(job[hook])
    return out


def _drop_nulls(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, list):
            out[key] = [_drop_nulls(i) if isinstance(i, dict) else i for i in item]
        else:
            out[key] = item
    return out


def _step(step: dict[str, Any]) -> dict[str, Any]:
    step = {k: v for k, v in step.items() if v is not None}
    kind = step_kind(step)
    if kind == "aggregate":
        step["in_parallel"] = {"steps": step.pop("aggregate")}
        kind = "in_parallel"
    if kind == "in_parallel" and isinstance(step["in_parallel"], list):
        step["in_parallel"] = {"steps": step["in_parallel"]}
    if kind == "in_parallel":
        parallel = {k: v for k, v in step["in_parallel"].items()
                    if v is not None and not (k == "limit" and v == 0)}  # 0: no limit
        parallel["steps"] = [_step(s) for s in parallel.get("steps") or []]
        step["in_parallel"] = parallel
    elif kind in ("do",):
        step["do"] = [_step(s) for s in step["do"]]
    elif kind == "try":
        step["try"] = _step(step["try"])
    for hook in HOOKS:
        if hook in step:
            step[hook] = _step(step[hook])
    assert kind in CORE
    return step
