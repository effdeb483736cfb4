"""Object identity and the marks headwater puts on what it applies.

An object is identified as Flux does, by group, kind, namespace and name. Each applied
object carries three marks (the `headwater.dev/` twins of Flux v1's):
- label `headwater.dev/source`: the sync source's name, to LIST a source's objects;
- label `headwater.dev/sync-gc-mark`: a hash of source + id, so that only an object
  applied for exactly this source and id is ever pruned (a copied label does not match);
- annotation `headwater.dev/sync-checksum`: a hash of the manifest as Git had it, so an
  unchanged manifest costs no write.

The `ignore` annotation (Flux v1's two spellings and ours) and its values live here, and
only here: the sync neither applies nor prunes an object marked `true` or `sync_only`;
image automation (cd/workloads.py) leaves alone only `true`, as fluxd does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

SOURCE_LABEL = "headwater.dev/source"
GC_MARK_LABEL = "headwater.dev/sync-gc-mark"
CHECKSUM_ANNOTATION = "headwater.dev/sync-checksum"
IGNORE_ANNOTATIONS = ("fluxcd.io/ignore", "flux.weave.works/ignore", "headwater.dev/ignore")
IGNORE = "true"                 # neither synced nor automated
IGNORE_SYNC_ONLY = "sync_only"  # not synced (applied or pruned), still automated
SYNC_IGNORES = frozenset({IGNORE, IGNORE_SYNC_ONLY})


@dataclass(frozen=True, order=True)
class ObjId:
    group: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    def __str__(self) -> str:
        # Flux's event format: <namespace>:<kind>/<name>, "<cluster>" for cluster scope
        return f"{self.namespace or '<cluster>'}:{self.kind.lower()}/{self.name}"

    def key(self) -> str:
        return f"{self.group}/{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def from_key(cls, key: str) -> ObjId:
        group, kind, namespace, name = key.split("/", 3)
        return cls(group, kind, namespace, name)


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def gc_mark(source: str, obj_id: ObjId) -> str:
    digest = hashlib.sha256(f"{source}{obj_id.key()}".encode()).digest()
    return "sha256." + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def checksum(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:32]


def ignore_value(obj: dict[str, Any]) -> str | None:
    """The `ignore` annotation of an object ("true", "sync_only", ...) if it has one."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    for key in IGNORE_ANNOTATIONS:
        if key in annotations:
            return str(annotations[key]).lower()
    return None


def sync_ignores(obj: dict[str, Any] | None) -> bool:
    """Does the sync leave `obj` alone (neither apply nor prune it)?"""
    return obj is not None and ignore_value(obj) in SYNC_IGNORES


def marked(obj: dict[str, Any], *, source: str, obj_id: ObjId) -> dict[str, Any]:
    """A copy of `obj` with our labels and checksum, in `obj_id`'s namespace."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    annotations[CHECKSUM_ANNOTATION] = checksum(obj)
    labels[SOURCE_LABEL] = source
    labels[GC_MARK_LABEL] = gc_mark(source, obj_id)
    meta["labels"], meta["annotations"] = labels, annotations
    if obj_id.namespace:
        meta["namespace"] = obj_id.namespace
    out["metadata"] = meta
    return out


def is_ours(live: dict[str, Any], *, source: str, obj_id: ObjId) -> bool:
    labels = (live.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(GC_MARK_LABEL) == gc_mark(source, obj_id))
