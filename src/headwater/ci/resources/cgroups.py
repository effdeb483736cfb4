"""Resource limits for a step's processes, with Linux control groups (cgroups).

Every step that runs processes gets a cgroup of its own, under one parent per server
(its key comes from the server's data dir), nested in the server's own cgroup so
that the limits of whoever runs headwater (systemd, a container) still hold:

    <the server's own cgroup>/headwater/<server key>/<step>/

The child process joins the step's cgroup before it execs (`StepCgroup.enter`, a
preexec hook), so everything it starts (bwrap's sandbox, a fork bomb) is counted
there. Limits, on the two layouts the kernel offers:

    limit                        cgroup v1                          cgroup v2
    memory (bytes, no swap)      memory.limit_in_bytes (+ memsw)    memory.max, memory.swap.max=0
    cpu (Concourse shares)       cpu.shares                         cpu.weight (shares mapped)
    pids (processes, threads)    pids.max                           pids.max

Concourse's `cpu` is a relative weight (1024 = as much as one ordinary process), not
a hard quota. The parent cgroup keeps the default weight, so all steps together
weigh as much as one process of the server's cgroup: the server stays responsive
however busy the tasks are, without a quota that would idle the machine.

While a step runs, its cgroup is watched: an OOM kill of the kernel (v1
`memory.oom_control`, v2 `memory.events`) or a refused fork (`pids.events`) ends the
whole step and `breach_message()` says which limit it hit. After the step, what is
left in it is killed (v2 `cgroup.kill`, v1 SIGKILL to every pid until none is left)
and the directory removed; `Cgroups.setup` removes what a previous run of the same
server left.

The layout (v1 controllers, v2 unified, or hybrid: v1 controllers next to an empty
v2 tree, as on this machine kind) is read from `/proc/self/mountinfo` and
`/proc/self/cgroup` by `parse_layout`, a pure function. Without cgroups (not root,
no controllers, a v2 tree that is not delegated) `setup` warns once and answers
None: steps then run without limits, and the server never fails for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from headwater import log as hwlog
from headwater.errors import HeadwaterError
from headwater.sizes import parse_size

_log = hwlog.get("cgroups")

CONTROLLERS = ("memory", "cpu", "pids")
DEFAULT_PIDS_LIMIT = 4096
DEFAULT_MEMORY_LIMIT = 4 << 30
_WATCH_EVERY = 0.2
_PARENT = "headwater"

Breach = Literal["memory", "pids"]


class LimitExceeded(HeadwaterError):
    """A step's processes went over a limit and were stopped; the message says which."""


@dataclass(frozen=True)
class Limits:
    """What a step may use. None: not set (a default applies); 0: unlimited."""

    memory: int | None = None  # bytes
    cpu: int | None = None  # Concourse's shares: 1024 is one ordinary process's weight
    pids: int | None = None

    def over(self, defaults: Limits) -> Limits:
        """These limits, with `defaults` where they say nothing."""
        return Limits(memory=self.memory if self.memory is not None else defaults.memory,
                      cpu=self.cpu if self.cpu is not None else defaults.cpu,
                      pids=self.pids if self.pids is not None else defaults.pids)


# -- sizes ----------------------------------------------------------------------------



def parse_memory(value: int | str) -> int:
    """A memory size as Concourse reads `container_limits.memory`: bytes, or a number
    with K/M/G (KB, MB, GB, KiB, ...; all binary, 1KB = 1024: `headwater.sizes`).
    0 means unlimited."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is not a memory size: it must not be negative")
        return value
    return parse_size(value)


def format_size(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), runc's mapping."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


# -- where the cgroups are ------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """The server's own cgroup directory for each controller it may limit with.
    v2: every controller maps to the one unified directory (whether the kernel
    offers the controller there is read from its `cgroup.controllers` at setup)."""

    version: Literal[1, 2]
    dirs: Mapping[str, Path]


def parse_layout(mountinfo: str, proc_cgroup: str) -> Layout | None:
    """The cgroup layout from the text of /proc/self/mountinfo and /proc/self/cgroup.

    A controller mounted as v1 is used as v1 (hybrid systems mount memory, cpu and pids
    as v1 next to an empty v2 tree); with none of them on v1, the v2 tree is used.
    A mount may show a subtree (its root field, e.g. `/docker/<id>`): the server's own
    path is taken relative to it."""
    v1: dict[str, tuple[str, str]] = {}
    v2: tuple[str, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup":
            for controller in CONTROLLERS:
                if controller in options:
                    v1.setdefault(controller, (root, mountpoint))
        elif fstype == "cgroup2" and (v2 is None or mountpoint == "/sys/fs/cgroup"):
            v2 = (root, mountpoint)

    paths: dict[str, str] = {}
    unified: str | None = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            unified = path
        for controller in controllers.split(","):
            paths[controller] = path

    if v1:
        dirs = {c: d for c, (root, mountpoint) in v1.items()
                if c in paths and (d := _own_dir(root, mountpoint, paths[c])) is not None}
        return Layout(1, dirs) if dirs else None
    if v2 is not None and unified is not None:
        own = _own_dir(*v2, unified)
        return Layout(2, dict.fromkeys(CONTROLLERS, own)) if own is not None else None
    return None


def _own_dir(root: str, mountpoint: str, path: str) -> Path | None:
    """Where `path` (a cgroup path as /proc/self/cgroup shows it) is under a mount of
    the hierarchy's subtree `root`."""
    try:
        relative = PurePosixPath(path).relative_to(root)
    except ValueError:
        return None
    return Path(mountpoint) / relative


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


# -- the server's cgroups -------------------------------------------------------------

class Cgroups:
    """The server's parent cgroups; `step()` makes one for each step."""

    def __init__(self, version: Literal[1, 2], parents: Mapping[str, Path]) -> None:
        self.version = version
        self.parents = dict(parents)  # controller -> parent dir (v2: the same dir for all)
        self._count = 0

    @classmethod
    def setup(cls, key: str, *, mountinfo: str | None = None,
              proc_cgroup: str | None = None) -> Cgroups | None:
        """The parent cgroups of the server whose key (e.g. its data dir) is `key`,
        emptied of what a previous run left; None, with one warning, without cgroups."""
        try:
            if mountinfo is None:
                mountinfo = Path("/proc/self/mountinfo").read_text()
            if proc_cgroup is None:
                proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError as e:
            _without(f"cannot read the process's cgroups: {e}")
            return None
        layout = parse_layout(mountinfo, proc_cgroup)
        if layout is None:
            _without("no cgroup controller (memory, cpu, pids) is mounted")
            return None
        name = f"{_PARENT}/{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        parents, problems = _make_parents(layout, name)
        if not parents:
            _without("cannot make a cgroup: " + "; ".join(problems))
            return None
        missing = [c for c in CONTROLLERS if c not in parents]
        if missing:
            _log.warning("some cgroup controllers are missing: these limits are not enforced",
                         missing=",".join(missing), problems="; ".join(problems) or None)
        cgroups = cls(layout.version, parents)
        try:
            cgroups.remove_leftovers()
        except OSError as e:
            _log.warning("cannot remove the cgroups of a previous run", error=str(e))
        _log.info("task limits enforced with cgroups", version=layout.version,
                  parents=" ".join(sorted({str(p) for p in parents.values()})))
        return cgroups

    def close(self) -> None:
        """Stop what still runs in the server's cgroups and remove them (server stop)."""
        try:
            self.remove_leftovers()
        except OSError as e:
            _log.warning("cannot remove the cgroups of a step", error=str(e))
        for parent in set(self.parents.values()):
            _rmdir(parent)
            with contextlib.suppress(OSError):  # the shared `headwater`, if no other server
                parent.parent.rmdir()

    def remove_leftovers(self) -> None:
        for parent in set(self.parents.values()):
            for child in parent.iterdir():
                if child.is_dir():
                    _remove(child, self.version)

    @contextlib.asynccontextmanager
    async def step(self, label: str, limits: Limits) -> AsyncIterator[StepCgroup]:
        """A cgroup for one step, watched while the block runs and removed after it
        (what is left in it is killed)."""
        self._count += 1
        name = f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', label)[:60]}-{os.getpid()}-{self._count}"
        cgroup = StepCgroup(self.version, {c: p / name for c, p in self.parents.items()},
                            limits)
        try:
            await asyncio.to_thread(cgroup.create)
            watcher = asyncio.ensure_future(cgroup.watch())
            try:
                yield cgroup
            finally:
                watcher.cancel()
                await asyncio.wait({watcher})  # (a cancellation of ours still propagates)
                cgroup.check()
        finally:
            await asyncio.shield(cgroup.remove())


def _make_parents(layout: Layout, name: str) -> tuple[dict[str, Path], list[str]]:
    """The server's parent cgroup for each controller it can use, and the problems."""
    parents: dict[str, Path] = {}
    problems: list[str] = []
    if layout.version == 2:
        own = next(iter(layout.dirs.values()))
        try:
            parents = dict.fromkeys(_setup_v2(own, name), own / name)
        except OSError as e:
            problems.append(f"{own}: {e.strerror or e}")
        return parents, problems
    for controller, own in layout.dirs.items():
        try:
            (own / name).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            problems.append(f"{controller} ({own}): {e.strerror or e}")
        else:
            parents[controller] = own / name
    return parents, problems


def _setup_v2(own: Path, name: str) -> list[str]:
    """Delegate the controllers down to `own/name`; the controllers it got."""
    available = (own / "cgroup.controllers").read_text().split()
    wanted = [c for c in CONTROLLERS if c in available]
    if not wanted:
        raise OSError(errno.ENOENT, f"none of {', '.join(CONTROLLERS)} in cgroup.controllers")
    directory = own
    for part in ["", *PurePosixPath(name).parts]:
        directory = directory / part if part else directory
        directory.mkdir(exist_ok=True)
        # Fails with EBUSY where the directory has processes of its own (v2's "no
        # internal processes" rule): run headwater in a cgroup of its own
        # (systemd's Delegate=yes) for limits.
        (directory / "cgroup.subtree_control").write_text(
            " ".join(f"+{c}" for c in wanted))
    return wanted


class StepCgroup:
    """One step's cgroup: `enter` in the child, then `breach_message` after the step."""

    def __init__(self, version: Literal[1, 2], dirs: Mapping[str, Path],
                 limits: Limits) -> None:
        self.version = version
        self.dirs = dict(dirs)
        self.limits = limits
        self.breach: Breach | None = None
        self._procs = [os.fsencode(d / "cgroup.procs") for d in sorted(set(self.dirs.values()))]

    def create(self) -> None:
        for directory in set(self.dirs.values()):
            directory.mkdir(exist_ok=True)
        memory, cpu, pids = self.limits.memory, self.limits.cpu, self.limits.pids
        if self.version == 1:
            if memory and "memory" in self.dirs:
                self._write("memory", "memory.limit_in_bytes", memory)
                self._write("memory", "memory.memsw.limit_in_bytes", memory, optional=True)
            if cpu and "cpu" in self.dirs:
                self._write("cpu", "cpu.shares", min(max(cpu, 2), 262144))
        else:
            if memory and "memory" in self.dirs:
                self._write("memory", "memory.max", memory)
                self._write("memory", "memory.swap.max", 0, optional=True)
            if cpu and "cpu" in self.dirs:
                self._write("cpu", "cpu.weight", shares_to_weight(cpu))
        if pids and "pids" in self.dirs:
            self._write("pids", "pids.max", pids)

    def _write(self, controller: str, name: str, value: int, *, optional: bool = False) -> None:
        path = self.dirs[controller] / name
        if optional and not path.exists():
            return
        path.write_text(str(value))

    def enter(self) -> None:
        """Join this cgroup: called in the child between fork and exec (preexec_fn),
        so only system calls on paths prepared beforehand."""
        for procs in self._procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    async def watch(self) -> None:
        """Until cancelled: when a limit is hit, kill everything in the cgroup."""
        while self.breach is None:
            await asyncio.sleep(_WATCH_EVERY)
            self.check()
            if self.breach is not None:
                _log.warning("a step hit a limit: stopping it", limit=self.breach,
                             cgroup=next(iter(self.dirs.values())).name)
                self.kill()

    def check(self) -> None:
        if self.breach is None:
            self.breach = self._read_breach()

    def _read_breach(self) -> Breach | None:
        if "memory" in self.dirs:
            events = "memory.oom_control" if self.version == 1 else "memory.events"
            if _counter(self.dirs["memory"] / events, "oom_kill"):
                return "memory"
        if "pids" in self.dirs and _counter(self.dirs["pids"] / "pids.events", "max"):
            return "pids"
        return None

    def breach_message(self, subject: str, *, task: bool = True) -> str | None:
        """What limit `subject` ("the task", a resource script) hit, or None."""
        self.check()
        memory = self.limits.memory
        if self.breach == "memory" and not memory:
            return (f"{subject} ran out of memory and was killed (the limit of the cgroup "
                    "headwater runs in, or the machine's)")
        if self.breach == "memory" and memory:
            size = format_size(memory)
            setting = ("raise container_limits.memory, or the server's "
                       "--default-task-memory-limit" if task else
                       "the server's --default-task-memory-limit sets it")
            return (f"{subject} exceeded its memory limit of {size} and was killed (out of "
                    f"memory): {setting}")
        if self.breach == "pids":
            return (f"{subject} hit its fork limit of {self.limits.pids} processes and was "
                    "stopped (a fork bomb, or too many processes at once): the server's "
                    "--default-task-pids-limit sets it")
        return None

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (not waiting for them to go)."""
        if self.version == 2:
            kill_file = next(iter(self.dirs.values())) / "cgroup.kill"
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
                return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self._procs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in Path(os.fsdecode(procs)).read_text().split())
        return found

    async def remove(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            self.kill()
            if not self.pids() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        for directory in set(self.dirs.values()):
            _rmdir(directory)


def _counter(path: Path, name: str) -> int:
    try:
        text = path.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return 0


def _rmdir(directory: Path) -> None:
    try:
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError as e:
        _log.warning("cannot remove a step's cgroup", cgroup=str(directory),
                     error=e.strerror or str(e))


def _remove(directory: Path, version: Literal[1, 2]) -> None:
    """A leftover step cgroup: kill its processes, remove it (at server start)."""
    cgroup = StepCgroup(version, {"any": directory}, Limits())
    deadline = time.monotonic() + 10
    while True:
        cgroup.kill()
        if not cgroup.pids() or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    _rmdir(directory)


def _without(reason: str) -> None:
    _log.warning("tasks run without limits (memory, cpu, processes)", reason=reason)
