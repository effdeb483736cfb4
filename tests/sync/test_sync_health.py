"""--wait: a sync waits for workloads to roll out on the real node, and names what is not
ready and why (here: the image that cannot be pulled)."""

from __future__ import annotations

from headwater.cd import reasons
from headwater.devstack import node
from tests.sync.conftest import Env, Repo, namespace


def _deployment(ns: str, image: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
"""


async def test_a_good_rollout_passes_the_health_check(env: Env, repo: Repo) -> None:
    image = f"{env.stack.registry.host}/{node.PAUSE_REPOSITORY}:{node.PAUSE_TAG}"
    repo.commit({"ns.yaml": namespace(env.ns), "web.yaml": _deployment(env.ns, image)})
    result = await env.syncer(env.source(repo, wait=True, wait_timeout=90)).sync()
    assert result.ok, result.message
    web = await env.get(f"/apis/apps/v1/namespaces/{env.ns}/deployments/web")
    assert web and web["status"]["availableReplicas"] == 1


async def test_an_image_that_does_not_exist_fails_naming_the_pod_and_image(
    env: Env, repo: Repo
) -> None:
    image = f"{env.stack.registry.host}/test/no-such-image:9.9.9"
    repo.commit({"ns.yaml": namespace(env.ns), "web.yaml": _deployment(env.ns, image)})
    result = await env.syncer(env.source(repo, wait=True, wait_timeout=15)).sync()
    assert result.reason == reasons.HEALTH_CHECK_FAILED
    assert f"{env.ns}:deployment/web not ready after 15s" in result.message
    assert f"cannot pull image '{image}'" in result.message
    assert "ImagePullBackOff" in result.message or "ErrImagePull" in result.message
