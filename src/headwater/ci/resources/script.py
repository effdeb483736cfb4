"""External resource types: Concourse's `check`, `in` and `out` executables.

A directory holds the three scripts, either at its top (`<dir>/check`) or in the
layout of a Concourse resource image (`<dir>/opt/resource/check`), so the scripts of
an existing resource type run unchanged:

    check              stdin {"source", "version"}            stdout [version, ...]
    in <dest>          stdin {"source", "version", "params"}  stdout {"version", "metadata"}
    out <sources dir>  stdin {"source", "params"}             stdout {"version", "metadata"}

stderr is progress for people and streams to `log`. A script that exits non-zero,
outlives its timeout or answers something that is not the expected JSON raises
`ResourceError` naming the script, what went wrong and the last lines of its stderr.
`in` and `out` get the build's metadata in their environment (`BUILD_ID`, ...,
`ATC_EXTERNAL_URL`), as in Concourse; `check` gets none of it.

With the server's `cgroups`, each script runs in a cgroup of its own with the
server's default limits (memory, processes): a script that goes over one is stopped
and raises `ResourceError` naming the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.ci.resources.base import Fetched, Log, MetadataField, ResourceError, Version
from headwater.ci.resources.cgroups import Cgroups, Limits, StepCgroup
from headwater.ci.resources.netns import NetworkError, NetworkPolicy, run_sandboxed
from headwater.ci.resources.process import DEFAULT_PATH, run_process

_TAIL_LINES = 10
_MAX_STDOUT = 16 * 1024 * 1024


def scripts_dir(directory: Path) -> Path | None:
    """Where the scripts of a resource type directory are, or None when it has none."""
    for candidate in (directory, directory / "opt" / "resource"):
        if (candidate / "check").is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Command:
    """How to start one of a type's scripts: argv, working directory (None: the
    sandbox sets it), the environment it starts from, and the name errors use.
    With `network`, argv is bwrap's and the sandbox gets its network (netns.py)."""

    argv: list[str]
    cwd: Path | None
    env: dict[str, str]
    label: str
    network: NetworkPolicy | None = None


class ScriptProtocol:
    """Concourse's check / in / out over executables: JSON on stdin, JSON on stdout,
    stderr to the log. Subclasses say how a script is started (`command`)."""

    def __init__(self, *, timeout: float | None = None, env: Mapping[str, str] | None = None,
                 kill_grace: float = 10.0, cgroups: Cgroups | None = None,
                 limits: Limits | None = None) -> None:
        self._timeout = timeout
        self._env = dict(env or {})
        self._kill_grace = kill_grace
        self._cgroups = cgroups
        self._limits = limits or Limits()

    async def command(self, name: str, mount: Path | None) -> Command:
        """`name` (check, in, out), given `mount` (the directory of in and out)."""
        raise NotImplementedError

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        command = await self.command("check", None)
        answer = await self._run(command, {"source": source, "version": version},
                                 env=None, log=log)
        if not isinstance(answer, list):
            raise ResourceError(f"{command.label} answered {_short(answer)}: "
                                "expected a JSON list of versions")
        return [_version(item, command.label) for item in answer]

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
        command = await self.command("in", dest)
        answer = await self._run(command,
                                 {"source": source, "version": version, "params": params},
                                 env=env, log=log)
        return _fetched(answer, command.label)

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        command = await self.command("out", workdir)
        answer = await self._run(command, {"source": source, "params": params},
                                 env=env, log=log)
        return _fetched(answer, command.label)

    async def _run(self, command: Command, request: Mapping[str, Any], *,
                   env: Mapping[str, str] | None, log: Log) -> Any:
        label = command.label
        stdout: list[str] = []
        size = 0
        tail = _Tail()

        async def on_stdout(text: str) -> None:
            nonlocal size
            size += len(text)
            if size > _MAX_STDOUT:
                raise ResourceError(f"{label} wrote more than {_MAX_STDOUT} bytes on stdout")
            stdout.append(text)

        async def on_stderr(text: str) -> None:
            tail.feed(text)
            await log(text)

        full_env = {**command.env, **self._env, **(env or {})}

        cgroup: StepCgroup | None = None

        async def start(argv: list[str], pass_fds: tuple[int, ...]) -> int:
            return await run_process(
                argv, cwd=command.cwd, env=full_env, stdin=json.dumps(request).encode(),
                stdout=on_stdout, stderr=on_stderr, kill_grace=self._kill_grace,
                pass_fds=pass_fds, preexec=cgroup.enter if cgroup else None)

        try:
            async with asyncio.timeout(self._timeout), self._cgroup(label) as cgroup:
                status = await run_sandboxed(command.argv, network=command.network, run=start)
                breach = cgroup.breach_message(label, task=False) if cgroup else None
        except NetworkError as e:
            raise ResourceError(f"{label}: {e}") from None
        except TimeoutError:
            raise ResourceError(f"{label} timed out after {self._timeout:g}s"
                                f"{tail.describe()}") from None
        if breach:
            raise ResourceError(f"{breach}{tail.describe()}")
        if status != 0:
            raise ResourceError(f"{label} failed with exit status {status}{tail.describe()}")
        text = "".join(stdout)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ResourceError(f"{label} answered invalid JSON ({e.msg} at line {e.lineno} "
                                f"column {e.colno}): {_short(text)}{tail.describe()}") from None

    def _cgroup(self, label: str) -> contextlib.AbstractAsyncContextManager[StepCgroup | None]:
        if self._cgroups is None:
            return contextlib.nullcontext()
        name = label.rsplit("/", 2)
        return self._cgroups.step("-".join(["resource", *name[-2:]]), self._limits)


class ScriptResourceType(ScriptProtocol):
    """A resource type whose check / in / out are executables in a directory."""

    def __init__(self, directory: Path, *, timeout: float | None = None,
                 env: Mapping[str, str] | None = None, kill_grace: float = 10.0,
                 cgroups: Cgroups | None = None, limits: Limits | None = None) -> None:
        super().__init__(timeout=timeout, env=env, kill_grace=kill_grace, cgroups=cgroups,
                         limits=limits)
        found = scripts_dir(directory)
        if found is None:
            raise ResourceError(
                f"resource type directory {directory} has no check script: expected "
                f"{directory}/check, in, out or {directory}/opt/resource/check, in, out")
        self.directory = found

    def __repr__(self) -> str:
        return f"ScriptResourceType({str(self.directory)!r})"

    async def command(self, name: str, mount: Path | None) -> Command:
        script = self.directory / name
        if not os.access(script, os.X_OK):
            raise ResourceError(f"resource script {script} is missing or not executable")
        return Command([str(script), *([str(mount)] if mount else [])],
                       cwd=mount or self.directory,
                       env={"PATH": DEFAULT_PATH, "HOME": os.environ.get("HOME", "/root")},
                       label=str(script))


class _Tail:
    """The last lines of a stream, for error messages."""

    def __init__(self) -> None:
        self._lines: deque[str] = deque(maxlen=_TAIL_LINES)
        self._partial = ""

    def feed(self, text: str) -> None:
        *complete, self._partial = (self._partial + text).split("\n")
        self._lines.extend(line for line in complete if line.strip())

    def describe(self) -> str:
        lines = [*self._lines, *([self._partial] if self._partial.strip() else [])]
        if not lines:
            return " (stderr was empty)"
        return "; last lines of stderr:\n" + "\n".join(f"  {line}" for line in lines[-_TAIL_LINES:])


def _version(item: Any, script: str) -> Version:
    if not isinstance(item, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in item.items()):
        raise ResourceError(f"{script} answered the version {_short(item)}: a version is a "
                            'JSON object of strings, e.g. {"ref": "abc123"}')
    return dict(item)


def _fetched(answer: Any, script: str) -> Fetched:
    if not isinstance(answer, dict) or "version" not in answer:
        raise ResourceError(f"{script} answered {_short(answer)}: expected "
                            '{"version": {...}, "metadata": [...]}')
    metadata: list[MetadataField] = []
    for field in answer.get("metadata") or []:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise ResourceError(f"{script} answered the metadata field {_short(field)}: "
                                'expected {"name": "...", "value": "..."}')
        value = field.get("value", "")
        metadata.append(MetadataField(field["name"], value if isinstance(value, str)
                                      else json.dumps(value)))
    return Fetched(version=_version(answer["version"], script), metadata=metadata)


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = text.strip() or "nothing"
    return text if len(text) <= limit else text[:limit] + "..."
