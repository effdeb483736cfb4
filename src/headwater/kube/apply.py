"""Server-side apply of a whole set, all or nothing.

`Applier.apply` plans every object (its kind, its id, whether the live object already
holds it), then dry-runs every object it must write. Only when the whole set passes
does it write, Namespaces and CRDs first, then the rest by Flux's rank of kinds.
Objects in a namespace, or of a kind, that this very set creates cannot be dry-run
before that namespace or CRD exists: then the dry run goes in two stages, and only
Namespaces and CRDs may have been written when the second stage fails (the error
says so). Unchanged objects cost no request beyond the one LIST per kind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from headwater.kube import drift
from headwater.kube.client import APPLY_PATCH, Kube
from headwater.kube.discovery import Discovery, ResourceType
from headwater.kube.errors import ApiError, UnknownKind
from headwater.kube.objects import (
    SOURCE_LABEL,
    ObjId,
    group_of,
    ignore_value,
    marked,
)

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
NAMESPACE = ("", "Namespace")
_RANKS = {  # Flux v1's partial order of kinds (pkg/cluster/kubernetes/sync.go)
    "namespace": 0,
    "customresourcedefinition": 1, "serviceaccount": 1, "clusterrole": 1, "role": 1,
    "persistentvolume": 1, "service": 1,
    "resourcequota": 2, "limitrange": 2, "secret": 2, "configmap": 2, "rolebinding": 2,
    "clusterrolebinding": 2, "persistentvolumeclaim": 2, "ingress": 2,
    "daemonset": 3, "deployment": 3, "replicationcontroller": 3, "replicaset": 3, "job": 3,
    "cronjob": 3, "statefulset": 3,
}
IGNORED = ("true", "sync_only")


def rank(kind: str) -> int:
    return _RANKS.get(kind.lower(), 4)


@dataclass(frozen=True)
class Desired:
    """An object as Git has it, and where: "file:line" for error messages."""
    obj: dict[str, Any]
    location: str


@dataclass
class Planned:
    desired: Desired
    id: ObjId
    rt: ResourceType | None  # None while the CRD that defines the kind is not served
    live: dict[str, Any] | None = None
    action: str = "create"  # create | configure | unchanged | ignored
    why: str = ""           # for "configure": the first field that differs
    body: dict[str, Any] = field(default_factory=dict)  # what is applied: the object marked

    @property
    def writes(self) -> bool:
        return self.action in ("create", "configure")


@dataclass(frozen=True)
class Failure:
    location: str
    id: ObjId | None
    message: str

    def __str__(self) -> str:
        who = f"{self.id}: " if self.id else ""
        return f"{self.location}: {who}{self.message}"


class ApplyFailed(Exception):
    """Nothing (or, as `written` says, only Namespaces and CRDs) was written."""

    def __init__(self, stage: str, failures: list[Failure], written: list[ObjId]) -> None:
        self.stage, self.failures, self.written = stage, failures, written
        lines = [f"{stage} failed for {len(failures)} object(s); nothing else was applied:"]
        lines += [f"  {f}" for f in failures]
        if written:
            lines.append("  written before the failure: " + ", ".join(map(str, written)))
        super().__init__("\n".join(lines))


@dataclass
class ApplyResult:
    objects: list[Planned] = field(default_factory=list)
    seconds: float = 0.0

    def having(self, action: str) -> list[ObjId]:
        return [p.id for p in self.objects if p.action == action]

    @property
    def changed(self) -> list[ObjId]:
        return [p.id for p in self.objects if p.writes]


class Applier:
    def __init__(
        self, kube: Kube, discovery: Discovery, *, source: str, field_manager: str = "headwater",
        default_namespace: str = "default", allow_namespaces: Iterable[str] = (),
        concurrency: int = 16,
    ) -> None:
        self.kube, self.discovery, self.source = kube, discovery, source
        self.field_manager = field_manager
        self.default_namespace = default_namespace
        self.allow = set(allow_namespaces)
        self.concurrency = concurrency

    # --- planning -------------------------------------------------------------------

    def allowed(self, obj_id: ObjId) -> bool:
        """Flux's --k8s-allow-namespace: namespaced objects, and Namespaces, in the list."""
        if not self.allow:
            return True
        if obj_id.namespace:
            return obj_id.namespace in self.allow
        return (obj_id.group, obj_id.kind) != NAMESPACE or obj_id.name in self.allow

    def _identify(self, d: Desired, crd_kinds: dict[tuple[str, str], bool]
                  ) -> tuple[ObjId, ResourceType | None]:
        api_version, kind = d.obj["apiVersion"], d.obj["kind"]
        meta = d.obj.get("metadata") or {}
        group = group_of(api_version)
        try:
            rt: ResourceType | None = self.discovery.lookup(api_version, kind)
        except UnknownKind:
            if (group, kind) not in crd_kinds:
                raise
            rt = None
        # A kind still to be defined by a CRD of this set: its CRD says if it is namespaced.
        namespaced = rt.namespaced if rt else crd_kinds[(group, kind)]
        namespace = (meta.get("namespace") or self.default_namespace) if namespaced else ""
        return ObjId(group, kind, namespace, meta["name"]), rt

    async def plan(self, desired: list[Desired]) -> tuple[list[Planned], list[Failure]]:
        crd_kinds: dict[tuple[str, str], bool] = {}  # kinds this set defines -> namespaced
        for d in desired:
            if (group_of(d.obj["apiVersion"]), d.obj["kind"]) == CRD:
                spec = d.obj.get("spec") or {}
                key = (spec.get("group", ""), (spec.get("names") or {}).get("kind", ""))
                crd_kinds[key] = spec.get("scope", "Namespaced") == "Namespaced"
        planned: list[Planned] = []
        failures: list[Failure] = []
        seen: dict[ObjId, str] = {}
        for d in desired:
            try:
                obj_id, rt = self._identify(d, crd_kinds)
            except UnknownKind as e:
                failures.append(Failure(d.location, None, str(e)))
                continue
            if obj_id in seen:
                failures.append(Failure(d.location, obj_id, f"also defined at {seen[obj_id]}"))
                continue
            seen[obj_id] = d.location
            if self.allowed(obj_id):
                planned.append(Planned(d, obj_id, rt))
        await self._observe(planned)
        return planned, failures

    async def _observe(self, planned: list[Planned]) -> None:
        """One LIST per kind (per allowed namespace with an allow list) of our objects."""
        kinds = {p.rt for p in planned if p.rt}
        live: dict[ObjId, dict[str, Any]] = {}

        async def list_kind(rt: ResourceType, namespace: str) -> None:
            if "list" not in rt.verbs:
                return
            doc = await self.kube.request("GET", rt.path(namespace),
                                          params={"labelSelector": f"{SOURCE_LABEL}={self.source}"})
            for item in doc.get("items") or []:
                meta = item.get("metadata") or {}
                live[ObjId(rt.group, rt.kind, meta.get("namespace", ""), meta["name"])] = item

        jobs = [(rt, ns) for rt in kinds
                for ns in (sorted(self.allow) if self.allow and rt.namespaced else [""])]
        await asyncio.gather(*(list_kind(rt, ns) for rt, ns in jobs))
        for p in planned:
            p.live = live.get(p.id)
            p.body = body = marked(p.desired.obj, source=self.source, obj_id=p.id)
            if ignore_value(p.desired.obj) in IGNORED or (
                    p.live and ignore_value(p.live) in IGNORED):
                p.action = "ignored"
            elif p.live is None:
                p.action = "create"
            elif why := drift.drifted(body, p.live):
                p.action, p.why = "configure", why
            else:
                p.action = "unchanged"

    # --- writing --------------------------------------------------------------------

    async def _patch(self, p: Planned, *, dry_run: bool) -> Failure | None:
        assert p.rt is not None
        params = {"fieldManager": self.field_manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        try:
            await self.kube.request("PATCH", p.rt.path(p.id.namespace, p.id.name),
                                    params=params, body=p.body, content_type=APPLY_PATCH)
        except ApiError as e:
            return Failure(p.desired.location, p.id, e.message)
        return None

    async def _all(self, items: list[Planned], fn: Callable[[Planned], Awaitable[Failure | None]]
                   ) -> list[Failure]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(p: Planned) -> Failure | None:
            async with gate:
                return await fn(p)

        results = await asyncio.gather(*(one(p) for p in items))
        return [f for f in results if f]

    async def _write(self, items: list[Planned]) -> list[Failure]:
        failures: list[Failure] = []
        for r in sorted({rank(p.id.kind) for p in items}):
            failures += await self._all([p for p in items if rank(p.id.kind) == r],
                                        lambda p: self._patch(p, dry_run=False))
        return failures

    async def _dry_run(self, items: list[Planned]) -> list[Failure]:
        return await self._all(items, lambda p: self._patch(p, dry_run=True))

    async def apply(self, desired: list[Desired]) -> ApplyResult:
        started = time.monotonic()
        planned, failures = await self.plan(desired)
        if failures:
            raise ApplyFailed("validation", failures, [])
        todo = [p for p in planned if p.writes]
        new_namespaces = {p.id.name for p in todo if (p.id.group, p.id.kind) == NAMESPACE
                          and p.action == "create"}
        deferred: list[Planned] = []
        now: list[Planned] = []
        for p in todo:  # one pass: comparing Planned objects pairwise was O(n^2)
            (deferred if p.rt is None or p.id.namespace in new_namespaces else now).append(p)
        if failures := await self._dry_run(now):
            raise ApplyFailed("server-side dry run", failures, [])
        written: list[ObjId] = []
        if deferred:
            first = [p for p in now if (p.id.group, p.id.kind) in (NAMESPACE, CRD)]
            if failures := await self._write(first):
                raise ApplyFailed("apply", failures, [])
            written = [p.id for p in first]
            await self._await_crds(first)
            for p in deferred:
                if p.rt is None:
                    try:
                        p.rt = self.discovery.lookup(p.desired.obj["apiVersion"], p.id.kind)
                    except UnknownKind as e:
                        failures.append(Failure(p.desired.location, p.id, str(e)))
            if failures or (failures := await self._dry_run(deferred)):
                raise ApplyFailed("server-side dry run", failures, written)
            first_ids = {p.id for p in first}
            now = [p for p in now if p.id not in first_ids]
        if failures := await self._write(now + deferred):
            # The dry run passed, so this is the cluster changing under us; say what failed.
            raise ApplyFailed("apply", failures, written)
        return ApplyResult(sorted(planned, key=lambda p: (rank(p.id.kind), p.id)),
                           time.monotonic() - started)

    async def _await_crds(self, written: list[Planned], timeout: float = 60) -> None:
        crds = [p for p in written if (p.id.group, p.id.kind) == CRD]
        if not crds:
            return
        deadline = time.monotonic() + timeout
        for p in crds:
            assert p.rt is not None
            while True:
                doc = await self.kube.request("GET", p.rt.path(name=p.id.name))
                conditions = {c["type"]: c["status"]
                              for c in (doc.get("status") or {}).get("conditions") or []}
                if conditions.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise ApplyFailed("apply", [Failure(p.desired.location, p.id,
                                      "CustomResourceDefinition not Established in time")],
                                      [q.id for q in written])
                await asyncio.sleep(0.1)
        await self.discovery.refresh(self.kube)

