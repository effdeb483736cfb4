"""CD actions and release records over the API, against a controller wired as the
server wires it (`open_controller`: the stack's Git server, registry and cluster), served
by uvicorn with a token; every timer an hour away, so only the requests explain what
happens:

- the images route lists each container's image and the tags its policy allows, read
  from the registry by the controller's scanner;
- lock/unlock/automate and release are the CLI's verbs and commits (same messages, the
  user as author, the source's committer), each followed by a sync;
- a release is listed from Git with the sync that applied it and when its pods were
  ready; image automation's release is listed as automated;
- an unknown source, workload or release is a 404 naming it; a locked workload is
  refused (400) and nothing is committed;
- actions and syncs asked at once on one source all happen, one after the other on its
  working copy: every commit pushed, no push refused, every sync passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from headwater.cd import verbs
from headwater.cd.controller import Controller
from headwater.cd.metrics import SyncMetrics
from headwater.cd.runtime import ClusterSettings, Scanning, open_controller
from headwater.cd.source import Source
from headwater.registry import RegistryClient
from headwater.web.app import make_app
from headwater.web.deps import Services, static_token
from tests.gitseed import plain_git
from tests.sync.conftest import Env, Repo, namespace
from tests.sync.test_automation import push_image, workload
from tests.web.served import served

pytestmark = pytest.mark.stack

HOUR = 3600.0
TOKEN = "cd-actions-test-token"


async def _until(probe: Callable[[], Awaitable[Any]], limit: float = 120) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if found := await probe():
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"not true within {limit}s")


@contextlib.asynccontextmanager
async def _server(env: Env, source: Source) -> AsyncIterator[tuple[Controller, httpx.AsyncClient]]:
    registry = CollectorRegistry()
    metrics = SyncMetrics(registry)
    cluster = ClusterSettings(kubeconfig=Path(env.stack.kubeconfig or ""),
                              kubectl=env.stack.kubectl)
    async with open_controller([source], cluster=cluster,
                               scanning=Scanning(RegistryClient(), (), ()),
                               workdir=env.workdir, metrics=metrics, policies={}) as cd:
        task = asyncio.create_task(cd.run())
        app = make_app(Services(cd=cd, registry=registry, check_token=static_token(TOKEN)))
        try:
            async with served(app) as url, httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=120) as http:
                yield cd, http
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _server_git(env: Env, repo: Repo, *args: str) -> str:
    return plain_git("--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1]),
                     *args)


async def test_actions_and_releases_over_the_api(env: Env, repo: Repo,
                                                 registry_repo: str) -> None:
    v100 = push_image(env, registry_repo, "1.0.0", "2024-01-01T00:00:00Z")
    v110 = push_image(env, registry_repo, "1.1.0", "2024-01-02T00:00:00Z")
    repo.commit({"deploy/ns.yaml": namespace(env.ns),
                 "deploy/app.yaml": workload(env.ns, "app", v100, {
                     "fluxcd.io/tag.app": "semver:~1"})})
    source = env.source(repo, git_path=("deploy",), git_poll_interval=HOUR,
                        sync_interval=HOUR, registry_poll_interval=HOUR,
                        git_email="cd@example.com")
    app = f"{env.ns}:deployment/app"
    base = f"/api/v1/cd/workloads/{source.name}/{app}"
    async with _server(env, source) as (cd, http):
        first = await http.post("/api/v1/cd/sync", params={"wait": "true"})
        assert first.json()["results"][0]["ok"], first.text

        # The images the controller's scanner reads, as list-images --json.
        images = (await http.get("/api/v1/cd/images", params={"source": source.name})).json()
        [src] = images["sources"]
        [row] = src["workloads"]
        assert (row["workload"], row["automated"], row["locked"]) == (app, False, False)
        [container] = row["containers"]
        assert (container["image"], container["policy"], container["current"]) == (
            v100, "semver:~1", "1.0.0")
        assert [t["tag"] for t in container["available"]] == ["1.1.0", "1.0.0"]

        # lock: fluxctl's commit, the user as author, the source's committer.
        locked = await http.post(f"{base}/lock", json={
            "user": "Ann Operator <ann@example.com>", "message": "hold the release"})
        assert locked.status_code == 200, locked.text
        revision = locked.json()["revision"]
        assert _server_git(env, repo, "rev-parse", "main") == revision
        assert _server_git(env, repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B",
                           "main") == (
            "Ann Operator <ann@example.com>|headwater <cd@example.com>|"
            + verbs.policy_message(["Locked"], app, "hold the release").strip())
        # ... and the sync of it was asked: the cluster's Deployment carries the lock.
        await _until(lambda: _annotation(env, "fluxcd.io/locked"))

        # A locked workload is refused, nothing committed; then unlocked and released.
        refused = await http.post(f"{base}/release", json={"image": v110})
        assert refused.status_code == 400
        assert "is locked" in refused.json()["detail"]
        assert "hold the release" in refused.json()["detail"]
        assert _server_git(env, repo, "rev-parse", "main") == revision
        assert (await http.post(f"{base}/unlock", json={"user": "Ann"})).json()["revision"]
        assert _server_git(env, repo, "log", "-1", "--format=%an <%ae>", "main") == (
            "Ann <cd@example.com>")  # a bare name: the source's git email
        released = await http.post(f"{base}/release", json={"image": v110, "user": "Bob"})
        assert released.status_code == 200, released.text
        release_commit = released.json()["revision"]
        assert _server_git(env, repo, "log", "-1", "--format=%s", "main") == (
            f"Release {v110} to {app}")

        # Listed from Git, then synced, then ready once the pod of 1.1.0 runs.
        record = await _until(lambda: _ready_record(http, source.name, release_commit))
        assert record["automated"] is False
        assert record["author"] == "Bob <cd@example.com>"
        assert record["images"] == [{"workload": app, "container": "app", "old": v100,
                                     "new": v110}]
        assert record["synced"]["revision"] == release_commit and record["synced"]["ok"]
        assert record["ready"]["ok"] and record["ready"]["message"] == ""
        # In order (git's commit time has whole seconds).
        committed, started, finished, ready = (datetime.fromisoformat(t) for t in (
            record["committed_at"], record["synced"]["started"], record["synced"]["finished"],
            record["ready"]["at"]))
        assert committed <= started.replace(microsecond=0) <= finished <= ready
        one = await http.get(f"/api/v1/cd/releases/{source.name}/{release_commit[:10]}")
        assert one.json() == record
        pods = await env.kube.request("GET", f"/api/v1/namespaces/{env.ns}/pods",
                                      params={"labelSelector": "app=app"})
        assert v110 in {p["spec"]["containers"][0]["image"] for p in pods["items"]}

        # Image automation's release is listed as automated.
        assert (await http.post(f"{base}/automate")).json()["revision"]
        v111 = push_image(env, registry_repo, "1.1.1", "2024-01-03T00:00:00Z")
        scan = await http.post("/api/v1/cd/sync", params={"wait": "true", "scan": "true"})
        assert scan.json()["results"][0]["ok"], scan.text
        newest = (await http.get("/api/v1/cd/releases",
                                 params={"source": source.name})).json()["releases"]
        assert [(r["automated"], r["images"][0]["new"]) for r in newest[:2]] == [
            (True, v111), (False, v110)]
        assert newest[0]["subject"] == f"Auto-release {v111}"
        assert newest[0]["synced"]["ok"]

        # Unknown source, workload, release: 404 naming them; an unknown action: 400.
        nobody = await http.post(f"/api/v1/cd/workloads/{source.name}/{env.ns}:deployment/"
                                 "nobody/lock")
        assert nobody.status_code == 404 and "nobody" in nobody.json()["detail"]
        missing = await http.post(f"/api/v1/cd/workloads/nosuch/{app}/lock")
        assert missing.status_code == 404 and "nosuch" in missing.json()["detail"]
        unknown = await http.get(f"/api/v1/cd/releases/{source.name}/{'0' * 40}")
        assert unknown.status_code == 404 and "0" * 40 in unknown.json()["detail"]
        bad = await http.post(f"{base}/explode")
        assert bad.status_code == 400 and "explode" in bad.json()["detail"]
        paths = (await http.get("/api/v1/openapi.json")).json()["paths"]
        assert {"/api/v1/cd/releases", "/api/v1/cd/releases/{source}/{commit}",
                "/api/v1/cd/images", "/api/v1/cd/workloads/{source}/{workload}/release",
                "/api/v1/cd/workloads/{source}/{workload}/{action}"} <= set(paths)
        # Without the token nothing is done.
        async with httpx.AsyncClient(base_url=str(http.base_url)) as anonymous:
            assert (await anonymous.post(f"{base}/lock")).status_code == 401
            assert (await anonymous.get("/api/v1/cd/releases")).status_code == 401
        assert not await _annotation(env, "fluxcd.io/locked")

        # Actions and syncs at once: each done in turn on the one working copy.
        before = int(_server_git(env, repo, "rev-list", "--count", "main"))
        results = await asyncio.gather(
            cd.act(source.name, app, "lock"), cd.sync(source.name),
            cd.act(source.name, app, "deautomate"), cd.sync(source.name, scan=True),
            cd.act(source.name, app, "unlock"), cd.sync(source.name))
        assert all(isinstance(r, str) for r in results[0::2])
        assert all(r.ok for res in results[1::2] for r in res)
        assert int(_server_git(env, repo, "rev-list", "--count", "main")) == before + 3
        final = (await http.post("/api/v1/cd/sync", params={"wait": "true"})).json()
        assert final["results"][0]["revision"] == _server_git(env, repo, "rev-parse", "main")
        assert not await _annotation(env, "fluxcd.io/locked")
        assert not await _annotation(env, "fluxcd.io/automated")


async def _annotation(env: Env, key: str) -> str | None:
    found = await env.get(f"/apis/apps/v1/namespaces/{env.ns}/deployments/app")
    notes = (found or {}).get("metadata", {}).get("annotations") or {}
    value: str | None = notes.get(key)
    return value


async def _ready_record(http: httpx.AsyncClient, source: str, commit: str
                        ) -> dict[str, Any] | None:
    listed = (await http.get("/api/v1/cd/releases", params={"source": source})).json()
    for record in listed["releases"]:
        if record["commit"] == commit and record["ready"] is not None:
            found: dict[str, Any] = record
            return found
    return None


async def test_a_failed_push_or_fetch_is_a_502_naming_it_without_secrets(
        env: Env, repo: Repo) -> None:
    repo.commit({"deploy/ns.yaml": namespace(env.ns),
                 "deploy/app.yaml": workload(env.ns, "app", "127.0.0.1:5000/app:1.0", {})})
    app = f"{env.ns}:deployment/app"
    # git:// is read-only: the fetch works, the push is refused (a deploy key without
    # write access does the same); nothing is committed on the server.
    read_only = env.source(repo, git_url=env.stack.git.git_url(repo.url.rsplit("/", 1)[1]),
                           git_path=("deploy",), git_poll_interval=HOUR,
                           sync_interval=HOUR, registry_poll_interval=HOUR)
    head = _server_git(env, repo, "rev-parse", "main")
    async with _server(env, read_only) as (_, http):
        refused = await http.post(f"/api/v1/cd/workloads/{read_only.name}/{app}/lock")
    assert refused.status_code == 502
    assert refused.json()["detail"].startswith("git: git push to git://127.0.0.1:")
    assert _server_git(env, repo, "rev-parse", "main") == head

    # The attack: credentials of the source in an error an API client reads.
    secret, token = "pa55-" + "x" * 20, "tok-" + "y" * 24
    unreachable = env.source(
        repo, git_url=f"https://ann:{secret}@127.0.0.1:9/nowhere.git", git_token=token,
        git_poll_interval=HOUR, sync_interval=HOUR, registry_poll_interval=HOUR)
    async with _server(env, unreachable) as (_, http):
        failed = await http.post(f"/api/v1/cd/workloads/{unreachable.name}/{app}/lock")
    assert failed.status_code == 502
    detail = failed.json()["detail"]
    assert "127.0.0.1:9/nowhere.git" in detail
    assert secret not in detail and token not in detail


async def test_a_read_only_source_commits_nothing_and_scanning_off_reads_no_tags(
        env: Env, repo: Repo) -> None:
    repo.commit({"deploy/ns.yaml": namespace(env.ns),
                 "deploy/app.yaml": workload(env.ns, "app", "127.0.0.1:5000/app:1.0", {})})
    app = f"{env.ns}:deployment/app"
    source = env.source(repo, git_path=("deploy",), git_readonly=True,
                        registry_disable_scanning=True, git_poll_interval=HOUR,
                        sync_interval=HOUR, registry_poll_interval=HOUR)
    head = _server_git(env, repo, "rev-parse", "main")
    async with _server(env, source) as (_, http):
        assert (await http.post("/api/v1/cd/sync", params={"wait": "true"})).json()[
            "results"][0]["ok"]
        for path, body in (("lock", {}), ("release", {"image": "127.0.0.1:5000/app:2.0"})):
            refused = await http.post(f"/api/v1/cd/workloads/{source.name}/{app}/{path}",
                                      json=body)
            assert refused.status_code == 409
            assert "git-readonly" in refused.json()["detail"]
        images = (await http.get("/api/v1/cd/images")).json()["sources"]
    assert _server_git(env, repo, "rev-parse", "main") == head
    [container] = images[0]["workloads"][0]["containers"]
    assert container["error"] == "registry scanning is off for this source"
    assert container["available"] == []
