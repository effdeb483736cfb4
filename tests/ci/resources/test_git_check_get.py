"""The git resource's check and get against real repositories made in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.resources import gitcheck, gitget
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.git import GitResource
from tests.ci.resources.gitrepos import Upstream
from tests.gitseed import plain_git


async def log(_: str) -> None:
    pass


@pytest.fixture
def up(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "up")


@pytest.fixture
def git(tmp_path: Path) -> GitResource:
    return GitResource(cache_dir=tmp_path / "cache")


def refs(versions: list[dict[str, str]]) -> list[str]:
    return [v["ref"] for v in versions]


async def test_first_check_answers_only_the_newest_commit(up: Upstream,
                                                          git: GitResource) -> None:
    up.commit({"a": "1"})
    newest = up.commit({"a": "2"})
    assert await git.check({"uri": up.uri, "branch": "main"}, None, log=log) == [
        {"ref": newest}]


async def test_check_lists_new_commits_oldest_first_from_the_last_version(
        up: Upstream, git: GitResource, tmp_path: Path) -> None:
    src = {"uri": up.uri, "branch": "main"}
    first = up.commit({"a": "1"})
    assert refs(await git.check(src, None, log=log)) == [first]
    second, third = up.commit({"a": "2"}), up.commit({"a": "3"})
    assert refs(await git.check(src, {"ref": first}, log=log)) == [first, second, third]
    # nothing new: the last version only, from the cached clone
    assert refs(await git.check(src, {"ref": third}, log=log)) == [third]
    cached = [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(cached) == 1, cached  # one bare repository for the source, reused


async def test_the_first_commit_as_version_lists_the_whole_history(
        up: Upstream, git: GitResource) -> None:
    root = up.commit({"a": "1"})
    nxt = up.commit({"a": "2"})
    assert refs(await git.check({"uri": up.uri}, {"ref": root}, log=log)) == [root, nxt]


async def test_a_version_pushed_away_restarts_from_the_newest(up: Upstream,
                                                              git: GitResource,
                                                              tmp_path: Path) -> None:
    up.commit({"a": "1"})
    gone = "0" * 40
    newest = up.commit({"a": "2"})
    assert refs(await git.check({"uri": up.uri}, {"ref": gone}, log=log)) == [newest]


async def test_ci_skip_commits_are_not_versions_unless_disabled(up: Upstream,
                                                                git: GitResource) -> None:
    first = up.commit({"a": "1"})
    up.commit({"a": "2"}, "release 1.0.1\n\n[ci skip]")
    up.commit({"a": "3"}, "[skip ci] docs")
    src: dict[str, Any] = {"uri": up.uri, "branch": "main"}
    assert refs(await git.check(src, None, log=log)) == [first]
    assert refs(await git.check(src, {"ref": first}, log=log)) == [first]
    everything = await git.check({**src, "disable_ci_skip": True}, {"ref": first}, log=log)
    assert len(everything) == 3


async def test_paths_and_ignore_paths_filter_commits(up: Upstream, git: GitResource) -> None:
    base = up.commit({"src/a.py": "1", "docs/x.md": "1"})
    code = up.commit({"src/a.py": "2"})
    up.commit({"docs/x.md": "2"})
    up.commit({"src/README.md": "2"})
    src = {"uri": up.uri, "paths": ["src/"], "ignore_paths": ["src/*.md"]}
    assert refs(await git.check(src, {"ref": base}, log=log)) == [base, code]
    assert refs(await git.check(src, None, log=log)) == [code]


async def test_commit_filter_exclude_and_include(up: Upstream, git: GitResource) -> None:
    base = up.commit(message="feat: base")
    up.commit(message="WIP: nothing yet")
    feat = up.commit(message="feat: done")
    up.commit(message="chore: tidy")
    src = {"uri": up.uri, "commit_filter": {"exclude": ["^WIP"], "include": ["^feat"]}}
    assert refs(await git.check(src, {"ref": base}, log=log)) == [base, feat]


async def test_tag_filter_versions_are_tags(up: Upstream, git: GitResource) -> None:
    c1 = up.commit({"a": "1"})
    up.tag("v1.0.0")
    up.commit({"a": "2"})
    up.tag("other")
    c3 = up.commit({"a": "3"})
    up.tag("v1.1.0", "annotated")
    src = {"uri": up.uri, "branch": "main", "tag_filter": "v*"}
    assert await git.check(src, None, log=log) == [{"ref": "v1.1.0", "commit": c3}]
    regex = {"uri": up.uri, "tag_regex": r"v[0-9]+\.0\.0"}
    assert await git.check(regex, None, log=log) == [{"ref": "v1.0.0", "commit": c1}]


async def test_get_clones_the_version_and_writes_git_resource_files(
        up: Upstream, git: GitResource, tmp_path: Path) -> None:
    older = up.commit({"app.txt": "one"}, "first line\n\nbody")
    up.tag("v0.1", "annotated: git describe uses it")
    up.commit({"app.txt": "two"})
    dest = tmp_path / "repo"
    fetched = await git.get({"uri": up.uri, "branch": "main"}, {"ref": older},
                            {"short_ref_format": "build-%s"}, dest, log=log)
    assert fetched.version == {"ref": older}
    assert (dest / "app.txt").read_text() == "one"
    meta = {m.name: m.value for m in fetched.metadata}
    assert meta["commit"] == older
    assert meta["author"] == "Test"
    assert meta["committer"] == "Test"
    assert meta["tags"] == "v0.1"
    assert meta["message"] == "first line\n\nbody\n"
    assert "branch" not in meta  # main is ahead of this version
    files = dest / ".git"
    assert (files / "ref").read_text() == older + "\n"
    assert (files / "short_ref").read_text() == f"build-{older[:7]}"
    assert (files / "commit_message").read_text() == "first line\n\nbody\n"
    assert (files / "committer").read_text() == "t@example.com"
    assert (files / "committer_name").read_text() == "Test"
    assert (files / "describe_ref").read_text() == "v0.1\n"
    assert (files / "tags").read_text() == "v0.1\n"
    assert (files / "commit").read_text() == older + "\n"
    assert json.loads((files / "metadata.json").read_text())[0] == {
        "name": "commit", "value": older}
    assert plain_git("rev-parse", "HEAD", cwd=dest) == older


async def test_get_of_the_tip_names_the_branch(up: Upstream, git: GitResource,
                                               tmp_path: Path) -> None:
    tip = up.commit({"a": "1"})
    fetched = await git.get({"uri": up.uri}, {"ref": tip}, {}, tmp_path / "d", log=log)
    assert {m.name: m.value for m in fetched.metadata}["branch"] == "main"
    assert (tmp_path / "d" / ".git" / "branch").read_text() == "main\n"


async def test_get_with_depth_deepens_until_the_version_is_there(
        up: Upstream, git: GitResource, tmp_path: Path) -> None:
    up.commit({"a": "root"})
    old = up.commit({"a": "0"})
    for i in range(5):
        up.commit({"a": str(i + 1)})
    dest = tmp_path / "shallow"
    await git.get({"uri": up.uri, "branch": "main"}, {"ref": old}, {"depth": 1}, dest,
                  log=log)
    assert plain_git("rev-parse", "HEAD", cwd=dest) == old
    assert (dest / ".git" / "shallow").exists()  # deepened, not the whole history


async def test_get_of_a_version_that_is_gone_says_so(up: Upstream, git: GitResource,
                                                     tmp_path: Path) -> None:
    up.commit({"a": "1"})
    with pytest.raises(ResourceError, match=r"version 0{40} is not in branch 'main'"):
        await git.get({"uri": up.uri, "branch": "main"}, {"ref": "0" * 40}, {},
                      tmp_path / "d", log=log)


async def test_an_unreachable_repository_fails_naming_it(git: GitResource,
                                                         tmp_path: Path) -> None:
    missing = f"file://{tmp_path}/nowhere.git"
    with pytest.raises(ResourceError) as info:
        await git.check({"uri": missing}, None, log=log)
    assert f"git resource ({missing})" in str(info.value)
    assert "does not appear to be a git repository" in str(info.value)


async def test_commit_messages_a_pusher_made_huge_are_refused_not_loaded(
        up: Upstream, git: GitResource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitcheck, "MAX_LOG_BYTES", 10_000)
    monkeypatch.setattr(gitget, "MAX_FIELD", 10_000)
    big = up.commit({"a": "1"}, "m" * 20_000)
    with pytest.raises(ResourceError, match="its output is over 10000 bytes"):
        await git.check({"uri": up.uri, "branch": "main"}, None, log=log)
    with pytest.raises(ResourceError, match="its output is over 10000 bytes"):
        await git.get({"uri": up.uri, "branch": "main"}, {"ref": big}, {}, tmp_path / "dest",
                      log=log)


async def test_a_missing_branch_fails_naming_it(up: Upstream, git: GitResource) -> None:
    up.commit({"a": "1"})
    with pytest.raises(ResourceError, match="couldn't find remote ref refs/heads/nope"):
        await git.check({"uri": up.uri, "branch": "nope"}, None, log=log)


async def test_a_git_config_that_runs_a_program_is_refused_before_git_runs(
        up: Upstream, git: GitResource, tmp_path: Path) -> None:
    up.commit({"a": "1"})
    marker = tmp_path / "pwned"
    for name in ("core.fsmonitor", "core.sshCommand", "core.hooksPath", "credential.helper"):
        src = {"uri": up.uri, "git_config": [{"name": name, "value": f"touch {marker}"}]}
        with pytest.raises(ResourceError, match="is not allowed"):
            await git.get(src, {"ref": up.head()}, {}, tmp_path / "d", log=log)
    assert not marker.exists()


async def test_allowed_git_config_reaches_git(up: Upstream, git: GitResource,
                                              tmp_path: Path) -> None:
    up.commit({"a.txt": "x\n"})
    src = {"uri": up.uri, "git_config": [{"name": "core.autocrlf", "value": "true"}]}
    dest = tmp_path / "d"
    await git.get(src, {"ref": up.head()}, {}, dest, log=log)
    assert (dest / "a.txt").read_bytes() == b"x\r\n"


async def test_check_leaves_no_file_outside_its_cache(up: Upstream, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    git = GitResource(cache_dir=tmp_path / "cache", scratch=scratch)
    up.commit({"a": "1"})
    await git.check({"uri": up.uri}, None, log=log)
    await git.get({"uri": up.uri}, {"ref": up.head()}, {}, tmp_path / "d", log=log)
    assert os.listdir(scratch) == []


async def test_a_cache_left_locked_by_a_killed_fetch_is_made_again(
        up: Upstream, git: GitResource, tmp_path: Path) -> None:
    src = {"uri": up.uri, "branch": "main"}
    up.commit({"a": "1"})
    await git.check(src, None, log=log)
    [cache] = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    (cache / "refs" / "heads" / "main.lock").write_text("")  # as a git killed mid-fetch
    newest = up.commit({"a": "2"})
    assert refs(await git.check(src, None, log=log)) == [newest]


async def test_get_of_a_tag_version_checks_out_the_tag(up: Upstream, git: GitResource,
                                                       tmp_path: Path) -> None:
    tagged = up.commit({"a": "1"})
    up.tag("v1.0.0", "first release")
    up.commit({"a": "2"})
    src = {"uri": up.uri, "branch": "main", "tag_filter": "v*"}
    [version] = await git.check(src, None, log=log)
    assert version == {"ref": "v1.0.0", "commit": tagged}
    dest = tmp_path / "d"
    fetched = await git.get(src, version, {}, dest, log=log)
    assert fetched.version == {"ref": "v1.0.0"}
    assert plain_git("rev-parse", "HEAD", cwd=dest) == tagged
    assert (dest / ".git" / "describe_ref").read_text() == "v1.0.0\n"


async def test_get_updates_submodules_unless_told_not_to(
        up: Upstream, git: GitResource, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # git refuses file:// submodules by default (protocol.file.allow=user); this test's
    # own global config allows them, as an https or ssh submodule would be.
    config = tmp_path / "gitconfig"
    config.write_text("[protocol \"file\"]\n\tallow = always\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    lib = Upstream(tmp_path / "lib")
    lib.commit({"lib.txt": "library"})
    plain_git("-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.uri, "vendor/lib",
              cwd=up.work)
    up.commit(message="add the library")
    src = {"uri": up.uri, "branch": "main"}
    await git.get(src, {"ref": up.head()}, {}, tmp_path / "with", log=log)
    assert (tmp_path / "with" / "vendor" / "lib" / "lib.txt").read_text() == "library"
    await git.get(src, {"ref": up.head()}, {"submodules": "none"}, tmp_path / "without",
                  log=log)
    assert not (tmp_path / "without" / "vendor" / "lib" / "lib.txt").exists()
