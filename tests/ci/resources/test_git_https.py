"""The git resource over smart HTTP(S) with `username`/`password`, against the real
`git http-backend` behind basic auth (tests/ci/resources/httpgit.py)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.git import GitResource
from tests.ci.resources.gitrepos import Upstream
from tests.ci.resources.httpgit import _Server, http_git, self_signed
from tests.gitseed import plain_git

PASSWORD = "s3cret-pa55word"  # the test server's


async def log(_: str) -> None:
    pass


@pytest.fixture
def up(tmp_path: Path) -> Upstream:
    upstream = Upstream(tmp_path / "up")
    upstream.commit({"app.txt": "1"})
    return upstream


@pytest.fixture
def https(up: Upstream, tmp_path: Path) -> Iterator[_Server]:
    with http_git(up.bare.parent, username="ci", password=PASSWORD,
                  cert=self_signed(tmp_path)) as server:
        yield server


def url(server: _Server, up: Upstream, scheme: str = "https") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}/{up.bare.name}"


async def test_check_get_put_over_https_with_username_and_password(
        up: Upstream, https: _Server, tmp_path: Path) -> None:
    git = GitResource(cache_dir=tmp_path / "cache")
    src: dict[str, Any] = {"uri": url(https, up), "branch": "main", "username": "ci",
                           "password": PASSWORD, "skip_ssl_verification": True}
    assert await git.check(src, None, log=log) == [{"ref": up.head()}]
    work = tmp_path / "work"
    await git.get(src, {"ref": up.head()}, {}, work / "repo", log=log)
    (work / "repo" / "app.txt").write_text("2")
    plain_git("commit", "-qam", "over https", cwd=work / "repo")
    fetched = await git.put(src, {"repository": "repo"}, work, log=log)
    assert up.head() == fetched.version["ref"]
    assert PASSWORD not in (work / "repo" / ".git" / "config").read_text()


async def test_a_wrong_password_fails_without_showing_it(
        up: Upstream, https: _Server, tmp_path: Path) -> None:
    git = GitResource(cache_dir=tmp_path / "cache")
    wrong = "not-the-password-123"
    src = {"uri": url(https, up), "username": "ci", "password": wrong,
           "skip_ssl_verification": True}
    with pytest.raises(ResourceError) as info:
        await git.check(src, None, log=log)
    message = str(info.value)
    assert f"git resource ({url(https, up)})" in message
    assert "the server refused source.username/source.password" in message
    assert wrong not in message
    assert https.refused


async def test_an_untrusted_certificate_is_refused_unless_skip_ssl_verification(
        up: Upstream, https: _Server, tmp_path: Path) -> None:
    git = GitResource(cache_dir=tmp_path / "cache")
    src = {"uri": url(https, up), "username": "ci", "password": PASSWORD}
    with pytest.raises(ResourceError, match="set skip_ssl_verification: true"):
        await git.check(src, None, log=log)


async def test_a_password_in_the_uri_is_hidden_in_errors(tmp_path: Path) -> None:
    git = GitResource(cache_dir=tmp_path / "cache")
    uri = "https://ci:hunter2-in-url@127.0.0.1:1/nothing.git"
    with pytest.raises(ResourceError) as info:
        await git.check({"uri": uri}, None, log=log)
    assert "hunter2-in-url" not in str(info.value)
    assert "https://ci:***@127.0.0.1:1/nothing.git" in str(info.value)


async def test_a_check_with_nothing_new_costs_what_ls_remote_costs(
        up: Upstream, https: _Server, tmp_path: Path) -> None:
    git = GitResource(cache_dir=tmp_path / "cache")
    src = {"uri": url(https, up), "branch": "main", "username": "ci", "password": PASSWORD,
           "skip_ssl_verification": True}
    [version] = await git.check(src, None, log=log)
    before = https.served
    assert await git.check(src, version, log=log) == [version]
    check_requests = https.served - before

    before = https.served
    basic = base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
    plain_git("-c", f"http.extraHeader=Authorization: Basic {basic}", "-c", "http.sslVerify=false",
              "ls-remote", url(https, up), "refs/heads/main")
    assert check_requests == https.served - before

    newer = up.commit({"app.txt": "2"})
    assert await git.check(src, version, log=log) == [version, {"ref": newer}]


async def test_a_refused_push_over_https_names_the_remote_not_the_password(
        up: Upstream, https: _Server, tmp_path: Path) -> None:
    hook = up.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    git = GitResource(cache_dir=tmp_path / "cache")
    src = {"uri": url(https, up), "branch": "main", "username": "ci", "password": PASSWORD,
           "skip_ssl_verification": True}
    work = tmp_path / "work"
    await git.get(src, {"ref": up.head()}, {}, work / "repo", log=log)
    plain_git("commit", "-q", "--allow-empty", "-m", "try", cwd=work / "repo")
    with pytest.raises(ResourceError) as info:
        await git.put(src, {"repository": "repo"}, work, log=log)
    message = str(info.value)
    assert f"push refused by {url(https, up)}" in message
    assert "branch main is protected" in message
    assert PASSWORD not in message
    assert base64.b64encode(f"ci:{PASSWORD}".encode()).decode() not in message
