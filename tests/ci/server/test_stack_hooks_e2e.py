"""The local story without polling: `headwater server --stack` tells the stack's
post-receive hooks where it listens, and a plain `git push` to a stack repository
starts the job of the pipeline following it, with the checker an hour away."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.devstack import StackInfo
from tests.ci.server.conftest import Fly, Server, wait_for
from tests.gitseed import Seed

pytestmark = pytest.mark.stack

PIPELINE = """
resources:
- name: repo
  type: git
  source: {{uri: "{uri}", branch: main}}
jobs:
- name: build
  plan:
  - get: repo
    trigger: true
"""


@pytest.fixture
def server_args(stack: StackInfo) -> tuple[str, ...]:
    return ("--checker-interval", "1h", "--stack", stack.state_dir)


def _builds(server: Server) -> list[dict[str, Any]]:
    with server.api() as api:
        return api.get("/teams/main/pipelines/local/jobs/build/builds").json()  # type: ignore[no-any-return]


def test_a_git_push_to_the_stack_starts_the_build(
        stack: StackInfo, git_repo: str, ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    target = Path(stack.state_dir) / "hooks" / "server.json"
    assert json.loads(target.read_text())["url"] == f"{ci_server.url}/api/v1/hooks/git"
    seed = Seed(stack, git_repo, tmp_path / "seed")
    seed.commit({"app.txt": "v0"})
    pipeline = tmp_path / "local.yml"
    pipeline.write_text(textwrap.dedent(PIPELINE.format(uri=stack.git.git_url(git_repo))))
    code, out = fly("set-pipeline", "-p", "local", "-c", str(pipeline), "-n")
    assert code == 0, out
    assert fly("unpause-pipeline", "-p", "local")[0] == 0

    revision = seed.commit({"app.txt": "v1"})  # the post-receive hook calls the server
    wait_for(lambda: _builds(ci_server), timeout=60)
    with ci_server.api() as api:
        versions = api.get("/teams/main/pipelines/local/resources/repo/versions").json()
    assert versions[0]["version"] == {"ref": revision}
    # a request with the stack's hook file but no signature is still refused
    assert httpx.post(f"{ci_server.url}/api/v1/hooks/git", json={
        "url": stack.git.git_url(git_repo), "branch": "main"}).status_code == 401
    ci_server.stop()
    assert not target.exists()  # the stopped server no longer takes the stack's pushes
