"""Rollout marks on the stack's cluster: a Deployment whose image cannot be pulled is
marked not ready once the watch's timeout passes, naming it and why; a watch beyond the
bound cancels the oldest, whose workloads stay "not recorded" (None), never invented."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import yaml

from headwater import log as hwlog
from headwater.cd.releases import SyncMark
from headwater.cd.rollouts import Rollouts
from headwater.kube.objects import ObjId
from tests.sync.conftest import Env, namespace
from tests.sync.test_automation import workload

pytestmark = pytest.mark.stack


def _mark(revision: str) -> SyncMark:
    now = datetime.now(UTC)
    return SyncMark(revision, now, now, True, "")


async def _create(env: Env, name: str, image: str) -> ObjId:
    body = yaml.safe_load(workload(env.ns, name, image, {}).removeprefix("---\n"))
    await env.kube.request("POST", f"/apis/apps/v1/namespaces/{env.ns}/deployments",
                           body=body)
    return ObjId("apps", "Deployment", env.ns, name)


async def _until_marked(rollouts: Rollouts, mark: SyncMark, ids: list[str]) -> None:
    for _ in range(600):
        if rollouts.ready(mark, ids) is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("no rollout mark")


async def test_a_rollout_that_does_not_finish_is_marked_with_its_problem(env: Env) -> None:
    await env.kube.request("POST", "/api/v1/namespaces", body=yaml.safe_load(namespace(env.ns)))
    stuck = await _create(env, "stuck", f"{env.stack.registry.host}/nothing/here:0")
    ignored = ObjId("", "ConfigMap", env.ns, "settings")  # not a workload: not watched
    rollouts = Rollouts(env.kube, timeout=2, log=hwlog.get("sync"), interval=0.2)
    mark = _mark("a" * 40)
    try:
        rollouts.watch(mark, [stuck, ignored])
        await _until_marked(rollouts, mark, [str(stuck)])
    finally:
        await rollouts.close()
    ready = rollouts.ready(mark, [str(stuck)])
    assert ready is not None and not ready.ok
    assert f"{stuck} not ready after 2s" in ready.message
    assert rollouts.ready(mark, [str(ignored)]) is None


async def test_past_the_bound_the_oldest_watch_is_cancelled_and_records_nothing(
        env: Env) -> None:
    await env.kube.request("POST", "/api/v1/namespaces", body=yaml.safe_load(namespace(env.ns)))
    stuck = await _create(env, "stuck", f"{env.stack.registry.host}/nothing/here:0")
    rollouts = Rollouts(env.kube, timeout=2, log=hwlog.get("sync"), at_once=1, interval=0.2)
    old, new = _mark("a" * 40), _mark("b" * 40)
    try:
        rollouts.watch(old, [stuck])
        rollouts.watch(new, [stuck])  # one at a time: the old one is cancelled
        await _until_marked(rollouts, new, [str(stuck)])
    finally:
        await rollouts.close()
    assert rollouts.ready(old, [str(stuck)]) is None
    assert rollouts.ready(new, [str(stuck)]) is not None
