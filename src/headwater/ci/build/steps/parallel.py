"""`in_parallel`: run steps at the same time, at most `limit` at once.

All steps run to their end and the outcome is a success only if all succeeded; an
error of any step makes it an error (reported already by that step). With
`fail_fast`, the first failure or error cancels the steps still running and those
not started yet: the cancelled ones see it as an abort (their `on_abort` hooks
run, as in Concourse), and the outcome is a failure (or the error). Aborting the
build cancels every step and waits for their hooks.
"""

from __future__ import annotations

import asyncio

from headwater.ci.build import scopes
from headwater.ci.build.errors import Errored
from headwater.ci.build.state import RunState
from headwater.ci.build.steps.step import Step


class InParallelStep:
    def __init__(self, steps: list[Step], *, limit: int | None, fail_fast: bool) -> None:
        self.steps = steps
        self.limit = limit if limit and limit > 0 else max(1, len(steps))
        self.fail_fast = fail_fast

    async def run(self, state: RunState) -> bool:
        slots = asyncio.Semaphore(self.limit)
        stopped = scopes.Flag()
        tasks: list[asyncio.Task[bool | None]] = []

        def stop_others() -> None:
            if self.fail_fast and not stopped.expired():
                stopped.set()
                for task in tasks:
                    if task is not asyncio.current_task():
                        task.cancel()

        async def one(step: Step) -> bool | None:
            async with slots:
                if stopped.expired():
                    return None  # not started: fail_fast stopped the build part
                try:
                    ok = await step.run(state)
                except Errored:
                    stop_others()
                    raise
                if not ok:
                    stop_others()
                return ok

        with scopes.entered(stopped, "abort"):
            tasks.extend(asyncio.create_task(one(step)) for step in self.steps)
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            try:
                await asyncio.wait(tasks)
            finally:
                for task in tasks:  # a second abort: stop the hooks too
                    task.cancel()
            raise
        return _outcome(tasks, stopped.expired())


def _outcome(tasks: list[asyncio.Task[bool | None]], stopped: bool) -> bool:
    finished = [t for t in tasks if not t.cancelled()]
    errors: list[Errored] = []
    for task in finished:
        error = task.exception()
        if isinstance(error, Errored):
            errors.append(error)
        elif error is not None:
            raise error  # a bug in a step wrapper: let the engine report it
    if errors:
        raise Errored(f"{len(errors)} of {len(tasks)} parallel steps errored: {errors[0]}")
    if stopped:
        return False
    return all(t.result() is not False for t in finished)
