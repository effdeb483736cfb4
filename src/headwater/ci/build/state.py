"""The state one build's steps share while it runs (Concourse's `RunState`).

- artifacts: name -> directory. An artifact is `workdir/<name>`; a step that produces
  one builds it in scratch space and `register`s it, which replaces any previous
  artifact of that name. Registered directories are never written to again: tasks
  and puts get copies. Every host-side operation on them (register, copy, read a
  file, delete) goes through `confine`, so a symlink a task left never leads the
  server out of the build.
- build-local vars (`load_var`), and the secret values among them, which are
  replaced with `((redacted))` in the log and error events emitted from here.
- the reporting helpers every step uses: `event`, `log`, `error`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from typing import Any

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath, Refused
from headwater.ci.build.context import BuildContext
from headwater.ci.build.delegate import BuildDelegate
from headwater.ci.build.errors import StepError
from headwater.ci.build.interpolate import interpolate
from headwater.ci.eventtypes import BuildEvent, Error, Log, Origin
from headwater.ci.vars import Redactor

_ARTIFACT_NAME = re.compile(r"[^/\x00]+")


class RunState:
    def __init__(self, ctx: BuildContext, delegate: BuildDelegate) -> None:
        self.ctx = ctx
        self.delegate = delegate
        self.artifacts: dict[str, Path] = {name: ctx.workdir / name for name in ctx.inputs}
        self.local_vars: dict[str, Any] = {}
        self._secrets: list[str] = []
        self._redactor = Redactor(())
        self._counter = itertools.count(1)
        self.scratch_root = ctx.workdir / ".scratch"
        self.artifact_root = ctx.workdir

    def scope(self, local_vars: dict[str, Any]) -> RunState:
        """A scope of its own (one `across` combination): it sees this state's artifacts
        and local vars, adds `local_vars`, and what it produces stays in it, under a
        directory of its own, so parallel scopes never overwrite each other's."""
        child = RunState(self.ctx, self.delegate)
        child.artifacts = dict(self.artifacts)
        child.local_vars = {**self.local_vars, **local_vars}
        child._secrets = self._secrets
        child._redactor = self._redactor
        child._counter = self._counter
        child.scratch_root = self.scratch_root
        child.artifact_root = self.scratch("scope", "across")
        return child

    # -- reporting --------------------------------------------------------------------

    async def event(self, event: BuildEvent) -> None:
        await self.delegate.event(event)

    async def log(self, step_id: str, text: str, source: str = "stdout") -> None:
        await self.delegate.event(Log(origin=Origin(step_id, source),
                                      payload=self.redact(text)))

    async def error(self, step_id: str, message: str) -> None:
        await self.delegate.event(Error(origin=Origin(step_id),
                                        message=self.redact(message)))

    async def add_secrets(self, values: list[str]) -> None:
        fresh = [v for v in values if v and v not in self._secrets]
        if fresh:
            self._secrets = [*self._secrets, *fresh]
            self._redactor = Redactor(self._secrets)
            await self.delegate.redact(fresh)

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)

    # -- vars -------------------------------------------------------------------------

    def interpolate(self, value: Any, what: str, *,
                    vars: dict[str, Any] | None = None) -> Any:
        return interpolate(value, self.local_vars, vars=vars, what=what)

    # -- artifacts --------------------------------------------------------------------

    def scratch(self, kind: str, step_id: str) -> Path:
        """A new, empty directory for one run of one step."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", step_id)
        path = self.scratch_root / f"{kind}-{safe}-{next(self._counter)}"
        path.mkdir(parents=True)
        return path

    async def register(self, name: str, directory: Beneath, *, what: str) -> Path:
        """Make `directory` (in scratch space) the artifact `name`; answer its path.
        `what` names it in the error when it is not a real directory (a link)."""
        check_artifact_name(name)
        target = Beneath(self.artifact_root, name)
        trash = Beneath(self.scratch_root, f"replaced-{next(self._counter)}")
        try:
            await asyncio.to_thread(confine.move_dir, directory, target, trash)
        except Refused as e:
            raise StepError(f"{what}: {e}; refused: headwater never follows a link out of "
                            "the build (leave it a real directory)") from None
        self.artifacts[name] = self.artifact_root / name
        return self.artifact_root / name

    async def copy_artifact(self, name: str, dest: Beneath, *, what: str) -> None:
        """Copy the artifact `name` to `dest` (symlinks as symlinks)."""
        try:
            await asyncio.to_thread(confine.copy_tree, Beneath(self.artifacts[name]), dest)
        except Refused as e:
            raise StepError(f"{what}: {e}; refused: headwater never writes through a link "
                            "(do inputs overlap?)") from None

    async def read_artifact_text(self, spec: str, what: str) -> str:
        """The text of the file `artifact/path/in/it`; `StepError` when it is not there,
        leads out of the artifact through a link, is larger than the YAML size limit
        (task, var and pipeline files are read whole), or is not UTF-8 text."""
        limit = self.ctx.yaml_limits.max_bytes
        name, _, rel = spec.partition("/")
        if not rel:
            raise StepError(f"{what} {spec!r} does not say which artifact it is in: "
                            "write it as <artifact>/<path>, e.g. repo/ci/task.yml")
        root = self.artifacts.get(name)
        if root is None:
            raise StepError(f"{what} {spec!r}: no artifact named {name!r} in this build "
                            f"(known: {', '.join(sorted(self.artifacts)) or 'none'}); "
                            "get it or produce it with a task output first")
        try:
            data = await asyncio.to_thread(confine.read_file, Beneath(root), rel,
                                           limit=limit)
        except (FileNotFoundError, NotADirectoryError):
            raise StepError(f"{what} {spec!r}: no file {rel!r} in the artifact "
                            f"{name!r}") from None
        except confine.TooLarge:
            raise StepError(f"{what} {spec!r} is larger than {limit:,} bytes: refused before "
                            "reading it whole (--yaml-max-bytes raises the limit)") from None
        except Refused as e:
            raise StepError(f"{what} {spec!r}: {e} (in the artifact {name!r}); refused: "
                            "only links that stay inside the artifact are followed") from None
        try:
            return data.decode()
        except UnicodeDecodeError as e:
            raise StepError(f"{what} {spec!r} is not UTF-8 text ({e.reason} at byte "
                            f"{e.start})") from None


def check_artifact_name(name: str) -> None:
    if not _ARTIFACT_NAME.fullmatch(name) or name in (".", "..") or name.startswith("."):
        raise StepError(f"invalid artifact name {name!r}: a name must not be empty, contain "
                        "'/' or start with '.'")
