"""The built-in `git` resource through a real `headwater server`: a commit triggers
the job (its check runs from the server's cache), the task sees the clone and
git-resource's files, a put pushes what the task committed; `[ci skip]` triggers nothing."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ci.resources.gitrepos import Upstream
from tests.ci.server.conftest import Fly, Server, wait_for
from tests.gitseed import plain_git

PIPELINE = """
resources:
- name: repo
  type: git
  source: {{uri: "{uri}", branch: main}}
- name: published
  type: git
  source: {{uri: "{uri}", branch: published}}
- name: broken
  type: git
  source: {{uri: "{uri}-missing", branch: main}}
jobs:
- name: build
  plan:
  - get: repo
    trigger: true
  - task: stamp
    config:
      platform: linux
      inputs: [{{name: repo}}]
      outputs: [{{name: out}}]
      run:
        path: sh
        args:
        - -ec
        - |
          echo "short $(cat repo/.git/short_ref) app $(cat repo/app.txt)"
          git clone -q repo out
          cd out
          echo "built from $(cat ../repo/.git/ref)" > stamp
          git add stamp
          git -c user.name=ci -c user.email=ci@x commit -qm "stamp"
  - put: published
    params: {{repository: out}}
- name: manual
  plan:
  - get: broken
"""


def _builds(fly: Fly) -> list[dict[str, Any]]:
    code, out = fly("builds", "-j", "git/build", "--json")
    assert code == 0, out
    return [b for b in json.loads(out) if b["status"] not in ("pending", "started")]


@pytest.fixture
def server_args() -> tuple[str, ...]:
    """The upstream is a file:// repository of the test's."""
    return ("--resource-local-paths",)


def test_a_commit_triggers_a_build_that_gets_and_puts_with_git(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    first = up.commit({"app.txt": "v1"}, "first")
    path = tmp_path / "git.yml"
    path.write_text(textwrap.dedent(PIPELINE.format(uri=up.uri)))
    code, out = fly("set-pipeline", "-p", "git", "-c", str(path), "-n")
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", "git")
    assert code == 0, out

    builds: list[dict[str, Any]] = wait_for(lambda: _builds(fly), timeout=60)  # type: ignore[assignment]
    [build] = builds
    code, out = fly("watch", "-j", "git/build", "-b", build["name"])
    assert build["status"] == "succeeded", out
    assert f"short {first[:7]} app v1" in out
    assert up.head("published") != first
    assert plain_git("--git-dir", str(up.bare), "show", "published:stamp") == \
        f"built from {first}"
    cached = list((ci_server.data_dir / "resource-caches" / "git").iterdir())
    assert cached, "checks keep a bare clone in the server's cache"

    # a [ci skip] commit is no version: no new build
    skipped = up.commit({"app.txt": "v2"}, "docs\n\n[ci skip]")
    code, out = fly("check-resource", "-r", "git/repo")
    assert code == 0, out
    assert skipped[:7] not in out
    time.sleep(3)  # three scheduler ticks
    assert len(_builds(fly)) == 1

    # an unreachable repository: the check fails naming the remote and git's words
    code, out = fly("check-resource", "-r", "git/broken")
    assert code != 0
    said = " ".join(out.split())
    assert "check failed: git resource (file://" in said
    assert "origin.git-missing" in out.replace("\n", "")
    assert "does not appear to be a git repository" in said
