"""A failed or dry prune loses nothing: what left Git stays in the inventory until a
prune deletes it or finds it gone, so a killed controller, a DELETE that fails, a dry
run or garbage collection off all leave it for a later sync to prune."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from headwater import log as hwlog
from headwater.cd import reasons
from headwater.cd.sync import Syncer
from headwater.kube.client import Kube
from headwater.kube.discovery import Discovery
from headwater.kube.inventory import load
from tests.sync.apiproxy import api_proxy
from tests.sync.conftest import INVENTORY_NS, Env, Repo, configmap, namespace


def _setup(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns), "a.yaml": configmap("a", env.ns, {"v": "1"}),
                 "b.yaml": configmap("b", env.ns, {"v": "1"})})


async def _inventory(env: Env, source: str) -> set[str]:
    inv = await load(env.kube, INVENTORY_NS, source)
    assert inv is not None
    return {str(i) for i in inv.ids}


def _cd(env: Env, config: Path, kubeconfig: Path, workdir: Path) -> list[str]:
    assert env.stack.kubectl
    return [sys.executable, "-m", "headwater", "cd", "--once", "--config", str(config),
            "--kubeconfig", str(kubeconfig), "--inventory-namespace", INVENTORY_NS,
            "--workdir", str(workdir), "--kubectl", env.stack.kubectl]


def _run_cd(argv: list[str]) -> list[dict[str, object]]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, object]] = json.loads(done.stdout)
    return results


async def test_a_controller_killed_between_inventory_and_prune_prunes_at_the_next_sync(
        env: Env, repo: Repo, tmp_path: Path) -> None:
    _setup(env, repo)
    name = f"s{uuid.uuid4().hex[:8]}"
    env.sources.append(name)
    config = tmp_path / "sources.yaml"
    git = env.stack.git
    config.write_text(f"sources:\n  - name: {name}\n    git-url: {repo.url}\n"
                      f"    git-ssh-key: {git.deploy_key}\n"
                      f"    git-known-hosts: {git.known_hosts}\n"
                      "    git-branch: main\n    git-readonly: true\n"
                      "    sync-garbage-collection: true\n")
    kubeconfig = _kubeconfig(env)
    first = await asyncio.to_thread(_run_cd, _cd(env, config, kubeconfig, tmp_path / "w1"))
    assert first[0]["ok"], first
    b = f"{env.ns}:configmap/b"
    repo.commit({"b.yaml": None})

    # The next controller saves its inventory, starts pruning b, and is killed (SIGKILL)
    # while its DELETE is in flight: the proxy holds it, so nothing was deleted.
    async with api_proxy(kubeconfig, tmp_path / "proxy", namespace=env.ns,
                         on_delete="hold") as proxy:
        proc = await asyncio.create_subprocess_exec(
            *_cd(env, config, proxy.kubeconfig, tmp_path / "w2"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            exited = asyncio.ensure_future(proc.communicate())
            held = asyncio.ensure_future(proxy.holding.wait())
            await asyncio.wait([exited, held], timeout=120,
                               return_when=asyncio.FIRST_COMPLETED)
            assert held.done(), (f"the controller never started pruning: "
                                 f"{exited.result() if exited.done() else 'still running'}")
        finally:
            if proc.returncode is None:
                os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            held.cancel()
            await asyncio.gather(exited, return_exceptions=True)
    assert proc.returncode == -signal.SIGKILL
    assert proxy.deletes == [f"/api/v1/namespaces/{env.ns}/configmaps/b"]
    assert await env.configmap("b") is not None
    assert b in await _inventory(env, name)  # written before the prune: b not forgotten

    third = await asyncio.to_thread(_run_cd, _cd(env, config, kubeconfig, tmp_path / "w3"))
    assert third[0]["ok"], third
    assert third[0]["pruned"] == [b]
    assert await env.configmap("b") is None
    assert b not in await _inventory(env, name)
    assert await env.configmap("a") is not None


async def test_a_delete_that_fails_is_retried_by_the_next_sync(
        env: Env, repo: Repo, tmp_path: Path) -> None:
    _setup(env, repo)
    source = env.source(repo, sync_garbage_collection=True, git_readonly=True)
    assert (await env.syncer(source).sync()).ok
    repo.commit({"b.yaml": None})
    b = f"{env.ns}:configmap/b"
    async with api_proxy(_kubeconfig(env), tmp_path / "proxy", namespace=env.ns,
                         on_delete="fail") as proxy, \
            await Kube.connect(proxy.kubeconfig) as faulty:
        syncer = Syncer(source, kube=faulty, discovery=Discovery(), workdir=env.workdir,
                        kubectl=env.stack.kubectl, inventory_namespace=INVENTORY_NS,
                        log=hwlog.get("sync"))
        failed = await syncer.sync()
    assert failed.reason == reasons.PRUNE_FAILED
    assert f"{b}: DELETE /api/v1/namespaces/{env.ns}/configmaps/b" in failed.message
    assert "injected fault" in failed.message
    assert proxy.deletes
    assert await env.configmap("b") is not None
    assert b in await _inventory(env, source.name)

    retried = await env.syncer(source).sync()
    assert retried.ok, retried.message
    assert [str(i) for i in retried.pruned] == [b]
    assert await env.configmap("b") is None
    assert b not in await _inventory(env, source.name)


@pytest.mark.parametrize("mode", ["gc off", "gc dry"])
async def test_objects_left_by_gc_off_or_dry_are_pruned_once_gc_is_on(
        env: Env, repo: Repo, mode: str) -> None:
    _setup(env, repo)
    name = f"s{uuid.uuid4().hex[:8]}"
    before = env.source(repo, name=name, git_readonly=True,
                        sync_garbage_collection_dry=mode == "gc dry")
    assert (await env.syncer(before).sync()).ok
    repo.commit({"b.yaml": None})
    # Two syncs without deleting: b must survive both in the cluster and the inventory.
    for _ in range(2):
        result = await env.syncer(before).sync()
        assert result.ok, result.message
    b = f"{env.ns}:configmap/b"
    assert await env.configmap("b") is not None
    assert b in await _inventory(env, name)

    after = env.source(repo, name=name, git_readonly=True, sync_garbage_collection=True)
    pruned = await env.syncer(after).sync()
    assert pruned.ok, pruned.message
    assert [str(i) for i in pruned.pruned] == [b]
    assert await env.configmap("b") is None
    assert b not in await _inventory(env, name)


def _kubeconfig(env: Env) -> Path:
    assert env.stack.kubeconfig, "the stack runs a cluster"
    return Path(env.stack.kubeconfig)
