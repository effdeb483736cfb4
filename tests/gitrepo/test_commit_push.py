"""Commits pushed by automation survive a human pushing at the same moment."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from headwater.devstack import StackInfo
from headwater.gitrepo import Checkout, GitError
from tests.gitseed import Seed, deploy_auth, plain_git, push_url


def _write(name: str, text: str):  # type: ignore[no-untyped-def]
    def edit(root: Path) -> list[str]:
        (root / name).write_text(text)
        return [name]
    return edit


async def test_an_edit_is_committed_and_pushed_with_our_identity(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    seed = Seed(stack, git_repo, tmp_path / "seed")
    seed.commit({"deploy.yml": "image: app:1.0.0\n"})
    co = Checkout(push_url(stack, git_repo), "main", tmp_path / "co",
                  auth=deploy_auth(stack), user="Weave Flux", email="support@weave.works")
    rev = await co.commit_and_push(_write("deploy.yml", "image: app:1.0.1\n"),
                                   message="Auto-release app:1.0.1\n\n[ci skip]")
    assert rev is not None
    bare = ["--git-dir", str(stack.git.repos / git_repo)]
    assert plain_git(*bare, "rev-parse", "main") == rev
    assert plain_git(*bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", "main") == (
        "Weave Flux <support@weave.works>|Weave Flux <support@weave.works>|"
        "Auto-release app:1.0.1\n\n[ci skip]")
    assert plain_git(*bare, "show", "main:deploy.yml") == "image: app:1.0.1"


async def test_an_edit_that_changes_nothing_commits_nothing(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    seed = Seed(stack, git_repo, tmp_path / "seed")
    before = seed.commit({"deploy.yml": "image: app:1.0.0\n"})
    co = Checkout(push_url(stack, git_repo), "main", tmp_path / "co", auth=deploy_auth(stack))
    assert await co.commit_and_push(_write("deploy.yml", "image: app:1.0.0\n"),
                                    message="noop") is None
    assert await co.commit_and_push(lambda root: [], message="noop") is None
    assert plain_git("--git-dir", str(stack.git.repos / git_repo), "rev-parse",
                     "main") == before


async def test_a_human_push_racing_ours_is_kept_and_our_edit_redone_on_top(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    seed = Seed(stack, git_repo, tmp_path / "seed")
    seed.commit({"deploy.yml": "image: app:1.0.0\n", "README": "v1\n"})
    co = Checkout(push_url(stack, git_repo), "main", tmp_path / "co", auth=deploy_auth(stack))
    calls: list[str] = []

    def edit(root: Path) -> list[str]:
        calls.append((root / "README").read_text())
        if len(calls) == 1:  # a human pushes after we read the head, before we push
            seed.commit({"README": "v2 by a human\n"}, message="human")
        (root / "deploy.yml").write_text("image: app:1.0.1\n")
        return ["deploy.yml"]

    rev = await co.commit_and_push(edit, message="Auto-release app:1.0.1")
    assert calls == ["v1\n", "v2 by a human\n"]  # redone on the new head
    bare = ["--git-dir", str(stack.git.repos / git_repo)]
    assert plain_git(*bare, "rev-parse", "main") == rev
    assert plain_git(*bare, "log", "--format=%s", "main").splitlines() == [
        "Auto-release app:1.0.1", "human", "change"]


async def test_a_push_that_keeps_losing_the_race_gives_up_after_its_attempts(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    seed = Seed(stack, git_repo, tmp_path / "seed")
    seed.commit({"n": "0\n"})
    co = Checkout(push_url(stack, git_repo), "main", tmp_path / "co", auth=deploy_auth(stack))
    count = 0

    def edit(root: Path) -> list[str]:
        nonlocal count
        count += 1
        seed.commit({"n": f"{count}\n"}, message=f"human {count}")
        (root / "ours").write_text("x\n")
        return ["ours"]

    with pytest.raises(GitError, match="git push"):
        await co.commit_and_push(edit, message="ours", attempts=2)
    assert count == 2


async def test_the_edit_runs_off_the_event_loop_which_keeps_serving_meanwhile(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    # Edits walk, parse and write manifests (verbs, automation): on the loop they would
    # stall the API and every other sync. Here the edit waits for the loop to run a
    # callback; on the loop it would wait in vain.
    seed = Seed(stack, git_repo, tmp_path / "seed")
    seed.commit({"deploy.yml": "image: app:1.0.0\n"})
    co = Checkout(push_url(stack, git_repo), "main", tmp_path / "co", auth=deploy_auth(stack))
    loop = asyncio.get_running_loop()
    served = threading.Event()
    seen: list[bool] = []

    def edit(root: Path) -> list[str]:
        loop.call_soon_threadsafe(served.set)
        seen.append(served.wait(timeout=30))
        (root / "deploy.yml").write_text("image: app:1.0.1\n")
        return ["deploy.yml"]

    assert await co.commit_and_push(edit, message="Auto-release app:1.0.1") is not None
    assert seen == [True]
