"""Control flow that is not a hook: do, try, timeout, attempts.

- `do`: the steps in order, stopping at the first that fails.
- `try`: a failure or an error of the step counts as success; an abort does not.
- `timeout`: the step is cancelled when its time is up; that is an error, reported
  as an `error` event "timeout exceeded" with the wrapped step's id.
- `attempts` (Retry): run the step again after a failure or an error, at most N
  times in all; the last attempt's outcome is the step's.
"""

from __future__ import annotations

import asyncio
import contextlib

from headwater.ci.build import scopes
from headwater.ci.build.errors import Errored
from headwater.ci.build.state import RunState
from headwater.ci.build.steps.step import Step

TIMEOUT_MESSAGE = "timeout exceeded"


class DoStep:
    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    async def run(self, state: RunState) -> bool:
        for step in self.steps:
            if not await step.run(state):
                return False
        return True


class TryStep:
    def __init__(self, step: Step) -> None:
        self.step = step

    async def run(self, state: RunState) -> bool:
        with contextlib.suppress(Errored):
            await self.step.run(state)
        return True


class TimeoutStep:
    def __init__(self, step_id: str, seconds: float, step: Step) -> None:
        self.step_id = step_id  # the wrapped step's: the timeout is reported as its error
        self.seconds = seconds
        self.step = step

    async def run(self, state: RunState) -> bool:
        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                with scopes.entered(deadline, "timeout"):
                    return await self.step.run(state)
        except TimeoutError:
            if not deadline.expired():
                raise
        await state.error(self.step_id, TIMEOUT_MESSAGE)
        raise Errored(TIMEOUT_MESSAGE)


class RetryStep:
    def __init__(self, step: Step, attempts: int) -> None:
        self.step = step
        self.attempts = max(1, attempts)

    async def run(self, state: RunState) -> bool:
        error: Errored | None = None
        for _ in range(self.attempts):
            try:
                if await self.step.run(state):
                    return True
                error = None
            except Errored as e:
                error = e
        if error is not None:
            raise error
        return False
