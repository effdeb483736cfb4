"""`across`: one step, run once per combination of the values of its vars.

As Concourse's `AcrossStep`: the combinations are the cartesian product of the vars'
values, the first var varying slowest. Each combination runs a copy of the step
whose `((.:var))` references to the across vars are replaced by that combination's
values (names and files too: `set_pipeline: ((.:name))` works), with its own plan ids
(`<id>/<n>`, so build events tell the copies apart), in a scope of its own: the
values are local vars there (task files can use them), and artifacts it produces do
not leave it. Each var's `max_in_flight` (default 1, `all`) bounds how many of its
values run at once, nested per var as Concourse does; `fail_fast` stops the rest
after the first failure. The outcome is that of `in_parallel` over the combinations.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from headwater.ci.build.errors import StepError
from headwater.ci.build.state import RunState
from headwater.ci.build.steps.parallel import InParallelStep
from headwater.ci.build.steps.step import Step
from headwater.ci.plan import PLAN, Across, Plan
from headwater.ci.vars import KEEP, Reference
from headwater.ci.vars import interpolate as interpolate_vars


class AcrossStep:
    def __init__(self, plan: Across, build: Callable[[Plan], Step]) -> None:
        self.plan = plan
        self._build = build

    async def run(self, state: RunState) -> bool:
        names = [v.var for v in self.plan.vars]
        values = []
        for var in self.plan.vars:
            found = state.interpolate(var.values, f"the values of across var {var.var!r}")
            if not isinstance(found, list):
                raise StepError(f"the values of across var {var.var!r} must be a list; "
                                f"{var.values!r} gave {type(found).__name__} {found!r}")
            values.append(found)
        combinations = list(itertools.product(*values))
        template = self.plan.step.model_dump(mode="json")
        leaves: list[Step] = [
            _Scoped(self._build(_substep(template, dict(zip(names, combo, strict=True)), n)),
                    dict(zip(names, combo, strict=True)))
            for n, combo in enumerate(combinations)]
        return await self._nest(0, leaves, [len(v) for v in values]).run(state)

    def _nest(self, index: int, leaves: list[Step], counts: list[int]) -> Step:
        """The runner of var `index`: its values in parallel (up to its max_in_flight),
        each running the combinations under it."""
        var = self.plan.vars[index]
        if index == len(counts) - 1:
            children = leaves
        else:
            per_value = len(leaves) // counts[index] if counts[index] else 0
            children = [self._nest(index + 1, leaves[i * per_value:(i + 1) * per_value], counts)
                        for i in range(counts[index])]
        return InParallelStep(children, limit=var.max_in_flight or len(children) or 1,
                              fail_fast=self.plan.fail_fast)


class _Scoped:
    """One combination: its step, run in a scope holding the combination's values."""

    def __init__(self, step: Step, values: dict[str, Any]) -> None:
        self.step = step
        self.values = values

    async def run(self, state: RunState) -> bool:
        return await self.step.run(state.scope(self.values))


def _substep(template: Any, values: dict[str, Any], n: int) -> Plan:
    def lookup(ref: Reference) -> Any:
        if ref.source == "." and ref.path in values:
            return values[ref.path]
        return KEEP  # other vars: interpolated when the step runs, as before

    done = interpolate_vars(template, lookup)
    if done.errors:
        raise StepError("; ".join(message for _, message in done.errors))
    return _renumber(PLAN.validate_python(done.value), n)


def _renumber(plan: Plan, n: int) -> Plan:
    """The plan with every node's id suffixed `/n` (the nodes, not the user's data)."""
    update: dict[str, Any] = {"id": f"{plan.id}/{n}"}
    for name in ("step", "hook"):
        child = getattr(plan, name, None)
        if child is not None:
            update[name] = _renumber(child, n)
    steps = getattr(plan, "steps", None)
    if steps is not None:
        update["steps"] = [_renumber(s, n) for s in steps]
    return plan.model_copy(update=update)
