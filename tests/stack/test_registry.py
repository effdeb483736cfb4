"""The stack's registry is a real OCI distribution server, with optional basic auth."""

from __future__ import annotations

from pathlib import Path

import httpx

from headwater.devstack import StackInfo, registry
from tests.stack.helpers import build_and_push


def test_pushed_tags_are_listed_over_http(
    stack: StackInfo, registry_repo: str, tmp_path: Path
) -> None:
    for tag in ("1.0.0", "1.0.1"):
        build_and_push(tmp_path / tag, ref=f"{stack.registry.host}/{registry_repo}:{tag}",
                       page=tag)
    r = httpx.get(f"{stack.registry.url}/v2/{registry_repo}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": registry_repo, "tags": ["1.0.0", "1.0.1"]}
    manifest = httpx.get(
        f"{stack.registry.url}/v2/{registry_repo}/manifests/1.0.1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert manifest.headers["Content-Type"] == (
        "application/vnd.docker.distribution.manifest.v2+json")
    assert manifest.headers["Docker-Content-Digest"].startswith("sha256:")


def test_with_auth_on_the_registry_answers_401_without_credentials(
    auth_registry: registry.Registry,
) -> None:
    anonymous = httpx.get(f"{auth_registry.url}/v2/_catalog")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith('Basic realm="headwater"')
    wrong = httpx.get(f"{auth_registry.url}/v2/_catalog", auth=("headwater", "wrong"))
    assert wrong.status_code == 401
    assert auth_registry.auth is not None
    good = httpx.get(f"{auth_registry.url}/v2/_catalog", auth=auth_registry.auth)
    assert good.status_code == 200
    assert isinstance(good.json()["repositories"], list)  # shared by the session's tests
