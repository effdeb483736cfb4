"""The git resource's put: strategies against a real bare repository, and the
confinement of `params.repository`, a directory a hostile task wrote."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.git import GitResource
from tests.ci.resources.gitrepos import Upstream
from tests.gitseed import plain_git


async def log(_: str) -> None:
    pass


@pytest.fixture
def up(tmp_path: Path) -> Upstream:
    upstream = Upstream(tmp_path / "up")
    upstream.commit({"app.txt": "1"}, "initial")
    return upstream


@pytest.fixture
def git(tmp_path: Path) -> GitResource:
    return GitResource(cache_dir=tmp_path / "cache")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The put's work dir: the build's artifacts, copied under their names."""
    directory = tmp_path / "put"
    directory.mkdir()
    return directory


def task_commit(up: Upstream, workdir: Path, name: str = "out",
                message: str = "bump") -> str:
    """What a task does: clone, commit, leave the clone as an output."""
    repo = workdir / name
    plain_git("clone", "-q", str(up.bare), str(repo))
    (repo / "version").write_text(message)
    plain_git("add", "-A", cwd=repo)
    plain_git("commit", "-q", "-m", message, cwd=repo)
    return plain_git("rev-parse", "HEAD", cwd=repo)


async def test_put_pushes_the_commit_and_a_prefixed_annotated_tag(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    commit = task_commit(up, workdir)
    (workdir / "tagfile").write_text("1.0.1\n")
    (workdir / "notes").write_text("release notes")
    fetched = await git.put({"uri": up.uri, "branch": "main"},
                            {"repository": "out", "tag": "tagfile", "tag_prefix": "v",
                             "annotate": "notes"}, workdir, log=log)
    assert fetched.version == {"ref": commit}
    assert up.head() == commit
    assert plain_git("--git-dir", str(up.bare), "cat-file", "-t", "v1.0.1") == "tag"
    assert plain_git("--git-dir", str(up.bare), "rev-parse", "v1.0.1^{commit}") == commit
    meta = {m.name: m.value for m in fetched.metadata}
    assert meta["tags"] == "v1.0.1"
    assert meta["branch"] == "main"


async def test_a_push_refused_because_the_branch_moved_says_so(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    task_commit(up, workdir)
    up.commit({"other.txt": "someone else"})
    with pytest.raises(ResourceError) as info:
        await git.put({"uri": up.uri, "branch": "main"}, {"repository": "out"}, workdir,
                      log=log)
    message = str(info.value)
    assert f"push refused by {up.uri}" in message
    assert "rejected" in message and "rebase: true" in message


async def test_rebase_puts_the_commit_on_top_of_the_moved_branch(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    task_commit(up, workdir)
    theirs = up.commit({"other.txt": "someone else"})
    fetched = await git.put({"uri": up.uri, "branch": "main"},
                            {"repository": "out", "rebase": True}, workdir, log=log)
    assert up.head() == fetched.version["ref"]
    assert plain_git("--git-dir", str(up.bare), "rev-parse", "main~1") == theirs
    assert plain_git("--git-dir", str(up.bare), "log", "-1", "--format=%s") == "bump"


async def test_merge_returns_the_merge_or_the_unmerged_commit(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    mine = task_commit(up, workdir)
    up.commit({"other.txt": "someone else"})
    fetched = await git.put({"uri": up.uri, "branch": "main"},
                            {"repository": "out", "merge": True, "returning": "unmerged"},
                            workdir, log=log)
    assert fetched.version == {"ref": mine}
    parents = plain_git("--git-dir", str(up.bare), "log", "-1", "--format=%P").split()
    assert mine in parents and len(parents) == 2


async def test_only_tag_pushes_a_tag_and_leaves_the_branch(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    before = up.head()
    commit = task_commit(up, workdir)
    (workdir / "name").write_text("rc1")
    await git.put({"uri": up.uri}, {"repository": "out", "only_tag": True, "tag": "name"},
                  workdir, log=log)
    assert up.head() == before
    assert plain_git("--git-dir", str(up.bare), "rev-parse", "rc1^{commit}") == commit


async def test_branch_param_pushes_elsewhere_and_is_in_the_version(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    commit = task_commit(up, workdir)
    fetched = await git.put({"uri": up.uri, "branch": "main"},
                            {"repository": "out", "branch": "feature"}, workdir, log=log)
    assert fetched.version == {"branch": "feature", "ref": commit}
    assert up.head("feature") == commit
    # and a get of that version clones that branch
    dest = workdir.parent / "got"
    await git.get({"uri": up.uri, "branch": "main"}, fetched.version, {}, dest, log=log)
    assert plain_git("rev-parse", "HEAD", cwd=dest) == commit


async def test_a_missing_tag_file_fails_naming_it(up: Upstream, git: GitResource,
                                                  workdir: Path) -> None:
    task_commit(up, workdir)
    with pytest.raises(ResourceError, match="tag file 'version/number' does not exist"):
        await git.put({"uri": up.uri, "branch": "main"},
                      {"repository": "out", "tag": "version/number"}, workdir, log=log)


async def test_a_pre_receive_refusal_fails_with_the_servers_words(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    hook = up.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: ask an admin' >&2\nexit 1\n")
    hook.chmod(0o755)
    task_commit(up, workdir)
    with pytest.raises(ResourceError) as info:
        await git.put({"uri": up.uri, "branch": "main"}, {"repository": "out"}, workdir,
                      log=log)
    assert "protected branch: ask an admin" in str(info.value)
    assert "pre-receive hook declined" in str(info.value)


# -- the repository is a hostile task's ---------------------------------------------


def pwned(directory: Path, *, remove: bool = False) -> list[Path]:
    """The markers the attack's programs leave, when they run."""
    found = list(directory.glob("pwned-*"))
    for path in found if remove else []:
        path.unlink()
    return found


async def test_the_tasks_git_config_and_hooks_never_run(up: Upstream, git: GitResource,
                                                        workdir: Path,
                                                        tmp_path: Path) -> None:
    commit = task_commit(up, workdir)
    repo = workdir / "out"
    marker = tmp_path / "pwned"
    for key in ("core.fsmonitor", "core.sshCommand", "core.pager", "core.hooksPath"):
        plain_git("config", key, f"touch {marker}-{key}", cwd=repo)
    plain_git("config", "uploadpack.packObjectsHook", f"touch {marker}-hook", cwd=repo)
    for hook in ("pre-push", "post-checkout", "reference-transaction", "pre-commit"):
        path = repo / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\ntouch {marker}-{hook}\n")
        path.chmod(0o755)
    # the same config by hand in a plain git: it runs (the attack is real)
    plain_git("status", cwd=repo)
    assert pwned(tmp_path, remove=True), "the fsmonitor attack works on plain git"

    await git.put({"uri": up.uri, "branch": "main"}, {"repository": "out", "rebase": True},
                  workdir, log=log)
    assert up.head() == commit
    assert not pwned(tmp_path)


async def test_a_git_dir_linked_to_another_repository_is_refused(
        up: Upstream, git: GitResource, workdir: Path, tmp_path: Path) -> None:
    secret = Upstream(tmp_path / "secret")
    secret_commit = secret.commit({"key": "private"}, "host secret")
    repo = workdir / "out"
    repo.mkdir()
    os.symlink(secret.work / ".git", repo / ".git")
    with pytest.raises(ResourceError, match=r"\.git is not a directory"):
        await git.put({"uri": up.uri, "branch": "main"}, {"repository": "out"}, workdir,
                      log=log)
    assert up.head() != secret_commit


async def test_links_inside_the_git_dir_are_refused(up: Upstream, git: GitResource,
                                                    workdir: Path, tmp_path: Path) -> None:
    secret = Upstream(tmp_path / "secret")
    secret.commit({"key": "private"}, "host secret")
    task_commit(up, workdir)
    objects = workdir / "out" / ".git" / "objects"
    os.rename(objects, objects.with_name("objects.old"))
    os.symlink(secret.work / ".git" / "objects", objects)
    with pytest.raises(ResourceError, match=r"\.git/objects is a symbolic link"):
        await git.put({"uri": up.uri, "branch": "main"}, {"repository": "out"}, workdir,
                      log=log)


async def test_alternates_are_refused(up: Upstream, git: GitResource, workdir: Path,
                                      tmp_path: Path) -> None:
    secret = Upstream(tmp_path / "secret")
    secret.commit({"key": "private"}, "host secret")
    task_commit(up, workdir)
    info = workdir / "out" / ".git" / "objects" / "info"
    info.mkdir(exist_ok=True)
    (info / "alternates").write_text(f"{secret.work / '.git' / 'objects'}\n")
    with pytest.raises(ResourceError, match="alternates points git at other object stores"):
        await git.put({"uri": up.uri, "branch": "main"}, {"repository": "out"}, workdir,
                      log=log)


@pytest.mark.parametrize("repository", ["../up/seed", "/etc", "link"])
async def test_a_repository_outside_the_inputs_is_refused(
        up: Upstream, git: GitResource, workdir: Path, repository: str) -> None:
    os.symlink(up.work, workdir / "link")
    with pytest.raises(ResourceError, match=r"params\.repository .* is refused"):
        await git.put({"uri": up.uri, "branch": "main"}, {"repository": repository},
                      workdir, log=log)


async def test_a_tag_file_linked_out_of_the_inputs_is_refused(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    task_commit(up, workdir)
    os.symlink("/etc/hostname", workdir / "tagfile")
    with pytest.raises(ResourceError, match="tag file 'tagfile' is refused"):
        await git.put({"uri": up.uri, "branch": "main"},
                      {"repository": "out", "tag": "tagfile"}, workdir, log=log)


_MOVE_ONCE = """#!/bin/sh
# Someone else pushes while our push is in flight, once.
[ -e "$GIT_DIR/moved" ] && exit 0
touch "$GIT_DIR/moved"
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
tree=$(git rev-parse refs/heads/main^{tree})
new=$(GIT_AUTHOR_NAME=o GIT_AUTHOR_EMAIL=o@x GIT_COMMITTER_NAME=o GIT_COMMITTER_EMAIL=o@x \\
      git commit-tree -p refs/heads/main -m concurrent "$tree")
git update-ref refs/heads/main "$new"
"""


async def test_rebase_is_retried_when_the_branch_moves_during_the_push(
        up: Upstream, git: GitResource, workdir: Path) -> None:
    hook = up.bare / "hooks" / "pre-receive"
    hook.write_text(_MOVE_ONCE)
    hook.chmod(0o755)
    task_commit(up, workdir)
    fetched = await git.put({"uri": up.uri, "branch": "main"},
                            {"repository": "out", "rebase": True}, workdir, log=log)
    assert (up.bare / "moved").exists()  # the first push met the concurrent one
    assert up.head() == fetched.version["ref"]
    subjects = plain_git("--git-dir", str(up.bare), "log", "--format=%s", "main").split("\n")
    assert subjects[:3] == ["bump", "concurrent", "initial"]


async def test_force_replaces_a_branch_that_moved(up: Upstream, git: GitResource,
                                                  workdir: Path) -> None:
    mine = task_commit(up, workdir)
    up.commit({"other.txt": "someone else"})
    await git.put({"uri": up.uri, "branch": "main"}, {"repository": "out", "force": True},
                  workdir, log=log)
    assert up.head() == mine


async def test_a_shallow_get_can_be_pushed_back(up: Upstream, git: GitResource,
                                                workdir: Path) -> None:
    for i in range(3):
        up.commit({"app.txt": str(i)})
    repo = workdir / "repo"
    await git.get({"uri": up.uri, "branch": "main"}, {"ref": up.head()}, {"depth": 1}, repo,
                  log=log)
    (repo / "app.txt").write_text("from a shallow clone")
    plain_git("commit", "-qam", "shallow work", cwd=repo)
    fetched = await git.put({"uri": up.uri, "branch": "main"},
                            {"repository": "repo", "rebase": True}, workdir, log=log)
    assert up.head() == fetched.version["ref"]
    assert plain_git("--git-dir", str(up.bare), "show", "main:app.txt") == \
        "from a shallow clone"
