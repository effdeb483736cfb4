"""Pods really run: an image built with buildah and pushed to the stack's registry rolls
out, serves HTTP through a port-forward, and a new tag rolls the pods to it."""

from __future__ import annotations

from pathlib import Path

import httpx
from kubernetes_asyncio.dynamic import DynamicClient

from headwater.devstack import StackInfo
from tests.stack.helpers import build_and_push, deployment, port_forward, wait_rollout


def _get_page(stack: StackInfo, namespace: str, pod: str) -> str:
    assert stack.kubectl and stack.kubeconfig
    with port_forward(stack.kubectl, stack.kubeconfig, namespace, f"pod/{pod}", 8080) as port:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text


async def test_a_pushed_image_rolls_out_serves_http_and_rolls_to_a_new_tag(
    stack: StackInfo, dyn: DynamicClient, namespace: str, registry_repo: str, tmp_path: Path
) -> None:
    image = f"{stack.registry.host}/{registry_repo}"
    build_and_push(tmp_path / "v1", ref=f"{image}:1.0.0", page="hello from 1.0.0\n")
    deployments = await dyn.resources.get(api_version="apps/v1", kind="Deployment")

    await dyn.server_side_apply(deployments, body=deployment(namespace, f"{image}:1.0.0"),
                                field_manager="headwater", force_conflicts=True)
    pods = await wait_rollout(dyn, namespace, "web")
    assert len(pods) == 2
    assert {p.spec.containers[0].image for p in pods} == {f"{image}:1.0.0"}
    assert all(p.status.containerStatuses[0].ready for p in pods)
    assert _get_page(stack, namespace, pods[0].metadata.name) == "hello from 1.0.0\n"

    build_and_push(tmp_path / "v2", ref=f"{image}:1.0.1", page="hello from 1.0.1\n")
    await dyn.server_side_apply(deployments, body=deployment(namespace, f"{image}:1.0.1"),
                                field_manager="headwater", force_conflicts=True)
    rolled = await wait_rollout(dyn, namespace, "web")
    assert {p.spec.containers[0].image for p in rolled} == {f"{image}:1.0.1"}
    assert not {p.metadata.name for p in rolled} & {p.metadata.name for p in pods}
    assert _get_page(stack, namespace, rolled[0].metadata.name) == "hello from 1.0.1\n"
