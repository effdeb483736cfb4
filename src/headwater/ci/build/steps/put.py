"""`put`: push to a resource from the build's artifacts, then get what was pushed.

Events: initialize-put, start-put, finish-put with the version `out` created, which
the delegate also stores (`saved_output`). The inputs `out` sees (copies, under one
directory, each at its artifact name) are every artifact (`inputs: all`), those
the params mention (`detect`: a string param whose first path segment names an
artifact, as Concourse), or a list. Unless `no_get`, an implicit `get` of the new
version follows with `get_params`, under the put's name, as Concourse's planner
does; its events carry the id `<put id>/get`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from headwater.ci import eventtypes as ev
from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath
from headwater.ci.build.errors import StepError
from headwater.ci.build.state import RunState
from headwater.ci.build.steps.deadline import default_timeout
from headwater.ci.build.steps.get import GetStep, stderr_log
from headwater.ci.build.steps.step import Reported, naming, version_fields
from headwater.ci.plan import Get, Put


class PutStep:
    def __init__(self, plan: Put) -> None:
        self.plan = plan

    async def run(self, state: RunState) -> bool:
        p = self.plan
        await state.event(ev.InitializePut(origin=ev.Origin(p.id)))
        rtype = state.ctx.types.resolve(p.type, p.resource_types)
        source = state.interpolate(p.source, f"the source of resource {p.resource!r}")
        params = state.interpolate(p.params, f"the params of put {p.name!r}")
        workdir = state.scratch("put", p.id)
        for name in choose_inputs(p.inputs, params, state.artifacts):
            await state.copy_artifact(name, Beneath(workdir, name),
                                      what=f"put {p.name!r}: input {name!r}")
        await state.event(ev.StartPut(origin=ev.Origin(p.id)))
        async with default_timeout(state.ctx.put_timeout, f"put to resource {p.resource!r}",
                                   "--default-put-timeout"):
            with naming(p.resource):
                fetched = await rtype.put(source, params, workdir,
                                          log=stderr_log(state, p.id), env=state.ctx.env())
        await state.delegate.saved_output(p.resource, fetched)
        await state.event(ev.FinishPut(origin=ev.Origin(p.id), exit_status=0,
                                        **version_fields(fetched)))
        await asyncio.to_thread(confine.remove_tree, Beneath(workdir))
        if p.no_get:
            return True
        get = Get(id=f"{p.id}/get", name=p.name, resource=p.resource, type=p.type,
                  source=p.source, params=p.get_params, version=fetched.version, tags=p.tags,
                  resource_types=p.resource_types)
        return await Reported(get.id, GetStep(get)).run(state)


def choose_inputs(inputs: str | list[str], params: Mapping[str, Any],
                  artifacts: Mapping[str, object]) -> list[str]:
    """The artifacts a put's `out` sees."""
    if inputs == "all":
        return sorted(artifacts)
    if inputs == "detect":
        return detect_inputs(params, artifacts)
    missing = [name for name in inputs if name not in artifacts]
    if missing:
        raise StepError(f"put inputs not found in this build: {', '.join(missing)} "
                        f"(artifacts: {', '.join(sorted(artifacts)) or 'none'})")
    return list(inputs)


def detect_inputs(params: Any, artifacts: Mapping[str, object]) -> list[str]:
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, str):
            name = value.split("/", 1)[0]
            if name in artifacts:
                found[name] = None
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(params)
    return list(found)
