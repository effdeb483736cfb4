"""The one way headwater runs git: argv only, a deadline, and errors without secrets.

git runs in a session of its own, so that on timeout or cancellation the whole
process group (git and the ssh or git-remote-https it spawned) is killed by its id
and waited for: nothing is left behind, even where PID 1 does not reap orphans.
Variables that would point git at another repository (GIT_DIR, ... as when
headwater itself runs from a git hook) are not inherited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from headwater.gitrepo.errors import (
    GitError,
    GitTimeout,
    hint,
    redact,
    redact_url,
    url_secrets,
)

# `git rev-parse --local-env-vars` (git 2.39), plus the ones a hook may see.
_REPO_VARS = frozenset({
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT", "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_QUARANTINE_PATH",
})
_TAIL_LINES = 8


async def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float,
    url: str | None = None,
    what: str | None = None,
    secrets: Iterable[str] = (),
) -> str:
    """Run `git *args` and return its stdout; raise GitError, or GitTimeout after `timeout`s.

    `env` is laid over the inherited environment. `url` is the remote this command
    talks to and `what` a description of the operation, both for the error message;
    each of `secrets` (and the URL's own credentials) is shown as `***` in it.
    """
    hidden = (*secrets, *(url_secrets(url) if url else ()))
    shown = what or f"git {_verb(args)} " + (redact_url(url) if url else f"in {cwd or '.'}")
    command = [redact(a, hidden) for a in ("git", *args)]
    full_env = {k: v for k, v in os.environ.items() if k not in _REPO_VARS}
    full_env |= {"GIT_TERMINAL_PROMPT": "0", **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=full_env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    talk = asyncio.ensure_future(proc.communicate())
    try:
        done, _ = await asyncio.wait({talk}, timeout=timeout)
    finally:
        if not talk.done():  # timed out, or cancelled
            _kill_group(proc.pid)
            await talk  # the pipes close once the whole group is dead; git is reaped
    out, err = talk.result()
    stderr = redact(_tail(err.decode(errors="replace")), hidden)
    if not done:
        raise GitTimeout(redact(f"{shown} timed out after {timeout:g}s", hidden),
                         command=command, stderr=stderr, returncode=proc.returncode)
    if proc.returncode != 0:
        words = stderr or f"exit status {proc.returncode}"
        if meaning := hint(stderr):
            words = f"{meaning}\n{words}"
        raise GitError(redact(f"{shown} failed: {words}", hidden),
                       command=command, stderr=stderr, returncode=proc.returncode)
    return out.decode(errors="surrogateescape")


def _kill_group(pgid: int) -> None:
    # The group id is the pid of the git we started (start_new_session=True); it
    # cannot be reused while any member lives, and we kill before reaping ends.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _verb(args: Sequence[str]) -> str:
    """The git subcommand in `args`, skipping global options like `-c key=value`."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-c", "-C", "--git-dir", "--work-tree"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return ""


def _tail(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]
    return "\n".join(lines[-_TAIL_LINES:])
