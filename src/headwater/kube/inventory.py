"""What a source applied and has not yet pruned, kept in the cluster; what has left Git.

The inventory of each source is a ConfigMap `headwater-inventory-<source>` in the
controller's namespace: the synced revision and one object id per line. It is read and
written only after a good apply, so a failed or partial apply never prunes.

It holds the applied objects plus every earlier object not confirmed deleted or gone
(kustomize-controller's prune survivors), so nothing is forgotten before it is pruned:
a sync writes `applied | previous` before pruning, then `applied | (previous not
deleted and not gone)` after. A DELETE that fails, a crash between the two writes, a
dry run, or garbage collection off all leave the objects to be pruned by a later sync.
`keep` is that rule, a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.kube.apply import rank
from headwater.kube.client import APPLY_PATCH, Kube
from headwater.kube.errors import ApiError
from headwater.kube.objects import SOURCE_LABEL, ObjId


@dataclass(frozen=True)
class Inventory:
    source: str
    revision: str
    ids: frozenset[ObjId]


def stale(previous: Inventory | None, current: set[ObjId]) -> list[ObjId]:
    """Objects of the previous inventory no longer in Git: dependents first, Namespaces
    and CRDs last (the reverse of the apply order)."""
    if previous is None:
        return []
    gone = previous.ids - current
    return sorted(gone, key=lambda i: (-rank(i.kind), i))


def keep(previous: Inventory | None, applied: set[ObjId] | frozenset[ObjId], *,
         settled: set[ObjId] | frozenset[ObjId] = frozenset()) -> frozenset[ObjId]:
    """What the inventory keeps: the `applied` objects, and every object of the previous
    inventory not `settled` (confirmed deleted, or found gone) by a prune."""
    survivors = (previous.ids - settled) if previous is not None else frozenset()
    return frozenset(applied) | survivors


def _name(source: str) -> str:
    return f"headwater-inventory-{source}"


def _path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{base}/{name}" if name else base


async def load(kube: Kube, namespace: str, source: str) -> Inventory | None:
    try:
        cm = await kube.request("GET", _path(namespace, _name(source)))
    except ApiError as e:
        if e.not_found:
            return None
        raise
    data = cm.get("data") or {}
    ids = frozenset(ObjId.from_key(k) for k in (data.get("objects") or "").splitlines() if k)
    return Inventory(source, data.get("revision", ""), ids)


async def save(kube: Kube, namespace: str, inventory: Inventory) -> None:
    await ensure_namespace(kube, namespace)
    body = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": _name(inventory.source), "namespace": namespace,
                     "labels": {SOURCE_LABEL + "-inventory": inventory.source}},
        "data": {"source": inventory.source, "revision": inventory.revision,
                 "objects": "".join(f"{i.key()}\n" for i in sorted(inventory.ids))},
    }
    await kube.request("PATCH", _path(namespace, _name(inventory.source)),
                       params={"fieldManager": "headwater", "force": "true"}, body=body,
                       content_type=APPLY_PATCH)


async def ensure_namespace(kube: Kube, namespace: str) -> None:
    try:
        await kube.request("GET", f"/api/v1/namespaces/{namespace}")
    except ApiError as e:
        if not e.not_found:
            raise
        await kube.request("PATCH", f"/api/v1/namespaces/{namespace}",
                           params={"fieldManager": "headwater", "force": "true"},
                           body={"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": namespace}},
                           content_type=APPLY_PATCH)
