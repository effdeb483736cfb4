"""The git and semver resources over the local stack's HTTPS Git endpoint (issue 13
point 2): `username`/`password`, or the token as the password, clone and push; wrong
or missing credentials fail naming the cause, without the secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater import devstack
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.git import GitResource
from headwater.ci.resources.semver import SemverResource
from headwater.devstack.githttp import GitHttp
from tests.gitseed import Seed, plain_git

pytestmark = pytest.mark.stack


async def log(_: str) -> None:
    pass


def source(git_http: GitHttp, repo: str, password: str) -> dict[str, Any]:
    # The stack's CA is not in the system's trust store, and git-resource has no CA
    # field: skip_ssl_verification, as a git-resource user of a private CA does.
    return {"uri": git_http.url(repo), "branch": "main", "username": git_http.username,
            "password": password, "skip_ssl_verification": True}


@pytest.mark.parametrize("credential", ["password", "token"])
async def test_git_check_get_put_over_the_stacks_https_endpoint(
        stack: devstack.StackInfo, git_http: GitHttp, git_repo: str, tmp_path: Path,
        credential: str) -> None:
    first = Seed(stack, git_repo, tmp_path / "seed").commit({"app.txt": "1"}, "first")
    secret = git_http.password if credential == "password" else git_http.token
    git = GitResource(cache_dir=tmp_path / "cache")
    src = source(git_http, git_repo, secret)
    assert await git.check(src, None, log=log) == [{"ref": first}]
    work = tmp_path / "work"
    await git.get(src, {"ref": first}, {}, work / "repo", log=log)
    (work / "repo" / "app.txt").write_text("2")
    plain_git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "over https",
              cwd=work / "repo")
    pushed = await git.put(src, {"repository": "repo"}, work, log=log)
    bare = ["--git-dir", str(stack.git.repos / git_repo)]
    assert plain_git(*bare, "rev-parse", "refs/heads/main") == pushed.version["ref"]
    assert secret not in (work / "repo" / ".git" / "config").read_text()


@pytest.mark.parametrize("password", ["", "wrong-password"])
async def test_git_over_https_without_the_right_credentials_says_so(
        stack: devstack.StackInfo, git_http: GitHttp, git_repo: str, tmp_path: Path,
        password: str) -> None:
    Seed(stack, git_repo, tmp_path / "seed").commit({"app.txt": "1"}, "first")
    src = source(git_http, git_repo, password)
    if not password:
        del src["username"], src["password"]
    with pytest.raises(ResourceError, match="authentication") as e:
        await GitResource(cache_dir=tmp_path / "cache").check(src, None, log=log)
    assert git_http.password not in str(e.value)
    if password:
        assert password not in str(e.value)


async def test_semver_bumps_over_the_stacks_https_endpoint(
        stack: devstack.StackInfo, git_http: GitHttp, git_repo: str, tmp_path: Path) -> None:
    Seed(stack, git_repo, tmp_path / "seed").commit({"version": "1.0.0"}, "first")
    src = {**source(git_http, git_repo, git_http.password), "driver": "git",
           "file": "version"}
    semver = SemverResource(scratch=tmp_path)
    assert await semver.check(src, None, log=log) == [{"number": "1.0.0"}]
    done = await semver.put(src, {"bump": "patch"}, tmp_path, log=log)
    assert done.version == {"number": "1.0.1"}
    bare = ["--git-dir", str(stack.git.repos / git_repo)]
    assert plain_git(*bare, "show", "main:version") == "1.0.1"
