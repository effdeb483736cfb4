"""`task`: run a process over some artifacts and keep what it writes in its outputs.

1. The config: inline (`config:`) or a YAML file in an artifact (`file:`) whose
   `((vars))` come from the step's `vars`; both may use build-local `((.:vars))`.
   It is validated (taskconfig.py); a bad one errors the build with every problem.
2. The task's directory (scratch space): each input is a copy of its artifact
   (`input_mapping` says which artifact feeds which input) at `inputs[].path`
   (default: its name); outputs and caches start as empty directories. A missing
   input that is not `optional` errors the build, naming it.
3. The environment: PATH, HOME (the task's directory; with an image, the image's
   and its user's, taskimage.py), the build's metadata (`BUILD_*`,
   `ATC_EXTERNAL_URL`), then the params: the config's, overridden by the step's;
   strings as they are, anything else JSON-encoded.
4. The image: `image:` on the step, else `image_resource`, else `rootfs_uri`
   (Concourse's precedence); none: the host's view (local.py).
5. The executor runs `run.path` with `run.args` in `run.dir`; stdout and stderr
   become log events. Outputs are registered as artifacts (renamed by
   `output_mapping`) whatever the exit status, so failure hooks can use them; then
   finish-task carries the exit status, and anything but 0 fails the step. An
   output the task replaced by a symlink, or that lies under one, errors the step
   naming it: the server never follows a task's links on the host (confine.py).

Caches start empty, or as the job's last build of this step left them
(taskcaches.py: kept per job when the server has a cache store; one-off builds get
none), and are stored back after the run, before outputs are registered.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import yaml

from headwater import yamlload
from headwater.ci import eventtypes as ev
from headwater.ci.build import confine, taskcaches
from headwater.ci.build.confine import Beneath, Refused
from headwater.ci.build.errors import StepError
from headwater.ci.build.executor import (
    ArtifactImage,
    LimitExceeded,
    Limits,
    ProcessSpec,
    RegistryImage,
    RootfsUri,
    Stream,
    TaskImage,
)
from headwater.ci.build.imagesandbox import working_directory
from headwater.ci.build.state import RunState
from headwater.ci.build.taskcaches import CacheKey
from headwater.ci.build.taskconfig import TaskConfig, param_env, parse_task_config
from headwater.ci.build.taskimage import pinned
from headwater.ci.plan import Task
from headwater.ci.resources.netns import NetworkError
from headwater.ci.resources.process import DEFAULT_PATH


class TaskStep:
    def __init__(self, plan: Task) -> None:
        self.plan = plan

    async def run(self, state: RunState) -> bool:
        p = self.plan
        await state.event(ev.InitializeTask(origin=ev.Origin(p.id)))
        config = await self._config(state)
        params = {**config.params,
                  **state.interpolate(p.params, f"the params of task {p.name!r}")}
        root = state.scratch("task", p.id)
        await self._inputs(state, config, root)
        await self._make_dirs(config, root)
        cwd = root / (config.run.dir or "")
        if not await asyncio.to_thread(confine.is_dir, Beneath(root, config.run.dir or ".")):
            raise StepError(f"task {p.name!r}: run.dir {config.run.dir!r} is not a directory "
                            "of the task (it should be one of its inputs or outputs, and "
                            "not a symlink)")
        image = self._image(state, config)
        host = {"PATH": DEFAULT_PATH, "HOME": str(root)} if image is None else {}
        env = {**host, **state.ctx.env(), **param_env(params)}
        spec = ProcessSpec(
            argv=[config.run.path, *config.run.args], root=root, cwd=cwd, env=env,
            inputs=[i.dir for i in config.inputs], outputs=[o.dir for o in config.outputs],
            caches=[c.path for c in config.caches], network=p.network,
            privileged=p.privileged, user=config.run.user, image=image,
            image_root=working_directory(p.name), name=p.name,
            limits=config.container_limits.limits() if config.container_limits else Limits())
        caches = self._cache_keys(state, config)
        for key in caches:
            assert state.ctx.task_caches is not None
            await taskcaches.take(state.ctx.task_caches, key, root,
                                  Beneath(state.scratch_root, f"cache-{root.name}"))

        async def output(stream: Stream, text: str) -> None:
            await state.log(p.id, text, stream)

        await state.event(ev.StartTask(origin=ev.Origin(p.id)))
        try:
            status = await state.ctx.executor.run(spec, output=output)
        except (FileNotFoundError, PermissionError) as e:
            raise StepError(f"task {p.name!r}: cannot run {config.run.path!r}: {e.strerror}; "
                            "run.path is looked up in PATH, or relative to run.dir") from None
        except (NetworkError, LimitExceeded) as e:
            raise StepError(f"task {p.name!r}: {e}") from None
        for key in caches:
            assert state.ctx.task_caches is not None
            why = await taskcaches.keep(state.ctx.task_caches, key, root,
                                        Beneath(state.scratch_root, f"cache-{root.name}"))
            if why:
                await state.log(p.id, f"headwater: cache {key.path!r} not kept: {why}\n",
                                "stderr")
        await self._outputs(state, config, root)
        await state.event(ev.FinishTask(origin=ev.Origin(p.id), exit_status=status))
        await asyncio.to_thread(confine.remove_tree, Beneath(root))
        return status == 0

    async def _config(self, state: RunState) -> TaskConfig:
        p = self.plan
        if p.file and p.config is not None:
            raise StepError(f"task {p.name!r} has both file and config: keep one")
        if p.file:
            text = await state.read_artifact_text(p.file, "task file")
            try:
                data: Any = await asyncio.to_thread(yamlload.load, text, filename=p.file,
                                                    limits=state.ctx.yaml_limits)
            except yamlload.YamlLimitError as e:
                raise StepError(f"task file {e}") from None
            except UnicodeDecodeError:
                raise StepError(f"task file {p.file}: not UTF-8 text") from None
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                line = f" line {mark.line + 1}" if mark is not None else ""
                raise StepError(f"task file {p.file}{line}: invalid YAML: "
                                f"{getattr(e, 'problem', None) or e}") from None
            data = state.interpolate(data, f"task file {p.file}", vars=p.vars)
            return parse_task_config(data, p.file)
        if p.config is None:
            raise StepError(f"task {p.name!r} has neither file nor config: say what to run")
        config = state.interpolate(p.config, f"the config of task {p.name!r}")
        return parse_task_config(config, f"the config of task {p.name!r}")

    async def _inputs(self, state: RunState, config: TaskConfig, root: Path) -> None:
        missing: list[str] = []
        for task_input in config.inputs:
            artifact = self.plan.input_mapping.get(task_input.name, task_input.name)
            source = state.artifacts.get(artifact)
            if source is None:
                if not task_input.optional:
                    mapped = f" (mapped to {artifact!r})" if artifact != task_input.name else ""
                    missing.append(f"{task_input.name}{mapped}")
                continue
            await state.copy_artifact(artifact, Beneath(root, task_input.dir),
                                      what=f"task {self.plan.name!r}: input "
                                           f"{task_input.name!r} (path {task_input.dir})")
        if missing:
            known = ", ".join(sorted(state.artifacts)) or "none"
            raise StepError(f"missing inputs: {', '.join(missing)}; this build has the "
                            f"artifacts: {known} (get them first, or use input_mapping)")

    async def _make_dirs(self, config: TaskConfig, root: Path) -> None:
        """Outputs and caches start empty; their paths may lie in inputs, whose links
        are never followed to make them."""
        dirs = [*((f"output {o.name!r}", o.dir) for o in config.outputs),
                *((f"cache {c.path!r}", c.path) for c in config.caches)]
        for what, directory in dirs:
            try:
                await asyncio.to_thread(confine.make_dirs, Beneath(root, directory))
            except (Refused, NotADirectoryError, FileExistsError) as e:
                raise StepError(f"task {self.plan.name!r}: {what} (path {directory}): cannot "
                                f"make it a directory: {e}") from None

    async def _outputs(self, state: RunState, config: TaskConfig, root: Path) -> None:
        """Register each output that is a directory. The task has run: it may have
        replaced an output, or a directory above one, by a link to anywhere; that
        output is refused, and nothing it points to is touched."""
        # Deepest first, so an output nested in another is not carried away with it.
        for task_output in sorted(config.outputs, key=lambda o: -len(Path(o.dir).parts)):
            name = self.plan.output_mapping.get(task_output.name, task_output.name)
            what = (f"task {self.plan.name!r}: output {task_output.name!r} "
                    f"(path {task_output.dir})")
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                await state.register(name, Beneath(root, task_output.dir), what=what)

    def _image(self, state: RunState, config: TaskConfig) -> TaskImage | None:
        """Concourse's precedence: the step's `image:`, `image_resource`, `rootfs_uri`."""
        if self.plan.image:
            artifact = state.artifacts.get(self.plan.image)
            if artifact is None:
                known = ", ".join(sorted(state.artifacts)) or "none"
                raise StepError(f"task {self.plan.name!r}: image artifact "
                                f"{self.plan.image!r} not found in this build (artifacts: "
                                f"{known}); get it first")
            return ArtifactImage(self.plan.image, artifact)
        if config.image_resource is not None:
            resource = config.image_resource
            return RegistryImage(resource.type, pinned(resource.source, resource.version))
        if config.rootfs_uri:
            return RootfsUri(config.rootfs_uri)
        return None

    def _cache_keys(self, state: RunState, config: TaskConfig) -> list[CacheKey]:
        """The caches kept between builds: those of a job's build on a server that
        keeps them (one-off builds start empty every time)."""
        ctx = state.ctx
        if ctx.task_caches is None or not ctx.job or not ctx.pipeline:
            return []
        return [CacheKey(ctx.team, ctx.pipeline, ctx.job, self.plan.name, c.path)
                for c in config.caches]
