"""Server-side apply of a whole set, all or nothing, in named stages.

`Applier.apply` plans every object (its kind, its id, the live object) and decides its
action with `changeset.apply_action`. Then, as fluxcd/pkg's `ApplyAllStaged`, it goes
through named stages, `STAGES`: Namespaces and CRDs, then everything else; per stage it
does dry run -> write -> wait (written CRDs Established, discovery refreshed). Each
object's dry run runs as early as it can: everything that does not need an earlier
stage written is dry-run before anything is written, so a refused object leaves the
cluster as it was. Only objects in a Namespace, or of a kind, that this very set creates
are dry-run in their own stage, after the earlier stages are written (the error then
says what was). Within a stage, writes follow Flux v1's rank of kinds. Unchanged objects
cost no request beyond the one LIST per kind.

Failures are typed, each an `ApplyFailed` with the failing objects, what was written
before, and the stage: `ValidationFailed` (unknown kind, duplicate id), `DryRunFailed`,
`WriteFailed`, `WaitFailed`. The result is a list of `Change` (kube/changeset.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from headwater.errors import HeadwaterError
from headwater.kube.changeset import WRITES, Action, Change, apply_action, ids
from headwater.kube.client import APPLY_PATCH, METADATA_ONLY, Kube
from headwater.kube.discovery import Discovery, ResourceType
from headwater.kube.errors import ApiError, UnknownKind
from headwater.kube.objects import SOURCE_LABEL, ObjId, group_of, marked

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


def rank(kind: str) -> int:
    return _RANKS.get(kind.lower(), 4)


# The named stages, in order: (name, the (group, kind)s it holds; None: all the rest).
DEFINITIONS = "namespaces and CRDs"
RESOURCES = "resources"
STAGES: tuple[tuple[str, frozenset[tuple[str, str]] | None], ...] = (
    (DEFINITIONS, frozenset({NAMESPACE, CRD})),
    (RESOURCES, None),
)


def stage_of(obj_id: ObjId) -> str:
    """The name of the stage that applies `obj_id`."""
    for name, kinds in STAGES:
        if kinds is None or (obj_id.group, obj_id.kind) in kinds:
            return name
    raise AssertionError("the last stage takes every kind")


def by_stage(items: list[Planned]) -> list[tuple[str, list[Planned]]]:
    """`items` by named stage, in `STAGES` order; a stage with nothing is left out."""
    stages: dict[str, list[Planned]] = {name: [] for name, _ in STAGES}
    for p in items:
        stages[stage_of(p.id)].append(p)
    return [(name, ps) for name, ps in stages.items() if ps]


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
    action: Action = Action.CREATED
    reason: str = ""  # for "configured": the first field that differs; "skipped": why
    body: dict[str, Any] = field(default_factory=dict)  # what is applied: the object marked

    @property
    def writes(self) -> bool:
        return self.action in WRITES

    def change(self) -> Change:
        return Change(self.id, self.action, self.reason)


@dataclass(frozen=True)
class Failure:
    location: str
    id: ObjId | None
    message: str

    def __str__(self) -> str:
        who = f"{self.id}: " if self.id else ""
        return f"{self.location}: {who}{self.message}"


class ApplyFailed(HeadwaterError):
    """Nothing (or, as `written` says, only earlier stages) was written.

    Not a `UserError`: an unknown kind or a refused dry run may be mended in the
    cluster (a CRD installed, a webhook back) without a new commit, so the controller
    retries it at each interval, as kustomize-controller does.

    `stage` is the name of the stage that failed ("" before any stage: validation)."""

    step: ClassVar[str] = "apply"  # the step's words in the message

    def __init__(self, failures: list[Failure], written: list[ObjId], *, stage: str = ""
                 ) -> None:
        self.failures, self.written, self.stage = failures, written, stage
        lines = [f"{self.step} failed for {len(failures)} object(s); nothing else was applied:"]
        lines += [f"  {f}" for f in failures]
        if written:
            lines.append("  written before the failure: " + ", ".join(map(str, written)))
        super().__init__("\n".join(lines))


class ValidationFailed(ApplyFailed):
    """An object of an unknown kind, or the same object twice: nothing was written."""
    step = "validation"


class DryRunFailed(ApplyFailed):
    """The API server refused an object in a server-side dry run."""
    step = "server-side dry run"


class WriteFailed(ApplyFailed):
    """A write failed after its dry run passed: the cluster changed under us."""
    step = "apply"


class WaitFailed(ApplyFailed):
    """What a stage wrote did not become ready in time (a CRD not Established)."""
    step = "apply"


@dataclass
class ApplyResult:
    changes: list[Change] = field(default_factory=list)  # in apply order
    seconds: float = 0.0

    @property
    def changed(self) -> list[ObjId]:
        return ids(self.changes, *WRITES)


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
            p.body = marked(p.desired.obj, source=self.source, obj_id=p.id)
            p.action, p.reason = apply_action(p.body, p.live)

    # --- writing --------------------------------------------------------------------

    async def _patch(self, p: Planned, *, dry_run: bool) -> Failure | None:
        assert p.rt is not None
        params = {"fieldManager": self.field_manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        try:
            await self.kube.request("PATCH", p.rt.path(p.id.namespace, p.id.name),
                                    params=params, body=p.body, content_type=APPLY_PATCH,
                                    accept=METADATA_ONLY, answer=False)
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
            raise ValidationFailed(failures, [])
        todo = [p for p in planned if p.writes]
        new_namespaces = {p.id.name for p in todo if (p.id.group, p.id.kind) == NAMESPACE
                          and p.action is Action.CREATED}
        # What needs an earlier stage written first: in a new Namespace, of a new kind.
        # (A set of ids, one pass: comparing Planned objects pairwise was O(n^2).)
        later = {p.id for p in todo if p.rt is None or p.id.namespace in new_namespaces}
        if failures := await self._dry_run([p for p in todo if p.id not in later]):
            raise DryRunFailed(failures, [], stage=stage_of(failures[0].id or todo[0].id))
        written: list[ObjId] = []
        for stage, items in by_stage(todo):
            await self._stage(stage, items, [p for p in items if p.id in later], written)
        return ApplyResult([p.change() for p in sorted(planned, key=lambda p: (rank(p.id.kind),
                                                                                p.id))],
                           time.monotonic() - started)

    async def _stage(self, stage: str, items: list[Planned], unchecked: list[Planned],
                     written: list[ObjId]) -> None:
        """Dry run (what could not be dry-run before), write, wait; `written` grows."""
        failures: list[Failure] = []
        for p in unchecked:
            if p.rt is None:  # its CRD is Established now: discovery knows the kind
                try:
                    p.rt = self.discovery.lookup(p.desired.obj["apiVersion"], p.id.kind)
                except UnknownKind as e:
                    failures.append(Failure(p.desired.location, p.id, str(e)))
        if failures or (failures := await self._dry_run(unchecked)):
            raise DryRunFailed(failures, list(written), stage=stage)
        if failures := await self._write(items):
            # The dry run passed, so this is the cluster changing under us; say what failed.
            raise WriteFailed(failures, list(written), stage=stage)
        written += [p.id for p in items]
        await self._await_crds(stage, items, written)

    async def _await_crds(self, stage: str, items: list[Planned], written: list[ObjId],
                          timeout: float = 60) -> None:
        crds = [p for p in items if (p.id.group, p.id.kind) == CRD]
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
                    raise WaitFailed([Failure(p.desired.location, p.id,
                                      "CustomResourceDefinition not Established in time")],
                                     list(written), stage=stage)
                await asyncio.sleep(0.1)
        await self.discovery.refresh(self.kube)
