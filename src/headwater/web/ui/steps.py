"""A build's step tree as the build page shows it: the plan's nodes, named, with the
state, timings and versions its progress events gave them.

Only names leave the plan: kinds, step names, resource names, a timeout's duration.
Never params, sources or task configs, which hold the values of vars. The events are
the progress ones (no log output): `initialize-*`, `start-*`, `finish-*`, `error`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from headwater.ci import eventtypes as ev
from headwater.ci.plan import (
    PLAN,
    Across,
    Do,
    Get,
    InParallel,
    LoadVar,
    Plan,
    Put,
    Retry,
    SetPipeline,
    Task,
    Timeout,
    Try,
)
from headwater.store import Event

_WRAPPERS = ("on_success", "on_failure", "on_error", "on_abort", "ensure")


@dataclass
class StepView:
    id: str
    label: str  # "get: repo", "task: unit", "in_parallel", "timeout 5m0s"
    leaf: bool  # a step that runs (and logs), not a wrapper
    children: list[StepView] = field(default_factory=list)
    state: str = "pending"  # pending | started | succeeded | failed | errored
    started: float | None = None
    finished: float | None = None
    version: dict[str, str] | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return max(0.0, self.finished - self.started)


def _label(node: Plan) -> str:
    if isinstance(node, Get):
        return f"get: {node.name}"
    if isinstance(node, Put):
        return f"put: {node.name}"
    if isinstance(node, Task):
        return f"task: {node.name}"
    if isinstance(node, SetPipeline):
        return f"set_pipeline: {node.name}"
    if isinstance(node, LoadVar):
        return f"load_var: {node.name}"
    if isinstance(node, Timeout):
        return f"timeout {node.seconds:g}s"
    if isinstance(node, Retry):
        return f"attempts: {node.attempts}"
    if isinstance(node, Across):
        return "across " + ", ".join(v.var for v in node.vars)
    return node.kind


def tree(node: Plan) -> StepView:
    """The view of a plan node and everything under it."""
    leaf = isinstance(node, Get | Put | Task | SetPipeline | LoadVar)
    view = StepView(id=node.id, label=_label(node), leaf=leaf)
    if isinstance(node, Do | InParallel):
        view.children = [tree(s) for s in node.steps]
    elif isinstance(node, Try | Timeout | Retry | Across):
        view.children = [tree(node.step)]
    elif node.kind in _WRAPPERS:
        step: Plan = getattr(node, "step")  # noqa: B009 (the hooks' shared fields)
        hook: Plan = getattr(node, "hook")  # noqa: B009
        hook_view = tree(hook)
        hook_view.label = f"{node.kind}: {hook_view.label}"
        view.children = [tree(step), hook_view]
    return view


def flatten(view: StepView) -> list[StepView]:
    return [view, *(v for c in view.children for v in flatten(c))]


def apply(root: StepView, events: Iterable[Event]) -> None:
    """Set each leaf's state, timings and version from the build's progress events."""
    by_id = {v.id: v for v in flatten(root)}
    for e in events:
        event = ev.parse(e.type, e.payload)
        origin: ev.Origin | None = getattr(event, "origin", None)
        step = by_id.get(origin.id) if origin is not None else None
        if step is None:
            continue
        at = event.time
        if isinstance(event, ev.StartTask | ev.StartGet | ev.StartPut | ev.Start):
            step.state, step.started = "started", at
        elif isinstance(event, ev.InitializeTask | ev.InitializeGet | ev.InitializePut
                        | ev.Initialize):
            step.started = step.started or at
        elif isinstance(event, ev.FinishGet | ev.FinishPut):
            step.state = "succeeded" if event.exit_status == 0 else "failed"
            step.finished, step.version = at, dict(event.version) or None
        elif isinstance(event, ev.FinishTask | ev.Finish):
            step.state = "succeeded" if event.exit_status == 0 else "failed"
            step.finished = at
        elif isinstance(event, ev.Error):
            step.state, step.finished = "errored", at


def step_tree(plan_json: str | None, events: Iterable[Event]) -> StepView | None:
    if not plan_json:
        return None
    root = tree(PLAN.validate_json(plan_json))
    apply(root, events)
    return root


def to_json(view: StepView) -> dict[str, Any]:
    return {"id": view.id, "label": view.label, "state": view.state}
