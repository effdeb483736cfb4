"""Delete what left Git, and only what we are sure is ours.

A candidate comes from the previous inventory. It is deleted only if the live object
still carries this source's gc mark for exactly its id, has no `ignore` annotation and
no owner (a controller made it). Dry mode only reports. The result is a list of
`Change` (kube/changeset.py), one per candidate: deleted (in dry mode, would be),
skipped with the reason, or unknown when its GET or DELETE failed; a failure on one
object does not stop the others. Only what was deleted or found gone is `settled`
(the inventory forgets those, not the rest).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from headwater.kube.changeset import ALREADY_GONE, Action, Change, ids
from headwater.kube.client import Kube
from headwater.kube.discovery import Discovery
from headwater.kube.errors import ApiError, UnknownKind
from headwater.kube.objects import ObjId, is_ours, sync_ignores


@dataclass
class PruneResult:
    changes: list[Change] = field(default_factory=list)  # in the candidates' order
    dry_run: bool = False

    @property
    def deleted(self) -> list[ObjId]:
        """Deleted or, in dry mode, would be."""
        return ids(self.changes, Action.DELETED)

    @property
    def failed(self) -> list[Change]:
        return [c for c in self.changes if c.action is Action.UNKNOWN]

    @property
    def settled(self) -> frozenset[ObjId]:
        """Objects confirmed deleted or gone: the inventory need not remember them."""
        return frozenset(c.id for c in self.changes if c.reason == ALREADY_GONE or (
            c.action is Action.DELETED and not self.dry_run))


async def prune(kube: Kube, discovery: Discovery, candidates: list[ObjId], *, source: str,
                dry_run: bool) -> PruneResult:
    changes: list[Change] = []

    async def one(obj_id: ObjId) -> None:
        changes.append(await _prune_one(kube, discovery, obj_id, source=source,
                                        dry_run=dry_run))

    # Candidates come ordered (dependents first); delete rank by rank would be stricter,
    # but the API server's garbage collector copes with any order.
    await asyncio.gather(*(one(i) for i in candidates))
    order = {obj_id: n for n, obj_id in enumerate(candidates)}
    changes.sort(key=lambda c: order[c.id])
    return PruneResult(changes, dry_run)


async def _prune_one(kube: Kube, discovery: Discovery, obj_id: ObjId, *, source: str,
                     dry_run: bool) -> Change:
    try:
        rt = discovery.by_group_kind(obj_id.group, obj_id.kind)
    except UnknownKind:
        return Change(obj_id, Action.SKIPPED, "its kind is no longer served")
    path = rt.path(obj_id.namespace, obj_id.name)
    try:
        live = await kube.request("GET", path)
    except ApiError as e:
        if e.not_found:
            return Change(obj_id, Action.SKIPPED, ALREADY_GONE)
        return Change(obj_id, Action.UNKNOWN, f"GET {path}: {e}")
    if not is_ours(live, source=source, obj_id=obj_id):
        return Change(obj_id, Action.SKIPPED, "not marked as applied by this source")
    if sync_ignores(live):
        return Change(obj_id, Action.SKIPPED, "has the ignore annotation")
    if (live.get("metadata") or {}).get("ownerReferences"):
        return Change(obj_id, Action.SKIPPED, "is owned by another object")
    if dry_run:
        return Change(obj_id, Action.DELETED, "dry run: not deleted")
    try:
        await kube.request("DELETE", path, params={"propagationPolicy": "Background"})
    except ApiError as e:
        if not e.not_found:
            return Change(obj_id, Action.UNKNOWN, f"DELETE {path}: {e}")
    return Change(obj_id, Action.DELETED)
