"""An alias bomb pushed to a synced Git path: the sync fails at once with the file and
line (BuildFailed) and applies nothing of the commit (it would have turned 490 million
nodes into JSON for the API server)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from headwater import devstack
from headwater.cd import reasons
from headwater.cli.app import app
from tests.sync.conftest import Env, Repo, configmap, namespace
from tests.yamlbomb import BOMB, BOMB_LINE


async def test_a_bomb_in_a_commit_fails_the_sync_at_its_line_and_applies_nothing(
        env: Env, repo: Repo) -> None:
    repo.commit({"deploy/ns.yaml": namespace(env.ns),
                 "deploy/a.yaml": configmap("a", env.ns, {"v": "1"})})
    syncer = env.syncer(env.source(repo, git_path=("deploy",)))
    assert (await syncer.sync()).ok
    bomb = configmap("bomb", env.ns, {"v": "1"})
    repo.commit({"deploy/a.yaml": configmap("a", env.ns, {"v": "2"}),
                 "deploy/bomb.yaml": bomb + BOMB})
    started = time.monotonic()
    result = await syncer.sync()
    assert result.reason == reasons.BUILD_FAILED
    line = BOMB_LINE + bomb.count("\n")
    assert result.message == (f"deploy/bomb.yaml:{line}: with its aliases expanded, the YAML "
                              "is more than 1,000,000 nodes (an alias bomb?): refused "
                              "(--yaml-max-nodes raises the limit)")
    assert time.monotonic() - started < 10  # a git fetch, then an instant refusal
    a = await env.configmap("a")
    assert a and a["data"] == {"v": "1"}, "nothing may be applied from a broken commit"
    assert await env.configmap("bomb") is None


def test_headwater_cd_takes_the_yaml_flags(stack: devstack.StackInfo, git_repo: str,
                                           tmp_path: Path) -> None:
    seed = Repo(stack, git_repo, tmp_path / "dev")
    seed.commit({"deploy/a.yaml": configmap("a", "limits", {"v": "x" * 200})})
    assert stack.kubeconfig
    r = CliRunner().invoke(app, [
        "cd", "--once", "--git-url", stack.git.git_url(git_repo), "--git-branch", "main",
        "--git-path", "deploy", "--kubeconfig", stack.kubeconfig, "--git-readonly",
        "--workdir", str(tmp_path / "work"), "--yaml-max-bytes", "100"])
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout[r.stdout.index("["):])
    assert report[0]["reason"] == reasons.BUILD_FAILED
    assert report[0]["message"] == ("deploy/a.yaml: the YAML is larger than 100 bytes: refused "
                                    "before parsing (--yaml-max-bytes raises the limit)")
