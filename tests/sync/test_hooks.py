"""Push webhooks on the CD side, against a real controller on the stack's Git server and
cluster, with every timer an hour away so only the hook explains what happens:

- `sync_matching`: a push to the source's repository and branch syncs it now;
- the registry's own notification (a registry started by the stack's code with the
  notification endpoint `up` configures) of a real image push reaches the hooks
  route, which runs image automation now: the release is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from headwater import log as hwlog
from headwater.cd.automation import Automator
from headwater.cd.controller import Controller, SourceLoop
from headwater.cd.metrics import SyncMetrics
from headwater.cd.source import Source
from headwater.cd.triggers import sync_matching
from headwater.devstack import hooks
from headwater.devstack.ports import pick
from headwater.registry import RegistryClient, Scanner
from headwater.web.hooks import hooks_router
from tests.gitseed import plain_git
from tests.hookhelpers import notifying_registry, push_image
from tests.sync.conftest import Env, Repo, configmap, namespace
from tests.sync.test_automation import workload

pytestmark = pytest.mark.stack

HOUR = 3600.0
SECRET = secrets.token_hex(32)


async def _until(probe: object, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await probe():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true within {limit}s")


@contextlib.asynccontextmanager
async def _controller(loops: list[SourceLoop]) -> AsyncIterator[Controller]:
    controller = Controller(loops, loops[0].metrics)
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _source(env: Env, repo: Repo, **options: object) -> Source:
    return env.source(repo, git_poll_interval=HOUR, sync_interval=HOUR,
                      registry_poll_interval=HOUR, **options)


async def test_a_push_to_the_source_branch_syncs_it_now(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns)})
    source = _source(env, repo)
    syncer = env.syncer(source)
    loop = SourceLoop(syncer, SyncMetrics(), syncer.log)
    async with _controller([loop]) as controller:
        await _until(lambda: env.get(f"/api/v1/namespaces/{env.ns}"))  # the first sync
        repo.commit({"a.yaml": configmap("a", env.ns, {"v": "pushed"})})
        name = repo.url.rsplit("/", 1)[1]
        # another branch, another repository: nothing
        assert sync_matching(controller, [repo.url], "other") == []
        assert sync_matching(controller, [repo.url.replace(name, "elsewhere.git")],
                             "main") == []
        # the same repository by its git:// URL (the source has the ssh one)
        git_url = env.stack.git.git_url(name)
        assert sync_matching(controller, [git_url], "main") == [source.name]
        await _until(lambda: env.configmap("a"))


async def test_the_hook_of_the_revision_synced_last_syncs_nothing(env: Env, repo: Repo) -> None:
    # Image automation pushes its release commit and syncs it at once; the commit's own
    # post-receive hook then asks for the same revision: answered by that sync.
    repo.commit({"ns.yaml": namespace(env.ns)})
    syncer = env.syncer(_source(env, repo))
    loop = SourceLoop(syncer, SyncMetrics(), syncer.log)
    async with _controller([loop]):
        await _until(lambda: asyncio.sleep(0, loop.last is not None and loop.last.ok))
        last, synced = loop.last, syncer.synced
        assert await loop.ask(revision=synced) is last  # no new sync
        repo.commit({"a.yaml": configmap("a", env.ns, {"v": "pushed"})})
        head = repo.server_ref("refs/heads/main")
        assert head
        result = await loop.ask(revision=head)
        assert result is not last and result.ok and result.revision == head
        assert await env.configmap("a")
        assert await loop.ask() is not result  # a request naming no revision syncs


@contextlib.asynccontextmanager
async def _hooks_app(controller: Controller) -> AsyncIterator[str]:
    """The hooks routes for `controller`, served by uvicorn on a free port; their URL."""
    port = pick(None, set())
    app = FastAPI()
    app.include_router(hooks_router(secrets={"stack": SECRET}, cd=controller))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await _until(lambda: asyncio.sleep(0, server.started), 10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_the_registry_notification_of_a_push_releases_now(env: Env, repo: Repo) -> None:
    source = _source(env, repo)
    syncer = env.syncer(source)
    async with RegistryClient() as client:
        scanner = Scanner(client)
        automator = Automator(checkout=syncer.checkout, paths=source.paths, scanner=scanner,
                              ci_skip=True, ci_skip_message="[ci skip]",
                              log=hwlog.get("daemon"))
        loop = SourceLoop(syncer, SyncMetrics(), syncer.log, automator)
        controller = Controller([loop], loop.metrics)
        async with _hooks_app(controller) as url:
            with notifying_registry(url + hooks.REGISTRY_HOOK_PATH, SECRET) as reg:
                v100 = push_image(reg, "app", "1.0.0", "2024-01-01T00:00:00Z")
                repo.commit({"ns.yaml": namespace(env.ns), "app.yaml": workload(
                    env.ns, "app", v100, {"fluxcd.io/automated": "true",
                                          "fluxcd.io/tag.app": "semver:~1.0"})})
                async with _controller([loop]):
                    # the first round at start: synced, and 1.0.0 scanned (nothing newer)
                    await _until(lambda: asyncio.sleep(0, scanner.cache.get(f"{reg.host}/app")))
                    head = repo.server_ref("refs/heads/main")
                    v101 = push_image(reg, "app", "1.0.1", "2024-01-02T00:00:00Z")
                    # the registry's notification, not a timer (an hour away), releases it
                    await _until(lambda: asyncio.sleep(
                        0, repo.server_ref("refs/heads/main") != head))
        bare = ["--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1])]
        assert plain_git(*bare, "log", "-1", "--format=%s", "main") == f"Auto-release {v101}"


async def test_a_registry_notification_without_the_secret_releases_nothing(
        env: Env, repo: Repo) -> None:
    source = _source(env, repo)
    syncer = env.syncer(source)
    async with RegistryClient() as client:
        automator = Automator(checkout=syncer.checkout, paths=source.paths,
                              scanner=Scanner(client), ci_skip=True,
                              ci_skip_message="[ci skip]", log=hwlog.get("daemon"))
        loop = SourceLoop(syncer, SyncMetrics(), syncer.log, automator)
        controller = Controller([loop], loop.metrics)
        body = (Path(__file__).parents[1] / "web" / "testdata" / "hooks" /
                "registry_push.json").read_bytes()
        async with _hooks_app(controller) as url, httpx.AsyncClient() as http:
            for headers in ({}, {"Authorization": "Bearer not-the-secret"},
                            {"Authorization": f"Basic {SECRET}"}):
                r = await http.post(url + hooks.REGISTRY_HOOK_PATH, content=body,
                                    headers=headers)
                assert r.status_code == 401
            assert loop._waiting is None  # nothing was asked of the controller
            ok = await http.post(url + hooks.REGISTRY_HOOK_PATH, content=body,
                                 headers={"Authorization": f"Bearer {SECRET}"})
            assert ok.status_code == 202
            assert ok.json()["released"] == [source.name]
            assert loop._waiting is not None
