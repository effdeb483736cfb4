"""The change set: the apply's decision per object (a pure function of the object to
apply and the live one), the named stages objects are applied in, the typed apply
failures, and the reports (sync result, its JSON, prune's settled set) that read it."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.cd.sync import SyncResult
from headwater.kube.apply import (
    DEFINITIONS,
    RESOURCES,
    ApplyFailed,
    Desired,
    DryRunFailed,
    Failure,
    Planned,
    ValidationFailed,
    WaitFailed,
    WriteFailed,
    by_stage,
    stage_of,
)
from headwater.kube.changeset import (
    ALREADY_GONE,
    IGNORED_IN_CLUSTER,
    IGNORED_IN_GIT,
    Action,
    Change,
    apply_action,
    count,
    ids,
    tally,
)
from headwater.kube.objects import ObjId, sync_ignores
from headwater.kube.prune import PruneResult

A = ObjId("", "ConfigMap", "shop", "a")
B = ObjId("", "ConfigMap", "shop", "b")
C = ObjId("", "ConfigMap", "shop", "c")


def cm(data: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
       **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "a", "namespace": "shop"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": data or {"k": "v"}} | extra


def live(obj: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """`obj` as the API server returns it: its own metadata and defaults added."""
    out = dict(obj)
    out["metadata"] = dict(obj["metadata"]) | {"uid": "u-1", "resourceVersion": "7"} | meta
    return out


# --- apply_action ---------------------------------------------------------------------------

@pytest.mark.parametrize(("desired", "current", "action", "reason"), [
    (cm(), None, Action.CREATED, ""),
    (cm(), live(cm()), Action.UNCHANGED, ""),
    (cm({"k": "w"}), live(cm()), Action.CONFIGURED, ".data.k"),
    (cm({"k": "v", "new": "x"}), live(cm()), Action.CONFIGURED, ".data.new"),
    (cm(annotations={"team": "blue"}), live(cm()), Action.CONFIGURED,
     ".metadata.annotations"),
    # What the server adds (status, its metadata) is not drift.
    (cm(), live(cm(), generation=3) | {"status": {"x": 1}}, Action.UNCHANGED, ""),
    # The ignore annotation, in Git or on the live object, under any spelling.
    (cm(annotations={"fluxcd.io/ignore": "true"}), None, Action.SKIPPED, IGNORED_IN_GIT),
    (cm(annotations={"fluxcd.io/ignore": "sync_only"}), live(cm()), Action.SKIPPED,
     IGNORED_IN_GIT),
    (cm({"k": "w"}), live(cm(annotations={"flux.weave.works/ignore": "true"})),
     Action.SKIPPED, IGNORED_IN_CLUSTER),
    (cm(), live(cm(annotations={"headwater.dev/ignore": "sync_only"})), Action.SKIPPED,
     IGNORED_IN_CLUSTER),
    # Git wins over the cluster when both say ignore.
    (cm(annotations={"headwater.dev/ignore": "true"}),
     live(cm(annotations={"fluxcd.io/ignore": "true"})), Action.SKIPPED, IGNORED_IN_GIT),
    # Other values are not "ignore".
    (cm(annotations={"fluxcd.io/ignore": "false"}), None, Action.CREATED, ""),
    (cm({"k": "w"}), live(cm(annotations={"fluxcd.io/ignore": "no"})), Action.CONFIGURED,
     ".data.k"),
], ids=lambda v: str(v) if isinstance(v, Action) else None)
def test_the_apply_action_is_a_function_of_desired_and_live(
    desired: dict[str, Any], current: dict[str, Any] | None, action: Action, reason: str
) -> None:
    assert apply_action(desired, current) == (action, reason)


@pytest.mark.parametrize(("obj", "ignored"), [
    (None, False),
    ({}, False),
    (cm(annotations={"fluxcd.io/ignore": "true"}), True),
    (cm(annotations={"flux.weave.works/ignore": "sync_only"}), True),
    (cm(annotations={"headwater.dev/ignore": "TRUE"}), True),
    (cm(annotations={"fluxcd.io/ignore": "false"}), False),
    (cm(annotations={"fluxcd.io/automated": "true"}), False),
])
def test_the_sync_ignores_both_values_of_the_ignore_annotation(
    obj: dict[str, Any] | None, ignored: bool
) -> None:
    assert sync_ignores(obj) is ignored


# --- stages ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("obj_id", "stage"), [
    (ObjId("", "Namespace", "", "shop"), DEFINITIONS),
    (ObjId("apiextensions.k8s.io", "CustomResourceDefinition", "", "w.example.com"),
     DEFINITIONS),
    (ObjId("", "ConfigMap", "shop", "a"), RESOURCES),
    (ObjId("example.com", "Widget", "shop", "w"), RESOURCES),
    (ObjId("rbac.authorization.k8s.io", "ClusterRole", "", "r"), RESOURCES),
    # A kind named Namespace in another group is not a Namespace.
    (ObjId("example.com", "Namespace", "", "n"), RESOURCES),
])
def test_namespaces_and_crds_are_applied_in_the_first_stage(obj_id: ObjId, stage: str
                                                            ) -> None:
    assert stage_of(obj_id) == stage


def _planned(*obj_ids: ObjId) -> list[Planned]:
    return [Planned(Desired({}, "f.yaml:1"), i, None) for i in obj_ids]


def test_objects_are_grouped_by_stage_in_stage_order_and_empty_stages_left_out() -> None:
    ns = ObjId("", "Namespace", "", "shop")
    crd = ObjId("apiextensions.k8s.io", "CustomResourceDefinition", "", "w.example.com")
    items = _planned(A, ns, B, crd)
    assert [(name, [p.id for p in ps]) for name, ps in by_stage(items)] == [
        (DEFINITIONS, [ns, crd]), (RESOURCES, [A, B])]
    assert [name for name, _ in by_stage(_planned(A))] == [RESOURCES]
    assert [name for name, _ in by_stage(_planned(ns))] == [DEFINITIONS]
    assert by_stage([]) == []


# --- typed failures, with the messages they always had --------------------------------------

@pytest.mark.parametrize(("cls", "first_line"), [
    (ValidationFailed, "validation failed for 1 object(s); nothing else was applied:"),
    (DryRunFailed, "server-side dry run failed for 1 object(s); nothing else was applied:"),
    (WriteFailed, "apply failed for 1 object(s); nothing else was applied:"),
    (WaitFailed, "apply failed for 1 object(s); nothing else was applied:"),
])
def test_each_apply_failure_is_its_own_class_and_keeps_its_message(
    cls: type[ApplyFailed], first_line: str
) -> None:
    ns = ObjId("", "Namespace", "", "shop")
    e = cls([Failure("a.yaml:3", A, "port 99999 is out of range")], [ns], stage=RESOURCES)
    assert isinstance(e, ApplyFailed)
    assert str(e).splitlines() == [
        first_line,
        "  a.yaml:3: shop:configmap/a: port 99999 is out of range",
        "  written before the failure: <cluster>:namespace/shop",
    ]
    assert e.stage == RESOURCES and e.written == [ns]


def test_an_unknown_kind_has_no_id_in_its_failure_line() -> None:
    e = ValidationFailed([Failure("x.yaml:3", None, "no kind 'Nope'")], [])
    assert str(e).splitlines()[1] == "  x.yaml:3: no kind 'Nope'"
    assert e.stage == ""


# --- reports read the change set ------------------------------------------------------------

CHANGES = [Change(A, Action.CREATED), Change(B, Action.CONFIGURED, ".data.k"),
           Change(C, Action.UNCHANGED)]


def test_ids_count_and_tally_read_actions() -> None:
    assert ids(CHANGES, Action.CREATED, Action.CONFIGURED) == [A, B]
    assert count(CHANGES, Action.UNCHANGED, Action.SKIPPED) == 1
    assert tally(CHANGES) == {Action.CREATED: 1, Action.CONFIGURED: 1, Action.UNCHANGED: 1,
                              Action.SKIPPED: 0, Action.DELETED: 0, Action.UNKNOWN: 0}


def test_a_change_reads_as_flux_writes_it() -> None:
    assert str(CHANGES[0]) == "shop:configmap/a created"
    assert str(CHANGES[1]) == "shop:configmap/b configured (.data.k)"
    assert CHANGES[1].to_json() == {"id": "shop:configmap/b", "action": "configured",
                                    "reason": ".data.k"}


@pytest.mark.parametrize(("dry_run", "settled"), [(False, {A, C}), (True, {C})])
def test_prune_settles_what_it_deleted_or_found_gone_never_a_dry_run(
    dry_run: bool, settled: set[ObjId]
) -> None:
    d = ObjId("", "ConfigMap", "shop", "d")
    result = PruneResult([Change(A, Action.DELETED), Change(B, Action.SKIPPED, "not ours"),
                          Change(C, Action.SKIPPED, ALREADY_GONE),
                          Change(d, Action.UNKNOWN, "DELETE /x: boom")], dry_run)
    assert result.settled == frozenset(settled)
    assert result.deleted == [A]
    assert [c.id for c in result.failed] == [d]


def test_the_sync_result_and_its_json_read_the_change_sets() -> None:
    d = ObjId("", "ConfigMap", "shop", "d")
    ignored = ObjId("", "ConfigMap", "shop", "ignored")
    result = SyncResult(
        "s", "abc", apply_changes=[*CHANGES, Change(ignored, Action.SKIPPED, IGNORED_IN_GIT)],
        prune_changes=[Change(d, Action.DELETED), Change(B, Action.SKIPPED, ALREADY_GONE)],
        seconds=1.23456)
    assert result.applied == [A, B]
    assert result.unchanged == 2  # as before the change set: skipped objects count in
    assert result.pruned == [d]
    doc = result.to_json()
    assert {k: doc[k] for k in ("applied", "unchanged", "pruned", "seconds", "ok")} == {
        "applied": ["shop:configmap/a", "shop:configmap/b"], "unchanged": 2,
        "pruned": ["shop:configmap/d"], "seconds": 1.235, "ok": True}
    assert doc["changes"] == [
        {"id": "shop:configmap/a", "action": "created", "reason": ""},
        {"id": "shop:configmap/b", "action": "configured", "reason": ".data.k"},
        {"id": "shop:configmap/ignored", "action": "skipped", "reason": IGNORED_IN_GIT},
        {"id": "shop:configmap/d", "action": "deleted", "reason": ""},
        {"id": "shop:configmap/b", "action": "skipped", "reason": ALREADY_GONE},
    ]
