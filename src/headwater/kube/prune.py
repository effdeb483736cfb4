"""Delete what left Git, and only what we are sure is ours.

A candidate comes from the previous inventory. It is deleted only if the live object
still carries this source's gc mark for exactly its id, has no `ignore` annotation and
no owner (a controller made it). Dry mode only reports. A failure on one object (its
GET or DELETE) does not stop the others: it is reported in `failed`, and only what
was deleted or found gone is `settled` (the inventory forgets those, not the rest).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from headwater.kube.client import Kube
from headwater.kube.discovery import Discovery
from headwater.kube.errors import ApiError, UnknownKind
from headwater.kube.objects import ObjId, ignore_value, is_ours


@dataclass
class PruneResult:
    deleted: list[ObjId] = field(default_factory=list)   # or, in dry mode, would be
    skipped: list[tuple[ObjId, str]] = field(default_factory=list)
    gone: list[ObjId] = field(default_factory=list)      # not found: nothing to delete
    failed: list[tuple[ObjId, str]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def settled(self) -> frozenset[ObjId]:
        """Objects confirmed deleted or gone: the inventory need not remember them."""
        return frozenset(self.gone) | (frozenset() if self.dry_run else frozenset(self.deleted))


async def prune(kube: Kube, discovery: Discovery, candidates: list[ObjId], *, source: str,
                dry_run: bool) -> PruneResult:
    result = PruneResult(dry_run=dry_run)

    async def one(obj_id: ObjId) -> None:
        try:
            rt = discovery.by_group_kind(obj_id.group, obj_id.kind)
        except UnknownKind:
            result.skipped.append((obj_id, "its kind is no longer served"))
            return
        path = rt.path(obj_id.namespace, obj_id.name)
        try:
            live = await kube.request("GET", path)
        except ApiError as e:
            if e.not_found:
                result.gone.append(obj_id)
                result.skipped.append((obj_id, "already gone"))
            else:
                result.failed.append((obj_id, f"GET {path}: {e}"))
            return
        if not is_ours(live, source=source, obj_id=obj_id):
            result.skipped.append((obj_id, "not marked as applied by this source"))
        elif ignore_value(live) in ("true", "sync_only"):
            result.skipped.append((obj_id, "has the ignore annotation"))
        elif (live.get("metadata") or {}).get("ownerReferences"):
            result.skipped.append((obj_id, "is owned by another object"))
        else:
            if not dry_run:
                try:
                    await kube.request("DELETE", path,
                                       params={"propagationPolicy": "Background"})
                except ApiError as e:
                    if not e.not_found:
                        result.failed.append((obj_id, f"DELETE {path}: {e}"))
                        return
            result.deleted.append(obj_id)

    # Candidates come ordered (dependents first); delete rank by rank would be stricter,
    # but the API server's garbage collector copes with any order.
    await asyncio.gather(*(one(i) for i in candidates))
    order = {obj_id: n for n, obj_id in enumerate(candidates)}
    result.deleted.sort(key=order.__getitem__)
    return result
