"""An alias bomb pushed to a synced Git path: the sync fails at once with the file and
line (BuildFailed) and applies nothing of the commit (it would have turned 490 million
nodes into JSON for the API server)."""

from __future__ import annotations

import time

from headwater.cd import reasons
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
