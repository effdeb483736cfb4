"""What the semver resource tests share: bare repositories with a version branch and a
pre-receive hook that makes two pushes race."""

from __future__ import annotations

import asyncio
import os
import stat
import textwrap
from collections.abc import Awaitable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from tests.gitseed import plain_git

T = TypeVar("T")


def init_bare(path: Path) -> Path:
    plain_git("init", "-q", "--bare", "--initial-branch=main", str(path))
    return path


def push_branch(url: str, work: Path, branch: str, files: dict[str, str], *,
                ssh_command: str | None = None, message: str = "set version") -> None:
    """Commit `files` on `branch` (created as an orphan when the remote has none) and push."""
    env_args = ["-c", f"core.sshCommand={ssh_command}"] if ssh_command else []
    if not (work / ".git").exists():
        plain_git("init", "-q", str(work))
        plain_git("remote", "add", "origin", url, cwd=work)
    try:
        plain_git(*env_args, "fetch", "-q", "origin", branch, cwd=work)
        plain_git("checkout", "-q", "-B", branch, "FETCH_HEAD", cwd=work)
    except Exception:
        plain_git("checkout", "-q", "--orphan", branch, cwd=work)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    plain_git("add", "-A", cwd=work)
    plain_git("commit", "-q", "-m", message, cwd=work)
    plain_git(*env_args, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)


def branch_file(bare: Path, branch: str, file: str) -> str:
    return plain_git("--git-dir", str(bare), "show", f"{branch}:{file}")


def branch_log(bare: Path, branch: str, fmt: str = "%s") -> list[str]:
    return plain_git("--git-dir", str(bare), "log", f"--format={fmt}", branch).splitlines()


def install_race_hook(bare: Path, marks: Path) -> Path:
    """A pre-receive hook that holds the first push until a second one arrives, then
    holds the second until the first has moved the branch: the second's ref update
    then fails (its old value is stale), as when two builds push at the same moment.
    Later pushes pass. Each push appends a line to the returned file."""
    marks.mkdir()
    pushes = marks / "pushes"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        read old new ref
        echo "$ref" >> '{pushes}'
        if mkdir '{marks}/first' 2>/dev/null; then
          i=0; while [ ! -d '{marks}/second' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
        elif mkdir '{marks}/second' 2>/dev/null; then
          i=0
          while [ "$(git rev-parse -q --verify "$ref")" = "$old" ] && [ $i -lt 300 ]; do
            sleep 0.1; i=$((i+1))
          done
        fi
        exit 0
        """))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return pushes


def cmdlines() -> Iterator[bytes]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                yield Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue


async def watch_argv(secrets: Iterable[bytes], work: Awaitable[T],
                     ) -> tuple[T, list[bytes], set[bytes]]:
    """Await `work` while sampling every process's argv: its result, the command lines
    seen holding one of `secrets`, and every command line seen (so a test can show the
    sampling did catch the processes it is about)."""
    wanted = [s for s in secrets if s]
    seen: list[bytes] = []
    every: set[bytes] = set()
    task = asyncio.ensure_future(work)
    while not task.done():
        for line in cmdlines():
            every.add(line)
            if any(s in line for s in wanted):
                seen.append(line)
        await asyncio.sleep(0.005)
    return await task, seen, every
