"""Push webhooks through a real `headwater server` whose checker polls once an hour: a
signed GitHub push checks the git resource at once and its job builds; a push with a
wrong signature is refused (401), checks nothing and is logged without secrets; a
registry's own notification of an image push checks the registry-image resource."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.devstack import StackInfo
from headwater.devstack.ports import pick
from tests.ci.server.conftest import Fly, Server, wait_for
from tests.gitseed import Seed
from tests.hookhelpers import notifying_registry, push_image

pytestmark = pytest.mark.stack

SECRET = secrets.token_hex(32)
REGISTRY_SECRET = secrets.token_hex(32)

PIPELINE = """
resources:
- name: repo
  type: git
  source: {{uri: "{uri}", branch: main}}
- name: elsewhere
  type: git
  source: {{uri: "{uri}", branch: other}}
jobs:
- name: build
  plan:
  - get: repo
    trigger: true
  - task: show
    config:
      platform: linux
      inputs: [{{name: repo}}]
      run: {{path: sh, args: [-ec, "cat repo/app.txt"]}}
- name: other
  plan:
  - get: elsewhere
"""


@pytest.fixture
def registry_port() -> int:
    return pick(None, set())


@pytest.fixture
def server_args(stack: StackInfo, tmp_path: Path, registry_port: int) -> tuple[str, ...]:
    secrets_file = tmp_path / "hooks.secrets"
    secrets_file.write_text(f"# the forge's hook\ngithub={SECRET}\nregistry={REGISTRY_SECRET}\n")
    secrets_file.chmod(0o600)
    # Polling once an hour: only the webhook can explain a check.
    return ("--checker-interval", "1h", "--webhook-secrets", str(secrets_file),
            "--task-allow", f"127.0.0.1:{stack.ports['git']}",
            "--task-allow", f"127.0.0.1:{registry_port}")


def _github_push(stack: StackInfo, repo: str, after: str) -> bytes:
    """GitHub's push payload for the stack repository, naming it by its ssh and https
    URLs only (the pipeline uses git://)."""
    return json.dumps({
        "ref": "refs/heads/main", "before": "0" * 39 + "1", "after": after,
        "repository": {"name": repo, "full_name": f"stack/{repo}",
                       "clone_url": f"https://127.0.0.1:8443/{repo}",
                       "ssh_url": stack.git.ssh_url(repo)},
        "pusher": {"name": "test"}}).encode()


def _post(server: Server, body: bytes, secret: str) -> httpx.Response:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(f"{server.url}/api/v1/hooks/git", content=body, timeout=30, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "1",
        "Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"})


def _resource(server: Server, name: str) -> dict[str, Any]:
    with server.api() as api:
        found = api.get("/teams/main/pipelines/hooks/resources").json()
    return next(r for r in found if r["name"] == name)


def _builds(server: Server) -> list[dict[str, Any]]:
    with server.api() as api:
        return api.get("/teams/main/pipelines/hooks/jobs/build/builds").json()  # type: ignore[no-any-return]


def test_a_signed_push_checks_the_git_resource_now_and_a_build_starts(
        stack: StackInfo, git_repo: str, ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    seed = Seed(stack, git_repo, tmp_path / "seed")
    revision = seed.commit({"app.txt": "v1"}, "first")
    pipeline = tmp_path / "hooks.yml"
    pipeline.write_text(textwrap.dedent(PIPELINE.format(uri=stack.git.git_url(git_repo))))
    code, out = fly("set-pipeline", "-p", "hooks", "-c", str(pipeline), "-n")
    assert code == 0, out
    assert fly("unpause-pipeline", "-p", "hooks")[0] == 0
    body = _github_push(stack, git_repo, revision)

    # the attack: a push signed with another secret, then one with none
    forged = hmac.new(b"guessed", body, hashlib.sha256).hexdigest()
    refused = _post(ci_server, body, "guessed")
    assert refused.status_code == 401
    assert "nothing was triggered" in refused.json()["detail"]
    unsigned = httpx.post(f"{ci_server.url}/api/v1/hooks/git", content=body, timeout=30,
                          headers={"X-GitHub-Event": "push"})
    assert unsigned.status_code == 401
    time.sleep(3)  # three scheduler ticks: nothing may have happened
    assert _resource(ci_server, "repo")["last_checked"] is None
    assert _builds(ci_server) == []
    log = ci_server.log.read_text()
    assert "webhook refused" in log and "hook=github" in log
    assert forged not in log and SECRET not in log

    accepted = _post(ci_server, body, SECRET)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["checked"] == ["hooks/repo"]  # not the resource of branch other
    assert accepted.json()["synced"] == []
    builds: list[dict[str, Any]] = wait_for(lambda: _builds(ci_server), timeout=60)  # type: ignore[assignment]
    assert _resource(ci_server, "repo")["last_checked"] is not None
    assert _resource(ci_server, "elsewhere")["last_checked"] is None
    code, out = fly("watch", "-j", "hooks/build", "-b", builds[0]["name"])
    assert code == 0, out
    assert "v1" in out
    assert SECRET not in ci_server.log.read_text()


def test_an_oversized_body_is_refused_before_it_is_read(ci_server: Server) -> None:
    r = httpx.post(f"{ci_server.url}/api/v1/hooks/git", content=b"x" * (1024 * 1024 + 1),
                   headers={"X-GitHub-Event": "push"}, timeout=30)
    assert r.status_code == 413


IMAGE_PIPELINE = """
resources:
- name: image
  type: registry-image
  source: {{repository: "127.0.0.1:{port}/app", tag: latest}}
jobs:
- name: deploy
  plan:
  - get: image
"""


def test_the_registry_notification_of_a_push_checks_the_image_resource(
        ci_server: Server, fly: Fly, registry_port: int, tmp_path: Path) -> None:
    pipeline = tmp_path / "image.yml"
    pipeline.write_text(textwrap.dedent(IMAGE_PIPELINE.format(port=registry_port)))
    code, out = fly("set-pipeline", "-p", "image", "-c", str(pipeline), "-n")
    assert code == 0, out
    assert fly("unpause-pipeline", "-p", "image")[0] == 0
    hook = f"{ci_server.url}/api/v1/hooks/registry"
    with notifying_registry(hook, REGISTRY_SECRET, port=registry_port) as reg:
        push_image(reg, "app", "latest", "2024-01-01T00:00:00Z")

        def versions() -> list[dict[str, Any]]:
            with ci_server.api() as api:
                found: list[dict[str, Any]] = api.get(
                    "/teams/main/pipelines/image/resources/image/versions").json()
                return found

        found: list[dict[str, Any]] = wait_for(versions, timeout=60)  # type: ignore[assignment]
        [version] = found
    assert version["version"]["digest"].startswith("sha256:")
    assert REGISTRY_SECRET not in ci_server.log.read_text()
