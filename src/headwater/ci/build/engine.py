"""Run one build: turn its plan into a tree of steps and run it to a final status.

    status = await run_build(plan, ctx=ctx, delegate=delegate)

`run_build` emits `status: started`, runs the step tree and emits the final status,
which it also answers:

- succeeded / failed: the steps' outcome (True / False);
- errored: a step errored (its `error` event says why: a user's mistake, a resource
  that broke, a timeout, or a headwater bug);
- aborted: the task running `run_build` was cancelled (that is how the server
  aborts a build). The steps' `on_abort` and `ensure` hooks still run, the
  processes of running tasks are stopped, then `run_build` *returns* `BuildStatus.ABORTED`
  instead of raising: await the cancelled task to wait for the hooks.

The build's scratch space (`workdir/.scratch`) is removed at the end; its artifacts
(`workdir/<name>`) stay for the caller to inspect or delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable
from typing import Any

from headwater import log as hwlog
from headwater.buildstatus import BuildStatus
from headwater.ci.build import scopes
from headwater.ci.build.context import BuildContext
from headwater.ci.build.delegate import BuildDelegate
from headwater.ci.build.errors import Errored
from headwater.ci.build.state import RunState
from headwater.ci.build.steps.across import AcrossStep
from headwater.ci.build.steps.flow import DoStep, RetryStep, TimeoutStep, TryStep
from headwater.ci.build.steps.get import GetStep
from headwater.ci.build.steps.hooks import (
    EnsureStep,
    OnAbortStep,
    OnErrorStep,
    OnFailureStep,
    OnSuccessStep,
)
from headwater.ci.build.steps.load_var import LoadVarStep
from headwater.ci.build.steps.parallel import InParallelStep
from headwater.ci.build.steps.put import PutStep
from headwater.ci.build.steps.set_pipeline import SetPipelineStep
from headwater.ci.build.steps.step import Reported, Step
from headwater.ci.build.steps.task import TaskStep
from headwater.ci.eventtypes import Status as StatusEvent
from headwater.ci.plan import (
    Across,
    Do,
    Ensure,
    Get,
    InParallel,
    LoadVar,
    OnAbort,
    OnError,
    OnFailure,
    OnSuccess,
    Plan,
    Put,
    Retry,
    SetPipeline,
    Task,
    Timeout,
    Try,
)

__all__ = ["BuildContext", "Status", "build_step", "run_build"]

_log = hwlog.get("build")

Status = BuildStatus  # the final one: never pending nor started


async def run_build(plan: Plan, *, ctx: BuildContext, delegate: BuildDelegate) -> Status:
    """Run `plan` to its end; answer (and emit) the build's final status."""
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    state = RunState(ctx, delegate)
    status: Status
    try:
        await delegate.event(StatusEvent(status=BuildStatus.STARTED))
        ok = await build_step(plan).run(state)
        status = BuildStatus.SUCCEEDED if ok else BuildStatus.FAILED
    except Errored:
        status = BuildStatus.ERRORED
    except asyncio.CancelledError:
        status = BuildStatus.ABORTED
    except Exception as e:  # outside any step: a bug in the engine or the delegate
        _log.exception("the engine broke", build=ctx.build_id)
        status = BuildStatus.ERRORED
        with contextlib.suppress(Exception):
            await scopes.shielded(state.error(plan.id, f"headwater internal error: "
                                                       f"{type(e).__name__}: {e}"))
    await scopes.shielded(_finish(state, status))
    return status


async def _finish(state: RunState, status: Status) -> None:
    await asyncio.to_thread(shutil.rmtree, state.scratch_root, ignore_errors=True)
    await state.delegate.event(StatusEvent(status=status))


_LEAVES: dict[type[Any], Callable[[Any], Step]] = {
    Get: GetStep, Put: PutStep, Task: TaskStep, LoadVar: LoadVarStep,
    SetPipeline: SetPipelineStep,
}
_HOOKS: dict[type[Any], Callable[[Step, Step], Step]] = {
    OnSuccess: OnSuccessStep, OnFailure: OnFailureStep, OnError: OnErrorStep,
    OnAbort: OnAbortStep, Ensure: EnsureStep,
}


def build_step(plan: Plan) -> Step:
    """The step tree for a plan (Concourse's step factory)."""
    if type(plan) in _LEAVES:
        return Reported(plan.id, _LEAVES[type(plan)](plan))
    if isinstance(plan, OnSuccess | OnFailure | OnError | OnAbort | Ensure):
        return _HOOKS[type(plan)](build_step(plan.step), build_step(plan.hook))
    match plan:
        case Do():
            return DoStep([build_step(s) for s in plan.steps])
        case InParallel():
            return InParallelStep([build_step(s) for s in plan.steps], limit=plan.limit,
                                  fail_fast=plan.fail_fast)
        case Try():
            return TryStep(build_step(plan.step))
        case Timeout():
            return TimeoutStep(plan.step.id, plan.seconds, build_step(plan.step))
        case Retry():
            return RetryStep(build_step(plan.step), plan.attempts)
        case Across():
            return Reported(plan.id, AcrossStep(plan, build_step))
    raise TypeError(f"no step for plan node {type(plan).__name__}")
