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

from headwater.errors import HeadwaterError
from headwater.gitrepo.errors import (
    GitError,
    GitOutputTooLarge,
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
_STDERR_KEEP = 64 * 1024
_CHUNK = 64 * 1024


async def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float,
    url: str | None = None,
    what: str | None = None,
    secrets: Iterable[str] = (),
    max_output: int | None = None,
) -> str:
    """Run `git *args` and return its stdout; raise GitError, or GitTimeout after `timeout`s.

    `env` is laid over the inherited environment. `url` is the remote this command
    talks to and `what` a description of the operation, both for the error message;
    each of `secrets` (and the URL's own credentials) is shown as `***` in it.
    `max_output`: more bytes of stdout than this (a log or a file whose size a pusher
    chose) kill git and raise GitOutputTooLarge; stderr keeps only its last 64 KiB.
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
    assert proc.stdout is not None and proc.stderr is not None
    reads = (asyncio.ensure_future(_read(proc.stdout, max_output)),
             asyncio.ensure_future(_read(proc.stderr, None, keep=_STDERR_KEEP)))
    finished = False
    try:
        await asyncio.wait(reads, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION)
        finished = all(r.done() for r in reads)
    finally:
        if not finished or reads[0].exception() is not None:  # late, cancelled, too big
            _kill_group(proc.pid)
        await asyncio.gather(*reads, return_exceptions=True)  # the pipes close with the group
        if reads[0].done() and reads[0].exception() is not None:
            while await proc.stdout.read(_CHUNK):  # to its end: the pipe closes, git is dead
                pass
        await proc.wait()  # git is reaped
    if isinstance(reads[0].exception(), _OutputOverBound):
        raise GitOutputTooLarge(
            redact(f"{shown} failed: its output is over {max_output} bytes", hidden),
            command=command, returncode=proc.returncode)
    out, err = reads[0].result(), reads[1].result()
    stderr = redact(_tail(err.decode(errors="replace")), hidden)
    if not finished:
        raise GitTimeout(redact(f"{shown} timed out after {timeout:g}s", hidden),
                         command=command, stderr=stderr, returncode=proc.returncode)
    if proc.returncode != 0:
        words = stderr or f"exit status {proc.returncode}"
        if meaning := hint(stderr):
            words = f"{meaning}\n{words}"
        raise GitError(redact(f"{shown} failed: {words}", hidden),
                       command=command, stderr=stderr, returncode=proc.returncode)
    return out.decode(errors="surrogateescape")


class _OutputOverBound(HeadwaterError):
    """stdout passed its bound (internal: `git` raises GitOutputTooLarge)."""


async def _read(stream: asyncio.StreamReader, cap: int | None, *, keep: int = 0) -> bytes:
    """All of `stream` (raising _OutputOverBound past `cap` bytes), or only its last `keep`."""
    data = bytearray()
    while chunk := await stream.read(_CHUNK):
        data += chunk
        if cap is not None and len(data) > cap:
            raise _OutputOverBound
        if keep and len(data) > 2 * keep:
            del data[:-keep]
    return bytes(data[-keep:] if keep else data)


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
