"""The stack's API server is a real one: server-side apply of built-in kinds, CRDs and
custom resources through kubernetes-asyncio's DynamicClient."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio.dynamic import DynamicClient


def _deployment(namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


async def test_server_side_apply_of_a_deployment_is_read_back(
    dyn: DynamicClient, namespace: str
) -> None:
    deployments = await dyn.resources.get(api_version="apps/v1", kind="Deployment")
    await dyn.server_side_apply(deployments, body=_deployment(namespace, "example/web:1.0.0"),
                                field_manager="headwater", force_conflicts=True)
    got = await dyn.get(deployments, name="web", namespace=namespace)
    assert got.spec.template.spec.containers[0].image == "example/web:1.0.0"
    # The deployment controller may add its own entry for status; only we apply.
    appliers = [f.manager for f in got.metadata.managedFields if f.operation == "Apply"]
    assert appliers == ["headwater"]
    # A second apply by another manager without force conflicts on the image field.
    body = _deployment(namespace, "example/web:2.0.0")
    await dyn.server_side_apply(deployments, body=body, field_manager="headwater",
                                force_conflicts=True)
    got = await dyn.get(deployments, name="web", namespace=namespace)
    assert got.spec.template.spec.containers[0].image == "example/web:2.0.0"


async def test_a_crd_and_one_of_its_custom_resources_apply_and_read_back(
    dyn: DynamicClient, namespace: str
) -> None:
    group = f"{namespace}.headwater.test"  # one CRD per test: cluster-scoped, named uniquely
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer"}, "colour": {"type": "string"}}}}}},
            }],
        },
    }
    crds = await dyn.resources.get(api_version="apiextensions.k8s.io/v1",
                                   kind="CustomResourceDefinition")
    await dyn.server_side_apply(crds, body=crd, field_manager="headwater", force_conflicts=True)
    try:
        for _ in range(100):  # Established is set asynchronously by the apiextensions server
            got = await dyn.get(crds, name=f"widgets.{group}")
            conditions = {c.type: c.status for c in (got.status.conditions or [])}
            if conditions.get("Established") == "True":
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"CRD never Established: {conditions}")
        await dyn.resources.invalidate_cache()
        widgets = await dyn.resources.get(api_version=f"{group}/v1", kind="Widget")
        await dyn.server_side_apply(widgets, body={
            "apiVersion": f"{group}/v1", "kind": "Widget",
            "metadata": {"name": "blue", "namespace": namespace},
            "spec": {"size": 3, "colour": "blue"},
        }, field_manager="headwater", force_conflicts=True)
        widget = await dyn.get(widgets, name="blue", namespace=namespace)
        assert (widget.spec.size, widget.spec.colour) == (3, "blue")
    finally:
        await dyn.delete(crds, name=f"widgets.{group}")
