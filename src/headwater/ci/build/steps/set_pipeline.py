"""`set_pipeline`: configure a pipeline from a file in an artifact.

The file and `var_files` are read from the build's artifacts; `vars` (which may use
build-local vars) win over `var_files`. `self` names the build's own pipeline. The
delegate validates and saves (the engine knows no store); a pipeline the user got
wrong comes back as a `StepError` and errors the step. Events: initialize, start,
finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import yaml

from headwater import yamlload
from headwater.ci import eventtypes as ev
from headwater.ci.build.errors import StepError
from headwater.ci.build.state import RunState
from headwater.ci.plan import SetPipeline


class SetPipelineStep:
    def __init__(self, plan: SetPipeline) -> None:
        self.plan = plan

    async def run(self, state: RunState) -> bool:
        p = self.plan
        await state.event(ev.Initialize(origin=ev.Origin(p.id)))
        await state.event(ev.Start(origin=ev.Origin(p.id)))
        name = p.name
        if name == "self":
            if not state.ctx.pipeline:
                raise StepError("set_pipeline: self only means something in a pipeline's "
                                "build; name the pipeline to set")
            name = state.ctx.pipeline
        text = await state.read_artifact_text(p.file, "set_pipeline file")
        vars: dict[str, Any] = {}
        for var_file in p.var_files:
            vars.update(await self._var_file(state, var_file))
        vars.update(state.interpolate(p.vars, f"the vars of set_pipeline {p.name!r}"))
        await state.log(p.id, f"setting pipeline: {name}\n")
        changed = await state.delegate.set_pipeline(name, p.team, text, vars, file=p.file)
        await state.log(p.id, "done\n" if changed else "no changes to apply.\n")
        await state.event(ev.Finish(origin=ev.Origin(p.id), exit_status=0, succeeded=True))
        return True

    async def _var_file(self, state: RunState, spec: str) -> Mapping[str, Any]:
        limits = state.ctx.yaml_limits
        text = await state.read_artifact_text(spec, "set_pipeline var file")
        try:
            data = await asyncio.to_thread(yamlload.load, text, filename=spec, limits=limits)
        except yamlload.YamlLimitError as e:
            raise StepError(f"set_pipeline var file {e}") from None
        except yaml.YAMLError as e:
            raise StepError(f"set_pipeline var file {spec}: invalid YAML: {e}") from None
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise StepError(f"set_pipeline var file {spec}: expected a mapping of vars, "
                            f"got {type(data).__name__}")
        return data
