"""Object identity, the marks headwater puts on what it applies, what is stale since the
last sync, and the order kinds are applied in (Flux v1's)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from headwater.kube.apply import rank
from headwater.kube.inventory import Inventory, keep, stale
from headwater.kube.objects import (
    CHECKSUM_ANNOTATION,
    GC_MARK_LABEL,
    SOURCE_LABEL,
    ObjId,
    checksum,
    gc_mark,
    ignore_value,
    is_ours,
    marked,
)

DEPLOY = ObjId("apps", "Deployment", "shop", "web")
CONFIGMAP = ObjId("", "ConfigMap", "shop", "web-config")
NAMESPACE = ObjId("", "Namespace", "", "shop")
CRD = ObjId("apiextensions.k8s.io", "CustomResourceDefinition", "", "widgets.example.com")
WIDGET = ObjId("example.com", "Widget", "shop", "w1")
CLUSTER_ROLE = ObjId("rbac.authorization.k8s.io", "ClusterRole", "", "system:shop:reader")
SERVICE = ObjId("", "Service", "shop", "web")
SECRET = ObjId("", "Secret", "shop", "db")
ALL = [DEPLOY, CONFIGMAP, NAMESPACE, CRD, WIDGET, CLUSTER_ROLE, SERVICE, SECRET]

# A Kubernetes label value: at most 63 characters, alphanumeric at both ends, and
# [-_.A-Za-z0-9] in between (k8s.io/apimachinery validation.IsValidLabelValue).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


# --- ObjId ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("obj_id", "text"), [
    (DEPLOY, "shop:deployment/web"),
    (CONFIGMAP, "shop:configmap/web-config"),
    (NAMESPACE, "<cluster>:namespace/shop"),
    (CLUSTER_ROLE, "<cluster>:clusterrole/system:shop:reader"),
])
def test_an_id_prints_as_in_flux_events(obj_id: ObjId, text: str) -> None:
    assert str(obj_id) == text


@pytest.mark.parametrize(("obj_id", "key"), [
    (DEPLOY, "apps/Deployment/shop/web"),
    (CONFIGMAP, "/ConfigMap/shop/web-config"),
    (NAMESPACE, "/Namespace//shop"),
    (CRD, "apiextensions.k8s.io/CustomResourceDefinition//widgets.example.com"),
    (CLUSTER_ROLE, "rbac.authorization.k8s.io/ClusterRole//system:shop:reader"),
])
def test_an_id_survives_the_round_trip_through_its_inventory_key(obj_id: ObjId,
                                                                    key: str) -> None:
    assert obj_id.key() == key
    assert ObjId.from_key(key) == obj_id


def test_ids_differ_by_group_kind_namespace_and_name() -> None:
    keys = {i.key() for i in ALL}
    assert len(keys) == len(ALL)
    assert ObjId("", "Event", "shop", "e").key() != ObjId("events.k8s.io", "Event", "shop",
                                                           "e").key()


# --- gc_mark --------------------------------------------------------------------------------

def test_the_gc_mark_is_the_same_for_the_same_source_and_id() -> None:
    assert gc_mark("app", DEPLOY) == gc_mark("app", ObjId("apps", "Deployment", "shop", "web"))


def test_the_gc_mark_differs_per_source() -> None:
    assert gc_mark("app", DEPLOY) != gc_mark("infra", DEPLOY)


@pytest.mark.parametrize("other", [
    ObjId("apps", "Deployment", "shop", "api"),
    ObjId("apps", "Deployment", "shop-staging", "web"),
    ObjId("apps", "StatefulSet", "shop", "web"),
    ObjId("extensions", "Deployment", "shop", "web"),
])
def test_the_gc_mark_differs_per_id(other: ObjId) -> None:
    assert gc_mark("app", DEPLOY) != gc_mark("app", other)


def test_the_gc_mark_has_a_fixed_known_value() -> None:
    # sha256 of source + key, URL-safe base64 without padding (as Flux v1's). A change here
    # would leave every object applied before it unprunable.
    # printf appapps/Deployment/shop/web | openssl dgst -sha256 -binary | base64 | tr +/ -_
    assert gc_mark("app", DEPLOY) == "sha256.swsemYLFYN9jHTl_7ou6BgdzacuHdKpXrNRDFtV536s"


def test_every_gc_mark_is_a_valid_label_value() -> None:
    # The mark ends with the last base64 character of a sha256, which only ever encodes
    # 4 bits (A, E, I, ..., 8): never '-' or '_'. Check that over many ids.
    marks = {gc_mark(source, ObjId(group, kind, ns, f"obj-{n}"))
             for source in ("app", "a", "x" * 40)
             for group, kind, ns in (("", "ConfigMap", "shop"), ("apps", "Deployment", ""))
             for n in range(500)}
    assert len(marks) == 3 * 2 * 500
    for mark in marks:
        assert len(mark) <= 63, mark
        assert LABEL_VALUE.match(mark), mark


# --- marked / is_ours -----------------------------------------------------------------------

def _configmap(**metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web-config", **metadata}, "data": {"v": "1"}}


def test_marked_adds_the_source_label_gc_mark_and_checksum() -> None:
    obj = _configmap()
    out = marked(obj, source="app", obj_id=CONFIGMAP)
    assert out["metadata"]["labels"] == {SOURCE_LABEL: "app",
                                         GC_MARK_LABEL: gc_mark("app", CONFIGMAP)}
    assert out["metadata"]["annotations"] == {CHECKSUM_ANNOTATION: checksum(obj)}
    assert out["data"] == {"v": "1"}


def test_marked_keeps_the_labels_and_annotations_from_git() -> None:
    obj = _configmap(labels={"app": "web"}, annotations={"team": "shop"})
    out = marked(obj, source="app", obj_id=CONFIGMAP)
    assert out["metadata"]["labels"]["app"] == "web"
    assert out["metadata"]["annotations"]["team"] == "shop"


def test_marked_overrides_a_gc_mark_copied_from_another_object() -> None:
    obj = _configmap(labels={GC_MARK_LABEL: gc_mark("app", DEPLOY), SOURCE_LABEL: "other"})
    out = marked(obj, source="app", obj_id=CONFIGMAP)
    assert out["metadata"]["labels"][GC_MARK_LABEL] == gc_mark("app", CONFIGMAP)
    assert out["metadata"]["labels"][SOURCE_LABEL] == "app"


def test_marked_does_not_change_the_object_from_git() -> None:
    obj = _configmap(labels={"app": "web"}, annotations={"team": "shop"})
    before = copy.deepcopy(obj)
    marked(obj, source="app", obj_id=CONFIGMAP)
    assert obj == before


@pytest.mark.parametrize(("metadata", "obj_id", "namespace"), [
    pytest.param({}, CONFIGMAP, "shop", id="namespace-added"),
    pytest.param({"namespace": "default"}, CONFIGMAP, "shop", id="namespace-of-the-id-wins"),
    pytest.param({}, NAMESPACE, None, id="cluster-scoped-gets-none"),
])
def test_marked_puts_the_object_in_the_namespace_of_its_id(
    metadata: dict[str, Any], obj_id: ObjId, namespace: str | None
) -> None:
    out = marked(_configmap(**metadata), source="app", obj_id=obj_id)
    assert out["metadata"].get("namespace") == namespace


def test_the_checksum_changes_with_the_manifest_and_only_with_it() -> None:
    a = marked(_configmap(), source="app", obj_id=CONFIGMAP)
    b = marked(_configmap(), source="app", obj_id=CONFIGMAP)
    changed = _configmap()
    changed["data"]["v"] = "2"
    c = marked(changed, source="app", obj_id=CONFIGMAP)
    assert a == b
    assert (a["metadata"]["annotations"][CHECKSUM_ANNOTATION]
            != c["metadata"]["annotations"][CHECKSUM_ANNOTATION])


def test_what_marked_applies_is_ours() -> None:
    live = marked(_configmap(), source="app", obj_id=CONFIGMAP)
    assert is_ours(live, source="app", obj_id=CONFIGMAP)


@pytest.mark.parametrize(("live", "source", "obj_id"), [
    pytest.param(marked(_configmap(), source="app", obj_id=CONFIGMAP), "infra", CONFIGMAP,
                 id="another-source"),
    pytest.param(marked(_configmap(), source="app", obj_id=DEPLOY), "app", CONFIGMAP,
                 id="label-copied-from-another-object"),
    pytest.param(_configmap(labels={SOURCE_LABEL: "app"}), "app", CONFIGMAP,
                 id="source-label-without-gc-mark"),
    pytest.param(_configmap(), "app", CONFIGMAP, id="no-labels"),
    pytest.param({"kind": "ConfigMap"}, "app", CONFIGMAP, id="no-metadata"),
])
def test_an_object_is_not_ours_without_our_gc_mark_for_exactly_its_id(
    live: dict[str, Any], source: str, obj_id: ObjId
) -> None:
    assert not is_ours(live, source=source, obj_id=obj_id)


# --- ignore_value ---------------------------------------------------------------------------

@pytest.mark.parametrize(("annotations", "value"), [
    ({"fluxcd.io/ignore": "true"}, "true"),
    ({"flux.weave.works/ignore": "true"}, "true"),
    ({"headwater.dev/ignore": "true"}, "true"),
    ({"fluxcd.io/ignore": "sync_only"}, "sync_only"),
    ({"headwater.dev/ignore": "True"}, "true"),
    ({"headwater.dev/ignore": True}, "true"),
    ({"fluxcd.io/ignore": "false"}, "false"),
    ({"fluxcd.io/ignore": "sync_only", "headwater.dev/ignore": "true"}, "sync_only"),
    ({"fluxcd.io/other": "true"}, None),
    ({"example.com/ignore": "true"}, None),
    ({}, None),
])
def test_the_ignore_annotation_is_read_under_each_prefix(annotations: dict[str, Any],
                                                          value: str | None) -> None:
    assert ignore_value({"metadata": {"annotations": annotations}}) == value


def test_an_object_without_metadata_is_not_ignored() -> None:
    assert ignore_value({}) is None
    assert ignore_value({"metadata": {"annotations": None}}) is None


# --- inventory.stale ------------------------------------------------------------------------

def test_nothing_is_stale_without_a_previous_inventory() -> None:
    assert stale(None, set(ALL)) == []


def test_stale_is_what_the_previous_sync_applied_and_git_no_longer_has() -> None:
    previous = Inventory("app", "abc123", frozenset({DEPLOY, CONFIGMAP, SERVICE}))
    assert stale(previous, {DEPLOY, SECRET}) == [CONFIGMAP, SERVICE]
    assert stale(previous, {DEPLOY, CONFIGMAP, SERVICE}) == []


def test_stale_objects_come_dependents_first_and_namespaces_last() -> None:
    previous = Inventory("app", "abc123", frozenset(ALL))
    assert stale(previous, set()) == [
        WIDGET,        # rank 4: custom resources, before their CRD
        DEPLOY,        # rank 3: workloads
        CONFIGMAP,     # rank 2: config
        SECRET,
        SERVICE,       # rank 1, by id: core group first ...
        CRD,
        CLUSTER_ROLE,  # ... so a ClusterRole comes after a CRD
        NAMESPACE,     # rank 0: last
    ]


def test_stale_order_is_the_reverse_of_the_apply_ranks() -> None:
    previous = Inventory("app", "abc123", frozenset(ALL))
    ranks = [rank(i.kind) for i in stale(previous, set())]
    assert ranks == sorted(ranks, reverse=True)


def test_stale_order_does_not_depend_on_set_order() -> None:
    a = Inventory("app", "r", frozenset(ALL))
    b = Inventory("app", "r", frozenset(reversed(ALL)))
    assert stale(a, {SECRET}) == stale(b, {SECRET})


# --- inventory.keep -------------------------------------------------------------------------

_PREV = Inventory("app", "r1", frozenset({DEPLOY, CONFIGMAP, SERVICE}))


@pytest.mark.parametrize(("case", "previous", "applied", "settled", "kept"), [
    ("first sync: what was applied", None, {DEPLOY}, set(), {DEPLOY}),
    ("before pruning: applied and every previous object", _PREV, {DEPLOY, SECRET}, set(),
     {DEPLOY, SECRET, CONFIGMAP, SERVICE}),
    ("after a full prune: applied only", _PREV, {DEPLOY}, {CONFIGMAP, SERVICE}, {DEPLOY}),
    ("a DELETE failed on one: it stays", _PREV, {DEPLOY}, {CONFIGMAP}, {DEPLOY, SERVICE}),
    ("dry run or gc off: nothing settled, all stay", _PREV, {DEPLOY}, set(),
     {DEPLOY, CONFIGMAP, SERVICE}),
    ("an object found gone is forgotten", _PREV, set(), {DEPLOY, CONFIGMAP, SERVICE}, set()),
    ("back in Git after being settled: applied wins", _PREV, {CONFIGMAP}, {CONFIGMAP},
     {CONFIGMAP, DEPLOY, SERVICE}),
    ("nothing applied, nothing settled: the previous objects stay", _PREV, set(), set(),
     {DEPLOY, CONFIGMAP, SERVICE}),
])
def test_the_inventory_keeps_applied_objects_and_everything_not_pruned_yet(
        case: str, previous: Inventory | None, applied: set[ObjId], settled: set[ObjId],
        kept: set[ObjId]) -> None:
    assert keep(previous, applied, settled=settled) == kept, case


# --- apply.rank -----------------------------------------------------------------------------

@pytest.mark.parametrize(("kinds", "expected"), [
    (["Namespace"], 0),
    (["CustomResourceDefinition", "ServiceAccount", "ClusterRole", "Role",
      "PersistentVolume", "Service"], 1),
    (["ResourceQuota", "LimitRange", "Secret", "ConfigMap", "RoleBinding",
      "ClusterRoleBinding", "PersistentVolumeClaim", "Ingress"], 2),
    (["DaemonSet", "Deployment", "ReplicationController", "ReplicaSet", "Job", "CronJob",
      "StatefulSet"], 3),
    (["Widget", "HorizontalPodAutoscaler", "NetworkPolicy", "Pod", "PodDisruptionBudget"], 4),
])
def test_kinds_are_ranked_in_flux_v1s_order(kinds: list[str], expected: int) -> None:
    assert {k: rank(k) for k in kinds} == dict.fromkeys(kinds, expected)


def test_rank_ignores_the_case_of_the_kind() -> None:
    assert rank("namespace") == rank("NAMESPACE") == rank("Namespace") == 0
    assert rank("configMap") == 2
