"""`get`: fetch a version of a resource into an artifact named after the step.

Events: initialize-get, start-get, then finish-get with the version and metadata
that `in` answered. Without a version in the plan (one-off builds), the type's
`check` is asked for the latest one first; both within the server's default get
timeout (deadline.py). Source and params may use build-local
vars (`((.:name))`); `in` gets the build's metadata as environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.ci import eventtypes as ev
from headwater.ci.build.confine import Beneath
from headwater.ci.build.errors import StepError
from headwater.ci.build.state import RunState
from headwater.ci.build.steps.deadline import default_timeout
from headwater.ci.build.steps.step import naming, version_fields
from headwater.ci.plan import Get
from headwater.ci.resources.base import Fetched, Log, ResourceType, Version


class GetStep:
    def __init__(self, plan: Get) -> None:
        self.plan = plan

    async def run(self, state: RunState) -> bool:
        p = self.plan
        await state.event(ev.InitializeGet(origin=ev.Origin(p.id)))
        rtype = state.ctx.types.resolve(p.type, p.resource_types)
        source = state.interpolate(p.source, f"the source of resource {p.resource!r}")
        params = state.interpolate(p.params, f"the params of get {p.name!r}")
        with naming(p.resource):
            fetched, dest = await self._fetch(state, rtype, source, params)
        await state.register(p.name, Beneath(dest), what=f"get {p.name!r}: the directory "
                                                          "its resource fetched into")
        await state.event(ev.FinishGet(origin=ev.Origin(p.id), exit_status=0,
                                        **version_fields(fetched)))
        return True

    async def _fetch(self, state: RunState, rtype: ResourceType, source: dict[str, Any],
                     params: dict[str, Any]) -> tuple[Fetched, Path]:
        p = self.plan
        log = stderr_log(state, p.id)
        version: Version | None = p.version
        async with default_timeout(state.ctx.get_timeout, f"get of resource {p.resource!r}",
                                   "--default-get-timeout"):
            if version is None:
                versions = await rtype.check(source, None, log=log)
                if not versions:
                    raise StepError(f"resource {p.resource!r} has no version to get: its "
                                    "check found none yet")
                version = versions[-1]
            await state.event(ev.StartGet(origin=ev.Origin(p.id)))
            dest = state.scratch("get", p.id)
            fetched = await rtype.get(source, version, params, dest, log=log,
                                      env=state.ctx.env())
        return fetched, dest


def stderr_log(state: RunState, step_id: str) -> Log:
    async def log(text: str) -> None:
        await state.log(step_id, text, "stderr")
    return log
