"""The stack's Git server: anonymous git:// that serves clones but refuses pushes, and ssh
with a deploy key that may push and a read-only key that may not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from headwater.devstack import StackInfo


def git(*args: str, cwd: Path | None = None, ssh_key: Path | None = None,
        stack: StackInfo | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com"}
    if ssh_key and stack:
        env["GIT_SSH_COMMAND"] = stack.git.ssh_command(ssh_key)
    return subprocess.run(["git", *args], cwd=cwd, env=env, text=True, capture_output=True,
                          check=check)


def _commit(work: Path, name: str, text: str) -> str:
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"add {name}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def _server_head(stack: StackInfo, repo: str) -> str:
    return git("--git-dir", str(stack.git.repos / repo), "rev-parse", "main").stdout.strip()


def test_clone_commit_and_push_over_ssh_with_the_deploy_key(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    key = stack.git.deploy_key
    url = stack.git.ssh_url(git_repo)
    git("clone", "-q", url, str(tmp_path / "w"), ssh_key=key, stack=stack)
    head = _commit(tmp_path / "w", "deploy.yml", "kind: Deployment\n")
    git("push", "-q", "origin", "HEAD:main", cwd=tmp_path / "w", ssh_key=key, stack=stack)
    assert _server_head(stack, git_repo) == head
    # and what was pushed over ssh is served anonymously by git daemon
    git("clone", "-q", stack.git.git_url(git_repo), str(tmp_path / "anon"))
    assert (tmp_path / "anon" / "deploy.yml").read_text() == "kind: Deployment\n"


def test_the_read_only_key_clones_but_its_push_is_refused(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    key = stack.git.deploy_key
    git("clone", "-q", stack.git.ssh_url(git_repo), str(seed), ssh_key=key, stack=stack)
    first = _commit(seed, "a.txt", "a\n")
    git("push", "-q", "origin", "HEAD:main", cwd=seed, ssh_key=key, stack=stack)

    ro = stack.git.readonly_key
    work = tmp_path / "ro"
    git("clone", "-q", stack.git.ssh_url(git_repo), str(work), ssh_key=ro, stack=stack)
    assert (work / "a.txt").read_text() == "a\n"
    _commit(work, "b.txt", "b\n")
    refused = git("push", "origin", "HEAD:main", cwd=work, ssh_key=ro, stack=stack, check=False)
    assert refused.returncode != 0
    assert "this key is read-only" in refused.stderr
    assert _server_head(stack, git_repo) == first


def test_an_anonymous_push_over_git_is_refused(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    key = stack.git.deploy_key
    seed = tmp_path / "seed"
    git("clone", "-q", stack.git.ssh_url(git_repo), str(seed), ssh_key=key, stack=stack)
    first = _commit(seed, "a.txt", "a\n")
    git("push", "-q", "origin", "HEAD:main", cwd=seed, ssh_key=key, stack=stack)

    anon = tmp_path / "anon"
    git("clone", "-q", stack.git.git_url(git_repo), str(anon))  # reading stays anonymous
    assert (anon / "a.txt").read_text() == "a\n"
    _commit(anon, "evil.txt", "pushed by anyone on this machine\n")
    for ref in ("HEAD:main", "HEAD:refs/heads/other", "HEAD:refs/tags/v9"):
        refused = git("push", "origin", ref, cwd=anon, check=False)
        assert refused.returncode != 0
        assert f"remote error: service not enabled: /{git_repo}" in refused.stderr
    assert _server_head(stack, git_repo) == first
    refs = git("--git-dir", str(stack.git.repos / git_repo), "for-each-ref").stdout
    assert refs.split() == [first, "commit", "refs/heads/main"]


def test_an_unknown_key_is_refused(stack: StackInfo, git_repo: str, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)
    denied = git("clone", stack.git.ssh_url(git_repo), str(tmp_path / "x"), ssh_key=stranger,
                 stack=stack, check=False)
    assert denied.returncode != 0
    assert "Permission denied" in denied.stderr


@pytest.mark.parametrize("key", ["deploy_key", "readonly_key"])
def test_keys_are_private_to_their_owner(stack: StackInfo, key: str) -> None:
    assert (stack.git.deploy_key.parent / key).stat().st_mode & 0o077 == 0
