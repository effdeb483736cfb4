"""Start, watch and stop the stack's daemons: one real process each, a pid file, a log.

A pid file holds "<pid> <start time>": the start time (from /proc) makes sure `down`
never signals a process that merely reuses a recorded pid. Daemons run in their own
session so that `headwater up` can exit and leave them running. PID 1 on some
machines does not reap orphans, so a zombie counts as stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from headwater.devstack.errors import ComponentFailed
from headwater.devstack.layout import Layout


@dataclass(frozen=True)
class Proc:
    name: str
    pid: int
    start_time: int
    log: Path


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a live pid, from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces
    return fields[0], int(fields[19])


def is_alive(proc: Proc) -> bool:
    st = _stat(proc.pid)
    return st is not None and st[0] not in ("Z", "X") and st[1] == proc.start_time


def rss_bytes(proc: Proc) -> int:
    """Resident memory of a live process, 0 if it is gone."""
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tail(path: Path, lines: int = 25) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return "  (no log was written)"
    return "\n".join("  " + ln for ln in text.splitlines()[-lines:])


def start(
    name: str,
    argv: Sequence[str],
    *,
    layout: Layout,
    env: Mapping[str, str] | None = None,
) -> Proc:
    """Start `argv` detached, logging to logs/<name>.log; record it in run/<name>.pid."""
    log = layout.logs / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {' '.join(argv)}\n".encode())
        out.flush()
        # posix_spawn rather than Popen: the daemon outlives this process by design.
        try:
            pid = os.posix_spawnp(
                argv[0], list(argv), {**os.environ, **(env or {})},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, out.fileno(), 2),
                ],
                setsid=True,
            )
        except FileNotFoundError:
            raise ComponentFailed(name, f"could not start: {argv[0]} not found", log,
                                  tail(log)) from None
    st = _stat(pid)
    proc = Proc(name, pid, st[1] if st else 0, log)
    (layout.run / f"{name}.pid").write_text(f"{proc.pid} {proc.start_time}\n")
    return proc


def load(name: str, layout: Layout) -> Proc | None:
    try:
        pid, start_time = (layout.run / f"{name}.pid").read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    return Proc(name, int(pid), int(start_time), layout.logs / f"{name}.log")


def stop(proc: Proc, layout: Layout, *, timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL and wait; forget the pid file."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not is_alive(proc):
            break
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while is_alive(proc) and time.monotonic() < deadline:
            _reap(proc.pid)
            time.sleep(0.05)
    _reap(proc.pid)
    (layout.run / f"{proc.name}.pid").unlink(missing_ok=True)


def _reap(pid: int) -> None:
    # Collects our own children (the test suite starts the stack in-process).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(
    proc: Proc, ready: Callable[[], bool], *, what: str, timeout: float, interval: float = 0.1
) -> None:
    """Poll `ready` until true; fail naming the component if it dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if not is_alive(proc):
            raise ComponentFailed(proc.name, "exited during start-up", proc.log, tail(proc.log))
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ComponentFailed(
                proc.name, f"was not {what} after {timeout:.0f}s", proc.log, tail(proc.log)
            )
        time.sleep(interval)
