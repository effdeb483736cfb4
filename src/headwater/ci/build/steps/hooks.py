"""Hooks, with Concourse's rules (atc/exec/on_*.go, ensure_step.go).

- `on_success`: runs after the step succeeded; its result is the outcome.
- `on_failure`: runs after the step failed; the outcome stays a failure.
- `on_error`: runs after the step errored, a timeout included; the error stands.
- `on_abort`: runs when the build is aborted during the step; the abort stands.
- `ensure`: runs whatever happened; the outcome is a success only if both the step
  and the hook succeeded.

A hook that runs because of a cancellation (abort, timeout) runs shielded, to its
end (scopes.shielded); aborting the build again stops it.
"""

from __future__ import annotations

import asyncio
import contextlib

from headwater.ci.build import scopes
from headwater.ci.build.errors import Errored
from headwater.ci.build.state import RunState
from headwater.ci.build.steps.step import Step


class _Hooked:
    def __init__(self, step: Step, hook: Step) -> None:
        self.step = step
        self.hook = hook


class OnSuccessStep(_Hooked):
    async def run(self, state: RunState) -> bool:
        if not await self.step.run(state):
            return False
        return await self.hook.run(state)


class OnFailureStep(_Hooked):
    async def run(self, state: RunState) -> bool:
        ok = await self.step.run(state)
        if not ok:
            await self.hook.run(state)
        return ok


class OnErrorStep(_Hooked):
    async def run(self, state: RunState) -> bool:
        try:
            return await self.step.run(state)
        except Errored:
            await scopes.shielded(self.hook.run(state))
            raise
        except asyncio.CancelledError:
            if scopes.cause() == "timeout":
                with contextlib.suppress(Errored):
                    await scopes.shielded(self.hook.run(state))
            raise


class OnAbortStep(_Hooked):
    async def run(self, state: RunState) -> bool:
        try:
            return await self.step.run(state)
        except asyncio.CancelledError:
            if scopes.cause() == "abort":
                with contextlib.suppress(Errored):
                    await scopes.shielded(self.hook.run(state))
            raise


class EnsureStep(_Hooked):
    async def run(self, state: RunState) -> bool:
        try:
            ok = await self.step.run(state)
        except asyncio.CancelledError:
            with contextlib.suppress(Errored):
                await scopes.shielded(self.hook.run(state))
            raise
        except Errored:
            await self.hook.run(state)
            raise
        hook_ok = await self.hook.run(state)
        return ok and hook_ok
