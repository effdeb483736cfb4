"""Forced command of the stack's sshd: git transport only, inside one base directory.

Run by sshd as `python -m headwater.devstack.gitshell {rw|ro} BASE`; the client's request
is in SSH_ORIGINAL_COMMAND (e.g. `git-upload-pack '/app.git'`). A read-only key may
fetch but not push.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

READ = {"git-upload-pack", "git-upload-archive"}
WRITE = {"git-receive-pack"}


def resolve(request: str, *, base: Path, writable: bool) -> tuple[str, Path]:
    """(verb, absolute repository path) for an allowed request; ValueError otherwise."""
    try:
        verb, arg = shlex.split(request)
    except ValueError:
        raise ValueError("only git clone, fetch and push are served here") from None
    if verb in WRITE and not writable:
        raise ValueError("this key is read-only: it may clone and fetch, not push")
    if verb not in READ | WRITE:
        raise ValueError("only git clone, fetch and push are served here")
    path = (base / arg.lstrip("/")).resolve()
    if "'" in str(path) or not path.is_relative_to(base.resolve()) or not path.is_dir():
        raise ValueError(f"no repository {arg!r} on this server")
    return verb, path


def main() -> None:
    mode, base = sys.argv[1], Path(sys.argv[2])
    try:
        verb, path = resolve(
            os.environ.get("SSH_ORIGINAL_COMMAND", ""), base=base, writable=mode == "rw"
        )
    except ValueError as e:
        sys.stderr.write(f"headwater git server: {e}\n")
        sys.exit(1)
    # git-shell parses its own -c argument and wants the path in single quotes
    # (resolve() refused any path holding one); no shell is involved.
    os.execvp("git-shell", ["git-shell", "-c", f"{verb} '{path}'"])  # noqa: S606


if __name__ == "__main__":
    main()
