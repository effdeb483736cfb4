"""A plain git clone, outside the code under test, that writes commits to a stack repo;
and what code under test needs to push there: the stack's git:// is read-only, pushes go
over ssh with the deploy key (`push_url`, `deploy_auth`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from headwater.devstack import StackInfo
from headwater.gitrepo import GitAuth


def plain_git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, text=True, capture_output=True,
                          check=True)
    return done.stdout.strip()


def write_files(root: Path, files: Mapping[str, str | None]) -> None:
    """Write each file under `root` (its directories made), or delete it for None."""
    for name, text in files.items():
        path = root / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def push_url(stack: StackInfo, repo: str) -> str:
    """The URL to clone `repo` from and push to: ssh, with `deploy_auth`."""
    return stack.git.ssh_url(repo)


def deploy_auth(stack: StackInfo) -> GitAuth:
    """The stack's deploy key (may push) and the server's host key."""
    return GitAuth(ssh_key=stack.git.deploy_key, known_hosts=stack.git.known_hosts)


class Seed:
    """Commits pushed over ssh with the deploy key to branch main of `repo`."""

    def __init__(self, stack: StackInfo, repo: str, work: Path) -> None:
        self.work = work
        plain_git("clone", "-q", "-c", f"core.sshCommand={stack.git.ssh_command()}",
                  push_url(stack, repo), str(work))

    def commit(self, files: Mapping[str, str | None], message: str = "change") -> str:
        """Write (or delete, for None) each file, commit, push; return the revision."""
        write_files(self.work, files)
        plain_git("add", "-A", cwd=self.work)
        plain_git("commit", "-q", "-m", message, cwd=self.work)
        plain_git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return plain_git("rev-parse", "HEAD", cwd=self.work)


def server_tag(stack: StackInfo, repo: str, tag: str) -> tuple[str, str] | None:
    """(object type, peeled commit) of `tag` in the server's bare repository, or None."""
    bare = ["--git-dir", str(stack.git.repos / repo)]
    ref = f"refs/tags/{tag}"
    try:
        kind = plain_git(*bare, "cat-file", "-t", ref)
    except subprocess.CalledProcessError:
        return None
    return kind, plain_git(*bare, "rev-parse", f"{ref}^{{commit}}")
