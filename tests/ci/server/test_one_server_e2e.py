"""One process, one API: a real `headwater server --cd-config` runs a pipeline build and
syncs a CD source of the stack's Git server into its cluster, both seen on the one
`/metrics` and through `/api/v1/cd/status`; the CD routes need the server's token (an
attacker without one syncs nothing); the OpenAPI document maps CI and CD routes."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from headwater.devstack import StackInfo
from headwater.devstack.ports import pick
from tests.ci.server.conftest import Server, wait_for
from tests.sync.conftest import INVENTORY_NS, Repo, configmap, namespace

pytestmark = pytest.mark.stack

PIPELINE = """\
resources:
- name: every-hour
  type: time
  source: {interval: 1h}
- name: nowhere
  type: git
  source: {uri: "file:///nonexistent/repo.git"}
jobs:
- name: hello
  plan:
  - task: say
    config:
      platform: linux
      run: {path: echo, args: [hello from CI]}
- name: never-triggered
  plan:
  - get: every-hour
  - get: nowhere
"""


def _deployment(ns: str) -> str:
    """An automated Deployment with no replicas: a workload, and no pod to pull for."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: {ns}
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/tag.app: semver:~1.0
spec:
  replicas: 0
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
      - name: app
        image: 127.0.0.1:5000/app:1.0.0
"""


def _kubectl(stack: StackInfo, *args: str) -> str:
    assert stack.kubeconfig
    done = subprocess.run([stack.kubectl or "kubectl", "--kubeconfig", stack.kubeconfig,
                           *args], capture_output=True, text=True, check=False)
    return done.stdout


def _configmap(stack: StackInfo, ns: str, name: str) -> str:
    return _kubectl(stack, "-n", ns, "get", "configmap", name, "-o",
                    "jsonpath={.data.v}", "--ignore-not-found")


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text, or None when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(want)}\}} (\S+)$", metrics, re.M)
    return float(m.group(1)) if m else None


@pytest.fixture
def source_name() -> str:
    return f"one-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def server_with_cd(stack: StackInfo, git_repo: str, tmp_path: Path,
                   source_name: str) -> Iterator[tuple[Server, Repo, str]]:
    """The server, a Git repository (its first commit already there) that is its CD
    source `source_name`, and the namespace that source creates."""
    assert stack.kubeconfig
    ns = f"one-{uuid.uuid4().hex[:8]}"
    repo = Repo(stack, git_repo, tmp_path / "dev")
    repo.commit({"deploy/ns.yaml": namespace(ns),
                 "deploy/a.yaml": configmap("a", ns, {"v": "first"}),
                 "deploy/app.yaml": _deployment(ns)})
    config = tmp_path / "cd.yml"
    config.write_text(yaml.safe_dump({"sources": [{
        "name": source_name, "git-url": repo.url, "git-branch": "main",
        "git-path": ["deploy"], "git-ssh-key": str(stack.git.deploy_key),
        "git-known-hosts": str(stack.git.known_hosts), "git-readonly": True,
        "git-poll-interval": "1h", "sync-interval": "1h",
        "registry-disable-scanning": True}]}))
    data = tmp_path / "server"
    data.mkdir()
    server = Server(data_dir=data, port=pick(None, set()), args=[
        "--cd-config", str(config), "--kubeconfig", stack.kubeconfig,
        *(["--kubectl", stack.kubectl] if stack.kubectl else [])])
    try:
        server.start()
        yield server, repo, ns
    finally:
        server.stop()
        _kubectl(stack, "delete", "namespace", ns, "--wait=false")
        _kubectl(stack, "-n", INVENTORY_NS, "delete", "configmap",
                 f"headwater-inventory-{source_name}", "--ignore-not-found", "--wait=false")


def test_one_server_builds_a_pipeline_and_syncs_a_source_on_one_api(
        stack: StackInfo, server_with_cd: tuple[Server, Repo, str], source_name: str) -> None:
    server, repo, ns = server_with_cd
    with server.api() as api:
        # CD: the source's first poll syncs the commit that was there at start.
        wait_for(lambda: api.get("/cd/status").json()["sources"][0]["state"] == "Ready", 60)
        assert _configmap(stack, ns, "a") == "first"

        # CI: a pipeline's build, and the checks of its two resources (one fails).
        assert api.put("/teams/main/pipelines/p/config",
                       json={"config": PIPELINE}).status_code == 200
        assert api.put("/teams/main/pipelines/p/unpause").status_code == 200
        build = api.post("/teams/main/pipelines/p/jobs/hello/builds").json()
        done = wait_for(lambda: (b := api.get(f"/builds/{build['id']}").json())["status"]
                        not in ("pending", "started") and b, 120)
        assert isinstance(done, dict) and done["status"] == "succeeded"
        ok = api.post("/teams/main/pipelines/p/resources/every-hour/check").json()
        assert ok["check_error"] is None
        bad = api.post("/teams/main/pipelines/p/resources/nowhere/check").json()
        assert bad["check_error"]

        # CD again, asked over the API: a new commit synced and waited for.
        rev = repo.commit({"deploy/a.yaml": configmap("a", ns, {"v": "second"})})
        answer = api.post("/cd/sync", params={"wait": "true"}).json()
        assert [(r["source"], r["revision"], r["ok"]) for r in answer["results"]] == [
            (source_name, rev, True)]
        assert _configmap(stack, ns, "a") == "second"
        status = api.get("/cd/status").json()["sources"]
        assert [(s["source"], s["state"], s["last"]["revision"]) for s in status] == [
            (source_name, "Ready", rev)]
        [found] = api.get("/cd/workloads", params={"source": source_name}).json()["sources"]
        assert (found["source"], found["revision"]) == (source_name, rev)
        assert [(w["id"], w["file"], w["automated"], w["containers"]) for w in
                found["workloads"]] == [(f"{ns}:deployment/app", "deploy/app.yaml", True, [
                    {"name": "app", "image": "127.0.0.1:5000/app:1.0.0", "init": False,
                     "policy": "semver:~1.0"}])]

        metrics = httpx.get(server.url + "/metrics", timeout=30,
                            headers=dict(api.headers)).text
    assert _sample(metrics, "headwater_builds_finished_total", status="succeeded") == 1
    assert _sample(metrics, "headwater_build_duration_seconds_count", status="succeeded") == 1
    assert (_sample(metrics, "headwater_resource_check_duration_seconds_count",
                    result="succeeded") or 0) >= 1
    assert (_sample(metrics, "headwater_resource_check_errors_total", result="failed")
            or 0) >= 1
    assert _sample(metrics, "headwater_sync_duration_seconds_count", source=source_name,
                   success="true") == 2
    assert _sample(metrics, "headwater_sync_last_revision_info", revision=rev,
                   source=source_name) == 1


def test_the_cd_routes_need_the_token_and_sync_nothing_without_it(
        stack: StackInfo, server_with_cd: tuple[Server, Repo, str], source_name: str) -> None:
    server, repo, ns = server_with_cd
    with server.api() as api:
        wait_for(lambda: api.get("/cd/status").json()["sources"][0]["state"] == "Ready", 60)
        first = api.get("/cd/status").json()["sources"][0]["last"]["revision"]
    repo.commit({"deploy/a.yaml": configmap("a", ns, {"v": "pushed by the attacker"})})
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for headers in ({}, {"Authorization": "Bearer not-the-token"},
                        {"Authorization": f"Basic {server.token}"}):
            for path in ("/api/v1/cd/sync", "/api/v1/sync"):  # the old path too
                refused = anonymous.post(path, params={"wait": "true"}, headers=headers)
                assert refused.status_code == 401, (path, headers)
                assert "token" in refused.json()["detail"]
            for path in ("/api/v1/cd/status", "/api/v1/status", "/api/v1/cd/workloads",
                         "/metrics", "/api/v1/openapi.json"):
                assert anonymous.get(path, headers=headers).status_code == 401, path
        assert anonymous.get("/api/v1/docs").status_code == 404  # only in --dev
        assert anonymous.get("/healthz").status_code == 200
    with server.api() as api:
        status = api.get("/cd/status").json()["sources"][0]
    assert status["last"]["revision"] == first  # nothing was synced
    assert _configmap(stack, ns, "a") == "first"


def test_the_openapi_document_lists_the_ci_and_cd_routes(
        server_with_cd: tuple[Server, Repo, str]) -> None:
    server, _, _ = server_with_cd
    with server.api() as api:
        doc = api.get("/openapi.json").json()
    paths = doc["paths"]
    for path, method in [("/api/v1/teams/{team}/pipelines", "get"),
                         ("/api/v1/teams/{team}/pipelines/{name}/config", "put"),
                         ("/api/v1/teams/{team}/pipelines/{name}/jobs/{job}/builds", "post"),
                         ("/api/v1/builds/{build_id}/events", "get"),
                         ("/api/v1/teams/{team}/pipelines/{name}/resources/{resource}/check",
                          "post"),
                         ("/api/v1/tokens", "post"),
                         ("/api/v1/cd/sync", "post"), ("/api/v1/cd/status", "get"),
                         ("/api/v1/cd/workloads", "get"),
                         ("/metrics", "get")]:
        assert method in paths.get(path, {}), (path, method)
    assert "/api/v1/sync" not in paths  # the old paths answer, undocumented
    tags = {tag for ops in paths.values() for op in ops.values() for tag in op["tags"]}
    assert {"pipelines", "jobs", "builds", "resources", "tokens", "cd"} <= tags
