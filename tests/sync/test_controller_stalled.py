"""A revision that fails with a user error stalls its source: no sync retries it on every
poll or interval (Flux's Stalled), the status says why, and the next commit syncs."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.sync.conftest import Env, Repo, configmap, namespace
from tests.sync.test_controller import _running, _until


def _failed_syncs(metrics: str, source: str) -> float:
    m = re.search(rf'headwater_sync_duration_seconds_count\{{source="{source}",'
                  rf'success="false"\}} (\S+)', metrics)
    return float(m.group(1)) if m else 0.0


async def test_a_broken_commit_stalls_until_a_fixed_one_arrives(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns), "a.yaml": configmap("a", env.ns, {"v": "1"})})
    source = env.source(repo, git_poll_interval=0.3, sync_interval=0.3)
    async with _running(env, [source]) as (_, url), httpx.AsyncClient() as http:
        async def state() -> dict[str, object]:
            answer: dict[str, object] = (await http.get(f"{url}/api/v1/status")).json()[
                "sources"][0]
            return answer

        async def is_(wanted: str) -> bool:
            return (await state())["state"] == wanted

        await _until(lambda: is_("Ready"), 30)
        broken = repo.commit({"bad.yaml": "kind: [\n"})
        await _until(lambda: is_("Stalled"), 30)
        stalled = await state()
        last = stalled["last"]
        assert isinstance(last, dict)
        assert (last["revision"], last["reason"], last["stalled"]) == (
            broken, "BuildFailed", True)
        assert str(last["message"]).startswith("bad.yaml:2: invalid YAML")
        before = _failed_syncs((await http.get(f"{url}/metrics")).text, source.name)
        assert before >= 1
        await asyncio.sleep(3)  # ten poll and sync intervals: none syncs the broken commit
        after = _failed_syncs((await http.get(f"{url}/metrics")).text, source.name)
        assert after == before
        assert await is_("Stalled")

        fixed = repo.commit({"bad.yaml": configmap("b", env.ns, {"v": "fixed"})})
        await _until(lambda: is_("Ready"), 30)
        last = (await state())["last"]
        assert isinstance(last, dict)
        assert (last["revision"], last["ok"], last["stalled"]) == (fixed, True, False)
    assert await env.configmap("b") is not None
