"""Image automation, the seed's story: a new tag in the registry that the workload's
policy allows is committed to Git with [ci skip], pushed, synced, and the pods run it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from headwater import log as hwlog
from headwater.cd.automation import Automator, PolicyFileError, load_image_policies
from headwater.cd.controller import Controller, SourceLoop
from headwater.cd.metrics import SyncMetrics
from headwater.cd.sync import Syncer
from headwater.devstack.registry import Registry
from headwater.gitrepo import Checkout
from headwater.registry import RegistryClient, Scanner, load_docker_config, push
from tests.gitseed import deploy_auth, plain_git
from tests.sync.conftest import Env, Repo, namespace

BUSYBOX = Path("/bin/busybox")


def push_image(env: Env, repo: str, tag: str, created: str) -> str:
    """A runnable image (static busybox sleeping) with a chosen creation time."""
    layer, diff_id = push.layer({"bin/busybox": BUSYBOX}, {"bin/sleep": "busybox"})
    extra, extra_id = push.layer_from_bytes({"version": tag.encode()})
    config = push.image_config([diff_id, extra_id], entrypoint=["/bin/sleep", "3600"],
                               created=created)
    push.push(env.stack.registry.url, repo, tag, config=config, layers=[layer, extra])
    return f"{env.stack.registry.host}/{repo}:{tag}"


def workload(ns: str, name: str, image: str, annotations: dict[str, str]) -> str:
    notes = "".join(f'\n    {k}: "{v}"' for k, v in annotations.items())
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  annotations:{notes}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: {name}
        image: {image}  # the image Concourse builds
"""


@pytest.fixture
async def client() -> AsyncIterator[RegistryClient]:
    async with RegistryClient() as c:
        yield c


def automator(syncer: Syncer, client: RegistryClient) -> Automator:
    return Automator(checkout=syncer.checkout, paths=syncer.source.paths,
                     scanner=Scanner(client), ci_skip=True, ci_skip_message="[ci skip]",
                     log=hwlog.get("daemon"))


async def test_a_new_semver_tag_is_released_committed_with_ci_skip_and_runs(
    env: Env, repo: Repo, registry_repo: str, client: RegistryClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    v100 = push_image(env, registry_repo, "1.0.0", "2024-01-01T00:00:00Z")
    repo.commit({
        "deploy/ns.yaml": namespace(env.ns),
        "deploy/helloworld.yml": workload(env.ns, "helloworld", v100, {
            "flux.weave.works/automated": "true",
            "flux.weave.works/tag.helloworld": "semver:~1.0"}),
        "deploy/frozen.yml": workload(env.ns, "frozen", v100, {
            "fluxcd.io/automated": "true", "fluxcd.io/locked": "true"}),
    })
    syncer = env.syncer(env.source(repo, git_path=("deploy",), wait=True, wait_timeout=90))
    assert (await syncer.sync()).ok
    assert await automator(syncer, client).run_once() is None  # nothing newer yet

    push_image(env, registry_repo, "1.0.1", "2024-01-02T00:00:00Z")
    push_image(env, registry_repo, "1.1.0", "2024-01-03T00:00:00Z")  # not ~1.0
    revision = await automator(syncer, client).run_once()
    assert revision is not None
    v101 = f"{env.stack.registry.host}/{registry_repo}:1.0.1"
    git = ["--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1])]
    assert plain_git(*git, "log", "-1", "--format=%B", "main") == (
        f"Auto-release {v101}\n\nHeadwater-Automation: image-release\n\n[ci skip]")
    diff = plain_git(*git, "show", "--format=", "--unified=0", "main")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in "+++---"]
    assert changed == [f"-        image: {v100}  # the image Concourse builds",
                       f"+        image: {v101}  # the image Concourse builds"]
    assert 'event="Automated release of ' + v101 + '"' in capfd.readouterr().err

    result = await syncer.sync()
    assert result.ok, result.message
    pods = await env.kube.request("GET", f"/api/v1/namespaces/{env.ns}/pods",
                                  params={"labelSelector": "app=helloworld"})
    running = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
    assert [p["spec"]["containers"][0]["image"] for p in running] == [v101]
    frozen = await env.get(f"/apis/apps/v1/namespaces/{env.ns}/deployments/frozen")
    assert frozen and frozen["spec"]["template"]["spec"]["containers"][0]["image"] == v100


async def test_glob_policies_pick_the_newest_image_by_creation_time(
    env: Env, repo: Repo, registry_repo: str, client: RegistryClient
) -> None:
    old = push_image(env, registry_repo, "build-1", "2024-01-01T00:00:00Z")
    push_image(env, registry_repo, "build-9", "2024-01-02T00:00:00Z")
    push_image(env, registry_repo, "build-10", "2024-01-03T00:00:00Z")  # newest, not highest
    repo.commit({"app.yaml": workload(env.ns, "app", old, {
        "fluxcd.io/automated": "true", "fluxcd.io/tag.app": "glob:build-*"})})
    syncer = env.syncer(env.source(repo))
    await syncer.fetch()
    assert await automator(syncer, client).run_once()
    text = plain_git("--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1]),
                     "show", "main:app.yaml")
    assert f"image: {env.stack.registry.host}/{registry_repo}:build-10" in text


async def test_a_bad_policy_names_workload_and_annotation_and_commits_nothing(
    env: Env, repo: Repo, registry_repo: str, client: RegistryClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    v1 = push_image(env, registry_repo, "1.0.0", "2024-01-01T00:00:00Z")
    push_image(env, registry_repo, "1.0.1", "2024-01-02T00:00:00Z")
    before = repo.commit({"app.yaml": workload(env.ns, "app", v1, {
        "fluxcd.io/automated": "true", "fluxcd.io/tag.app": "semver:~~1.0"})})
    syncer = env.syncer(env.source(repo))
    assert await automator(syncer, client).run_once() is None
    assert repo.server_ref("refs/heads/main") == before
    err = capfd.readouterr().err
    assert f"{env.ns}:deployment/app" in err
    assert "fluxcd.io/tag.app" in err
    assert "semver:~~1.0" in err


def _automated_app(env: Env, repo: Repo, registry_repo: str,
                   registry_poll_interval: float) -> Syncer:
    """Deployment `app` at image 1.0.0, automated with semver:~1.0, and its syncer."""
    v1 = push_image(env, registry_repo, "1.0.0", "2024-01-01T00:00:00Z")
    repo.commit({"ns.yaml": namespace(env.ns), "app.yaml": workload(env.ns, "app", v1, {
        "fluxcd.io/automated": "true", "fluxcd.io/tag.app": "semver:~1.0"})})
    return env.syncer(env.source(repo, git_poll_interval=3600, sync_interval=3600,
                                 registry_poll_interval=registry_poll_interval))


async def test_the_controller_scans_releases_and_syncs_on_its_own(
    env: Env, repo: Repo, registry_repo: str, client: RegistryClient
) -> None:
    syncer = _automated_app(env, repo, registry_repo, registry_poll_interval=1.0)
    metrics = SyncMetrics()
    loop = SourceLoop(syncer, metrics, syncer.log, automator(syncer, client))
    task = asyncio.create_task(loop.run())
    path = f"/apis/apps/v1/namespaces/{env.ns}/deployments/app"
    try:
        for _ in range(100):
            if await env.get(path):
                break
            await asyncio.sleep(0.2)
        v2 = push_image(env, registry_repo, "1.0.2", "2024-01-02T00:00:00Z")
        for _ in range(150):
            live = await env.get(path)
            if live and live["spec"]["template"]["spec"]["containers"][0]["image"] == v2:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the release never reached the cluster")
        # One release commit, counted on /metrics.
        assert metrics.registry.get_sample_value(
            "headwater_automation_releases_total", {"source": syncer.source.name}) == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_private_registry_is_read_with_docker_config_credentials(
    env: Env, repo: Repo, auth_registry: Registry, tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert auth_registry.auth
    name = f"private/{env.ns}"
    images = {}
    for tag, created in (("1.0.0", "2024-01-01T00:00:00Z"), ("1.0.1", "2024-01-02T00:00:00Z")):
        layer, diff_id = push.layer_from_bytes({"v": tag.encode()})
        config = push.image_config([diff_id], entrypoint=["/v"], created=created)
        push.push(auth_registry.url, name, tag, config=config, layers=[layer],
                  auth=auth_registry.auth)
        images[tag] = f"{auth_registry.host}/{name}:{tag}"
    repo.commit({"app.yaml": workload(env.ns, "app", images["1.0.0"], {
        "fluxcd.io/automated": "true", "fluxcd.io/tag.app": "semver:^1"})})
    syncer = env.syncer(env.source(repo))

    async with RegistryClient() as anonymous:  # refused: nothing is released
        assert await automator(syncer, anonymous).run_once() is None
    capfd.readouterr()

    user, password = auth_registry.auth
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    config_json = tmp_path / "config.json"
    config_json.write_text(json.dumps({"auths": {auth_registry.host: {"auth": token}}}))
    async with RegistryClient(credentials=load_docker_config(config_json)) as private:
        assert await automator(syncer, private).run_once()
    assert password not in capfd.readouterr().err
    text = plain_git("--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1]),
                     "show", "main:app.yaml")
    assert f"image: {images['1.0.1']}" in text


async def test_a_workloads_image_pull_secret_opens_its_private_registry(
    env: Env, repo: Repo, auth_registry: Registry, client: RegistryClient,
) -> None:
    assert auth_registry.auth
    name = f"pulled/{env.ns}"
    for tag, created in (("1.0.0", "2024-01-01T00:00:00Z"), ("1.0.1", "2024-01-02T00:00:00Z")):
        layer, diff_id = push.layer_from_bytes({"v": tag.encode()})
        config = push.image_config([diff_id], entrypoint=["/v"], created=created)
        push.push(auth_registry.url, name, tag, config=config, layers=[layer],
                  auth=auth_registry.auth)
    user, password = auth_registry.auth
    dockerconfig = json.dumps({"auths": {auth_registry.host: {"username": user,
                                                              "password": password}}})
    await env.kube.request("POST", "/api/v1/namespaces",
                           body={"metadata": {"name": env.ns}})
    await env.kube.request("POST", f"/api/v1/namespaces/{env.ns}/secrets", body={
        "metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(dockerconfig.encode()).decode()}})
    text = workload(env.ns, "app", f"{auth_registry.host}/{name}:1.0.0", {
        "fluxcd.io/automated": "true", "fluxcd.io/tag.app": "semver:^1"})
    text = text.replace("      containers:", "      imagePullSecrets: [{name: regcred}]\n"
                                              "      containers:")
    repo.commit({"app.yaml": text})
    syncer = env.syncer(env.source(repo))
    auto = Automator(checkout=syncer.checkout, paths=syncer.source.paths,
                     scanner=Scanner(client), ci_skip=False, ci_skip_message="",
                     log=hwlog.get("daemon"), kube=env.kube)
    assert await auto.run_once()
    released = plain_git("--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1]),
                         "show", "main:app.yaml")
    assert f"image: {auth_registry.host}/{name}:1.0.1" in released


async def test_flux_v2_setter_markers_follow_the_policy_file(
    env: Env, repo: Repo, registry_repo: str, client: RegistryClient, tmp_path: Path
) -> None:
    v1 = push_image(env, registry_repo, "1.0.0", "2024-01-01T00:00:00Z")
    push_image(env, registry_repo, "1.0.1", "2024-01-02T00:00:00Z")
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(f"policies:\n- name: app\n  namespace: flux-system\n"
                           f"  image: {v1.rsplit(':', 1)[0]}\n  policy: semver:~1.0\n")
    marked = workload(env.ns, "app", v1, {"team": "web"}).replace(
        "  # the image Concourse builds", ' # {"$imagepolicy": "flux-system:app"}')
    repo.commit({"app.yaml": marked})
    syncer = env.syncer(env.source(repo))
    auto = Automator(checkout=syncer.checkout, paths=syncer.source.paths,
                     scanner=Scanner(client), ci_skip=False, ci_skip_message="",
                     log=hwlog.get("daemon"), image_policies=load_image_policies(policy_file))
    assert await auto.run_once()
    text = plain_git("--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1]),
                     "show", "main:app.yaml")
    assert text == marked.replace(v1, v1.replace(":1.0.0", ":1.0.1")).rstrip("\n")


@pytest.mark.parametrize(("content", "message"), [
    ("nope: []\n", "expected a mapping with a `policies:` list"),
    ("policies:\n- name: a\n  image: x/y\n", "policies[0]: needs name, image and policy"),
    ("policies:\n- {name: a, image: x/y, policy: 'semver:~~1'}\n", "is not valid"),
    ("policies: [\n", "policies.yaml"),
])
def test_a_bad_policy_file_is_refused_naming_the_entry(tmp_path: Path, content: str,
                                                       message: str) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(content)
    with pytest.raises(PolicyFileError, match=re.escape(message)):
        load_image_policies(path)


async def test_sync_with_scan_releases_on_demand(
    env: Env, repo: Repo, registry_repo: str, client: RegistryClient
) -> None:
    syncer = _automated_app(env, repo, registry_repo, registry_poll_interval=3600)
    metrics = SyncMetrics()
    controller = Controller([SourceLoop(syncer, metrics, syncer.log,
                                        automator(syncer, client))], metrics)
    task = asyncio.create_task(controller.run())
    try:
        await controller.sync()  # the first round has run; nothing newer exists
        v2 = push_image(env, registry_repo, "1.0.3", "2024-01-02T00:00:00Z")
        [result] = await controller.sync(scan=True)
        assert result.ok, result.message
        live = await env.get(f"/apis/apps/v1/namespaces/{env.ns}/deployments/app")
        assert live and live["spec"]["template"]["spec"]["containers"][0]["image"] == v2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _RacingCheckout(Checkout):
    """A human pushes right after the round's fetch (the tree it plans and edits), before
    its push: the push is refused, and the second attempt fetches and edits again."""

    def __init__(self, *args: Any, human: Repo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.human, self.syncs = human, 0

    async def sync(self) -> str:
        revision = await super().sync()
        self.syncs += 1
        if self.syncs == 1:  # run_once's fetch; commit_and_push's first attempt uses it
            self.human.commit({"README.md": "a human was here\n"}, message="human")
        return revision


async def test_a_human_commit_racing_the_release_is_kept(
    env: Env, repo: Repo, registry_repo: str, client: RegistryClient, tmp_path: Path
) -> None:
    v1 = push_image(env, registry_repo, "1.0.0", "2024-01-01T00:00:00Z")
    v2 = push_image(env, registry_repo, "1.0.1", "2024-01-02T00:00:00Z")
    repo.commit({"app.yaml": workload(env.ns, "app", v1, {
        "fluxcd.io/automated": "true", "fluxcd.io/tag.app": "semver:~1.0"})})
    checkout = _RacingCheckout(repo.url, "main", tmp_path / "co", human=repo,
                               auth=deploy_auth(env.stack))
    auto = Automator(checkout=checkout, paths=(".",), scanner=Scanner(client), ci_skip=True,
                     ci_skip_message="[ci skip]", log=hwlog.get("daemon"))
    assert await auto.run_once()
    bare = ["--git-dir", str(env.stack.git.repos / repo.url.rsplit("/", 1)[1])]
    assert plain_git(*bare, "log", "--format=%s", "main").splitlines()[:2] == [
        f"Auto-release {v2}", "human"]
    assert plain_git(*bare, "show", "main:README.md") == "a human was here"
    assert f"image: {v2}" in plain_git(*bare, "show", "main:app.yaml")
