"""The `semver` resource's git driver against the stack's ssh git server, with the
deploy key given as `private_key` text, as a pipeline gives it: check, put, two puts
racing, a read-only key's refused push, the key never in any process's argv nor left on
disk, even when the put is cancelled mid-push."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.semver import SemverResource
from headwater.devstack import StackInfo
from tests.ci.resources.semverhelpers import (
    branch_file,
    branch_log,
    install_race_hook,
    push_branch,
    watch_argv,
)
from tests.ci.resources.test_script import Logs
from tests.gitseed import push_url

pytestmark = pytest.mark.stack


@pytest.fixture
def version_repo(stack: StackInfo, git_repo: str, tmp_path: Path) -> Path:
    """The stack's bare repository `git_repo`, its branch `version` holding 1.0.0."""
    push_branch(push_url(stack, git_repo), tmp_path / "seed", "version",
                {"version": "1.0.0\n"}, ssh_command=stack.git.ssh_command())
    return stack.git.repos / git_repo


def ssh_source(stack: StackInfo, repo: str, key: Path | None = None,
               **more: Any) -> dict[str, Any]:
    return {"driver": "git", "uri": push_url(stack, repo), "branch": "version",
            "file": "version", "private_key": (key or stack.git.deploy_key).read_text(),
            **more}


async def test_check_and_put_over_ssh_with_the_private_key_text(
        stack: StackInfo, git_repo: str, version_repo: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    semver = SemverResource(scratch=scratch)
    source = ssh_source(stack, git_repo)
    assert await semver.check(source, None, log=Logs()) == [{"number": "1.0.0"}]
    key_body = [line.encode() for line in source["private_key"].splitlines()
                if line and not line.startswith("-----")]
    fetched, seen, every = await watch_argv(
        key_body, semver.put(source, {"bump": "patch"}, tmp_path, log=Logs()))
    assert fetched.version == {"number": "1.0.1"}
    assert any(c.startswith(b"ssh\0") for c in every)  # the sampler saw git's ssh run
    assert seen == []  # and no argv held a line of the key
    assert branch_file(version_repo, "version", "version") == "1.0.1"
    assert list(scratch.iterdir()) == []  # clone, key file and learnt host keys gone


async def test_two_puts_over_ssh_at_once_both_land(
        stack: StackInfo, git_repo: str, version_repo: Path, tmp_path: Path) -> None:
    pushes = install_race_hook(version_repo, tmp_path / "marks")
    semver = SemverResource()
    source = ssh_source(stack, git_repo)
    a, b = await asyncio.gather(
        semver.put(source, {"bump": "minor"}, tmp_path, log=Logs()),
        semver.put(source, {"bump": "minor"}, tmp_path, log=Logs()))
    assert sorted([a.version["number"], b.version["number"]]) == ["1.1.0", "1.2.0"]
    assert branch_log(version_repo, "version")[:2] == ["bump to 1.2.0", "bump to 1.1.0"]
    assert pushes.read_text().splitlines() == ["refs/heads/version"] * 3


async def test_a_refused_push_names_the_branch_and_the_cause(
        stack: StackInfo, git_repo: str, version_repo: Path, tmp_path: Path) -> None:
    source = ssh_source(stack, git_repo, key=stack.git.readonly_key)
    # the read-only key may read...
    assert await SemverResource().check(source, None, log=Logs()) == [{"number": "1.0.0"}]
    # ...and its push is refused by the server, said as the server said it
    with pytest.raises(ResourceError) as e:
        await SemverResource().put(source, {"bump": "patch"}, tmp_path, log=Logs())
    message = str(e.value)
    assert message.startswith("semver: could not write the version to file 'version' on "
                              f"branch 'version' of {push_url(stack, git_repo)}: ")
    assert "this key is read-only" in message
    assert "PRIVATE KEY" not in message
    assert branch_file(version_repo, "version", "version") == "1.0.0"


async def test_a_put_cancelled_mid_push_leaves_no_key_nor_clone_behind(
        stack: StackInfo, git_repo: str, version_repo: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    pushes = install_race_hook(version_repo, marks)  # holds a lone push at the server
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    semver = SemverResource(scratch=scratch)
    put = asyncio.ensure_future(semver.put(ssh_source(stack, git_repo), {"bump": "patch"},
                                           tmp_path, log=Logs()))
    try:
        for _ in range(600):
            if pushes.exists():
                break
            await asyncio.sleep(0.05)
        assert pushes.exists(), "the push never reached the server"
        assert [p.name for p in (next(scratch.iterdir())).iterdir()].count("private-key") == 1
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put
    finally:
        (marks / "second").mkdir(exist_ok=True)  # let the held hook go
    assert list(scratch.iterdir()) == []
