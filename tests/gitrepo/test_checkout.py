"""Checkout against the stack's real Git server: git://, ssh with deploy keys, file://."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from headwater.devstack import StackInfo
from headwater.gitrepo import Checkout, GitAuth, GitError
from tests.gitseed import Seed, plain_git, server_tag

HEX40 = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture
def seed(stack: StackInfo, git_repo: str, tmp_path: Path) -> Seed:
    return Seed(stack, git_repo, tmp_path / "seed")


def _deploy(stack: StackInfo) -> GitAuth:
    return GitAuth(ssh_key=stack.git.deploy_key, known_hosts=stack.git.known_hosts)


async def test_clone_then_fetch_picks_up_a_new_commit_and_its_changed_paths(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    first = seed.commit({"a.yaml": "a: 1\n", "b.yaml": "b: 1\n", "dir/c.yaml": "c: 1\n"})
    wc = Checkout(stack.git.git_url(git_repo), "main", tmp_path / "wc")
    assert await wc.sync() == first
    assert HEX40.match(first)
    assert (wc.path / "dir" / "c.yaml").read_text() == "c: 1\n"

    second = seed.commit({"a.yaml": "a: 2\n", "b.yaml": None, "dir/d.yaml": "d: 1\n"})
    # Local damage that sync must undo: an edit, an untracked file, an ignored-looking one.
    (wc.path / "dir" / "c.yaml").write_text("edited\n")
    (wc.path / "junk.txt").write_text("junk\n")
    assert await wc.sync() == second
    assert await wc.head() == second
    assert sorted(await wc.changed_paths(first, second)) == ["a.yaml", "b.yaml", "dir/d.yaml"]
    assert (wc.path / "a.yaml").read_text() == "a: 2\n"
    assert not (wc.path / "b.yaml").exists()
    assert (wc.path / "dir" / "c.yaml").read_text() == "c: 1\n"
    assert not (wc.path / "junk.txt").exists()


async def test_a_sync_without_new_commits_keeps_the_revision(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    rev = seed.commit({"a.yaml": "a: 1\n"})
    wc = Checkout(stack.git.git_url(git_repo), "main", tmp_path / "wc")
    assert await wc.sync() == rev
    assert await wc.sync() == rev
    assert await wc.changed_paths(rev, rev) == []


async def test_move_tag_over_ssh_with_the_deploy_key_moves_the_servers_tag(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    first = seed.commit({"a.yaml": "a: 1\n"})
    wc = Checkout(stack.git.ssh_url(git_repo), "main", tmp_path / "wc", auth=_deploy(stack),
                  user="Sync Bot", email="bot@example.com")
    assert await wc.sync() == first
    assert await wc.remote_tag("flux-sync") is None

    await wc.move_tag("flux-sync", first)
    assert server_tag(stack, git_repo, "flux-sync") == ("tag", first)  # annotated, peeled
    assert await wc.remote_tag("flux-sync") == first
    tagger = plain_git("--git-dir", str(stack.git.repos / git_repo), "for-each-ref",
                       "--format=%(taggername) %(taggeremail) %(contents:subject)",
                       "refs/tags/flux-sync")
    assert tagger == "Sync Bot <bot@example.com> Sync pointer"

    second = seed.commit({"a.yaml": "a: 2\n"})
    assert await wc.sync() == second
    await wc.move_tag("flux-sync", second, message="synced")
    assert server_tag(stack, git_repo, "flux-sync") == ("tag", second)
    assert await wc.remote_tag("flux-sync") == second


async def test_the_read_only_key_syncs_but_moving_a_tag_is_refused(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    rev = seed.commit({"a.yaml": "a: 1\n"})
    auth = GitAuth(ssh_key=stack.git.readonly_key, known_hosts=stack.git.known_hosts)
    wc = Checkout(stack.git.ssh_url(git_repo), "main", tmp_path / "wc", auth=auth)
    assert await wc.sync() == rev
    with pytest.raises(GitError) as refused:
        await wc.move_tag("flux-sync", rev)
    assert "this key is read-only" in str(refused.value)
    assert "git push of tag 'flux-sync'" in str(refused.value)
    assert stack.git.ssh_url(git_repo) in str(refused.value)
    assert server_tag(stack, git_repo, "flux-sync") is None


async def test_without_known_hosts_the_host_key_is_learnt_next_to_the_working_copy(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    rev = seed.commit({"a.yaml": "a: 1\n"})
    wc = Checkout(stack.git.ssh_url(git_repo), "main", tmp_path / "wc",
                  auth=GitAuth(ssh_key=stack.git.deploy_key))
    assert await wc.sync() == rev
    learnt = (tmp_path / "wc.known_hosts").read_text().split()
    served = stack.git.known_hosts.read_text().split()
    assert learnt[1:3] == served[1:3]  # the server's key type and key


@pytest.mark.parametrize("form", ["file-url", "plain-path"])
async def test_a_local_bare_repository_works_by_file_url_and_by_path(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path, form: str
) -> None:
    rev = seed.commit({"a.yaml": "a: 1\n"})
    bare = stack.git.repos / git_repo
    url = bare.as_uri() if form == "file-url" else str(bare)
    wc = Checkout(url, "main", tmp_path / "wc")
    assert await wc.sync() == rev
    await wc.move_tag("flux-sync", rev)
    assert server_tag(stack, git_repo, "flux-sync") == ("tag", rev)
    assert await wc.sync() == rev  # the second sync fetches: the clone was recognised


async def test_a_missing_branch_is_named_in_the_error(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    seed.commit({"a.yaml": "a: 1\n"})
    url = stack.git.git_url(git_repo)
    with pytest.raises(GitError, match=r"'release-9' of git://") as missing:
        await Checkout(url, "release-9", tmp_path / "clone").sync()
    assert "Remote branch release-9 not found" in str(missing.value)

    # The same once a clone exists and the branch is fetched.
    wc = Checkout(url, "main", tmp_path / "wc")
    await wc.sync()
    plain_git("--git-dir", str(stack.git.repos / git_repo), "branch", "-m", "main", "moved")
    with pytest.raises(GitError, match=r"git fetch of branch 'main'.*refs/heads/main"):
        await wc.sync()


async def test_an_empty_repository_has_no_branch_to_sync(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    with pytest.raises(GitError, match=r"branch 'main'.*Remote branch main not found"):
        await Checkout(stack.git.git_url(git_repo), "main", tmp_path / "wc").sync()


async def test_a_clone_of_another_remote_is_replaced(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    rev = seed.commit({"a.yaml": "a: 1\n"})
    other = tmp_path / "other.git"
    plain_git("init", "-q", "--bare", "--initial-branch=main", str(other))
    plain_git("push", "-q", str(other), "HEAD:main", cwd=seed.work)
    seed.commit({"only-upstream.yaml": "x: 1\n"})
    directory = tmp_path / "wc"
    assert await Checkout(str(other), "main", directory).sync() == rev

    wc = Checkout(stack.git.git_url(git_repo), "main", directory)
    latest = await wc.sync()
    assert latest != rev
    assert (directory / "only-upstream.yaml").exists()
    origin = plain_git("config", "--get", "remote.origin.url", cwd=directory)
    assert origin == stack.git.git_url(git_repo)


async def test_a_directory_that_is_not_a_clone_is_left_alone(
    stack: StackInfo, git_repo: str, seed: Seed, tmp_path: Path
) -> None:
    seed.commit({"a.yaml": "a: 1\n"})
    (tmp_path / "wc").mkdir()
    (tmp_path / "wc" / "precious.txt").write_text("mine\n")
    with pytest.raises(GitError, match="already exists and is not an empty directory"):
        await Checkout(stack.git.git_url(git_repo), "main", tmp_path / "wc").sync()
    assert (tmp_path / "wc" / "precious.txt").read_text() == "mine\n"


@pytest.mark.parametrize("name", ["-x", "a..b", "a b", "a:b", "refs/x^{}", ""])
def test_invalid_branch_and_tag_names_are_refused_before_git_runs(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(GitError, match="not a valid git ref name"):
        Checkout("git://127.0.0.1:1/x.git", name, tmp_path / "wc")


async def test_an_invalid_tag_name_is_refused(tmp_path: Path) -> None:
    wc = Checkout("git://127.0.0.1:1/x.git", "main", tmp_path / "wc")
    with pytest.raises(GitError, match=r"tag name '--delete'"):
        await wc.move_tag("--delete", "HEAD")
