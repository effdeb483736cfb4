"""The controller: polling picks up a push without webhooks; `headwater sync --wait` asks
the running controller over its API; metrics and the API token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from headwater import devstack
from headwater.cd.controller import Controller, SourceLoop
from headwater.cd.metrics import SyncMetrics
from headwater.cd.source import Source
from headwater.cli.app import app
from headwater.devstack.ports import pick
from headwater.web.app import make_app
from headwater.web.deps import Services, static_token
from tests.sync.conftest import Env, Repo, configmap, forget_cd_once, namespace
from tests.web.served import served

runner = CliRunner()


@contextlib.asynccontextmanager
async def _running(env: Env, sources: list[Source], *, token: str | None = None
                   ) -> AsyncIterator[tuple[Controller, str]]:
    """The controller and its API as `headwater cd` serves them (the one app's CD
    router), in the test's event loop."""
    registry = CollectorRegistry()
    metrics = SyncMetrics(registry)
    loops = [SourceLoop(env.syncer(s), metrics, env.syncer(s).log) for s in sources]
    controller = Controller(loops, metrics)
    app = make_app(Services(cd=controller, registry=registry,
                            check_token=static_token(token) if token else None))
    task = asyncio.create_task(controller.run())
    try:
        async with served(app) as url:
            yield controller, url
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _until(probe: object, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if await probe():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true within {limit}s")


async def test_polling_picks_up_a_push_within_the_interval(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns)})
    source = env.source(repo, git_poll_interval=1.0, sync_interval=3600)
    async with _running(env, [source]):
        await _until(lambda: env.get(f"/api/v1/namespaces/{env.ns}"), 20)
        repo.commit({"a.yaml": configmap("a", env.ns, {"v": "pushed"})})
        took = await _until(lambda: env.configmap("a"), 20)
    assert took < 10  # one poll interval plus a sync, with room for a loaded machine


async def test_headwater_sync_wait_reports_the_result_and_fails_on_error(
    env: Env, repo: Repo
) -> None:
    rev = repo.commit({"ns.yaml": namespace(env.ns)})
    source = env.source(repo, git_poll_interval=3600, sync_interval=3600)
    async with _running(env, [source]) as (_, url):
        ok = await asyncio.to_thread(runner.invoke, app, ["sync", "--wait", "--url", url])
        assert ok.exit_code == 0, ok.output
        assert f"{source.name}: synced {rev[:7]}" in ok.output
        repo.commit({"bad.yaml": "kind: [\n"})
        bad = await asyncio.to_thread(runner.invoke, app, ["sync", "--wait", "--url", url])
        assert bad.exit_code == 1
        assert "BuildFailed" in bad.output
        assert "bad.yaml:" in bad.output
        unknown = await asyncio.to_thread(
            runner.invoke, app, ["sync", "--wait", "--url", url, "--source", "nope"])
        assert unknown.exit_code == 2
        assert "no source 'nope'" in unknown.output


async def test_metrics_and_status_after_a_sync(env: Env, repo: Repo) -> None:
    rev = repo.commit({"ns.yaml": namespace(env.ns),
                       "a.yaml": configmap("a", env.ns, {"v": "1"})})
    source = env.source(repo, git_poll_interval=3600, sync_interval=3600)
    async with _running(env, [source]) as (controller, url), httpx.AsyncClient() as http:
        await controller.sync()
        metrics = (await http.get(f"{url}/metrics")).text
        status = (await http.get(f"{url}/api/v1/status")).json()
    assert f'headwater_sync_last_revision_info{{revision="{rev}",source="{source.name}"}} 1.0' \
        in metrics
    assert f'headwater_sync_objects_applied_total{{source="{source.name}"}} 2.0' in metrics
    assert f'headwater_sync_duration_seconds_count{{source="{source.name}",success="true"}}' \
        in metrics
    assert status["sources"][0]["last"]["revision"] == rev


async def test_the_api_requires_its_token_when_one_is_set(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns)})
    source = env.source(repo, git_poll_interval=3600, sync_interval=3600)
    async with _running(env, [source], token="s3cret-token") as (_, url), \
            httpx.AsyncClient() as http:
        assert (await http.get(f"{url}/api/v1/status")).status_code == 401
        assert (await http.get(f"{url}/api/v1/status",
                               headers={"Authorization": "Bearer wrong"})).status_code == 401
        good = await http.get(f"{url}/api/v1/status",
                              headers={"Authorization": "Bearer s3cret-token"})
        assert good.status_code == 200
        assert (await http.get(f"{url}/healthz")).status_code == 200


def test_listening_beyond_loopback_needs_a_token() -> None:
    r = runner.invoke(app, ["cd", "--git-url", "file:///nowhere", "--listen", "0.0.0.0:3030"])
    assert r.exit_code == 2
    assert "--api-token is required" in r.output


def test_headwater_cd_once_syncs_and_exits(stack: devstack.StackInfo, git_repo: str,
                                           tmp_path: Path) -> None:
    seed = Repo(stack, git_repo, tmp_path / "dev")
    ns = f"once-{git_repo[5:13]}"
    seed.commit({"deploy/ns.yaml": namespace(ns), "deploy/a.yaml": configmap("a", ns, {})})
    assert stack.kubeconfig
    args = ["cd", "--once", "--git-url", stack.git.git_url(git_repo), "--git-branch", "main",
            "--git-path", "deploy", "--kubeconfig", stack.kubeconfig,
            "--workdir", str(tmp_path / "work"), "--git-readonly"]
    try:
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout[r.stdout.index("["):])
        assert report[0]["ok"] is True
        assert sorted(report[0]["applied"]) == [f"<cluster>:namespace/{ns}",
                                                f"{ns}:configmap/a"]
        assert 'event="Sync: ' in r.stderr
        seed.commit({"deploy/a.yaml": "apiVersion: v1\nkind: ConfigMap\n"})
        r = runner.invoke(app, args)
        assert r.exit_code == 1
        assert "deploy/a.yaml:1" in r.stdout
    finally:
        forget_cd_once(stack, ns)


@pytest.mark.parametrize("bad", ["--git-poll-interval=soon", "--sync-interval=5 minutes"])
def test_bad_durations_are_refused_naming_the_value(bad: str) -> None:
    r = runner.invoke(app, ["cd", "--git-url", "file:///x", "--once", bad])
    assert r.exit_code == 2
    assert "invalid duration" in r.output


def test_headwater_cd_serves_the_cd_router_and_stops_on_sigterm(
        stack: devstack.StackInfo, git_repo: str, tmp_path: Path) -> None:
    """The real `headwater cd` process: its API is the server's CD router (new and old
    paths, its --api-token), and SIGTERM stops the API and the loops before the process
    ends by that signal (uvicorn raises it again once it has shut down)."""
    seed = Repo(stack, git_repo, tmp_path / "dev")
    ns = f"cdapi-{git_repo[5:13]}"
    rev = seed.commit({"deploy/ns.yaml": namespace(ns)})
    assert stack.kubeconfig
    port = pick(None, set())
    log = tmp_path / "cd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "headwater", "cd", "--git-url",
             stack.git.git_url(git_repo), "--git-branch", "main", "--git-path", "deploy",
             "--kubeconfig", stack.kubeconfig, "--workdir", str(tmp_path / "work"),
             "--git-readonly", "--registry-disable-scanning", "--listen",
             f"127.0.0.1:{port}", *(["--kubectl", stack.kubectl] if stack.kubectl else [])],
            stdout=out, stderr=out, start_new_session=True,
            env={**os.environ, "HEADWATER_API_TOKEN": "cd-s3cret"})
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer cd-s3cret"}
    try:
        def synced() -> bool:
            try:
                answer = httpx.get(f"{url}/api/v1/cd/status", headers=auth, timeout=5)
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()
                return False
            last = answer.json()["sources"][0]["last"]
            return bool(last) and last["revision"] == rev

        deadline = time.monotonic() + 60
        while not synced():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert httpx.get(f"{url}/api/v1/status", timeout=5).status_code == 401
        old = httpx.get(f"{url}/api/v1/status", headers=auth, timeout=5).json()
        assert old["sources"][0]["state"] == "Ready"
        r = runner.invoke(app, ["sync", "--wait", "--url", url], env={
            "HEADWATER_API_TOKEN": "cd-s3cret"})
        assert r.exit_code == 0, r.output
        assert f"default: synced {rev[:7]}" in r.output
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM, log.read_text()
        assert "event=stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        forget_cd_once(stack, ns)
