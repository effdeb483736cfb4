"""Drift: does the live object still hold what Git says? Only what Git says is compared,
and values compare as the API server stores them (quantities, Secret stringData)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from headwater.kube.drift import drifted, first_difference, quantity

Obj = dict[str, Any]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# A Deployment as Git has it (after headwater's marks), and as GET returns it once applied:
# defaults, canonical quantities, metadata and status added by the API server.
DESIRED: Obj = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web", "namespace": "shop", "creationTimestamp": None,
        "labels": {"app": "web", "headwater.dev/source": "app"},
        "annotations": {"headwater.dev/sync-checksum": "0f3c"},
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "registry.local/web:1.4.2",
                    "args": ["--port", "8080"],
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "resources": {"requests": {"cpu": "0.25", "memory": "134217728"},
                                  "limits": {"cpu": "1", "memory": "1Gi"}},
                }],
            },
        },
    },
    "status": {},
}
LIVE: Obj = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web", "namespace": "shop", "uid": "6f1d2c4e-9a55-4d8e-a1a0-2b6f0c1d9e77",
        "resourceVersion": "48213", "generation": 3,
        "creationTimestamp": "2025-11-20T09:12:44Z",
        "labels": {"app": "web", "headwater.dev/source": "app"},
        "annotations": {"headwater.dev/sync-checksum": "0f3c",
                        "deployment.kubernetes.io/revision": "3"},
        "managedFields": [{"manager": "headwater", "operation": "Apply",
                           "apiVersion": "apps/v1", "fieldsType": "FieldsV1"}],
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "registry.local/web:1.4.2",
                    "args": ["--port", "8080"],
                    "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                                  "limits": {"cpu": "1", "memory": "1Gi"}},
                    "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        },
    },
    "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
               "readyReplicas": 2, "availableReplicas": 2},
}


# --- quantity ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("500m", Decimal("0.5")),
    ("1Gi", Decimal(1073741824)),
    ("128Mi", Decimal(134217728)),
    ("1k", Decimal(1000)),
    ("1e3", Decimal(1000)),
    ("1E3", Decimal(1000)),
    ("2E", Decimal("2e18")),
    ("100n", Decimal("1e-7")),
    ("+1.5", Decimal("1.5")),
    ("-2", Decimal(-2)),
    (8080, Decimal(8080)),
    (0.25, Decimal("0.25")),
])
def test_quantity_reads_every_kubernetes_notation(text: object, value: Decimal) -> None:
    assert quantity(text) == value


@pytest.mark.parametrize("value", [
    True, False, None, "", "abc", "1.2.3", "10.0.0.1", "1 Gi", "Gi", "1x", "1e", ".",
    "v1", ["1"], {"cpu": "1"},
])
def test_quantity_is_none_for_what_is_not_a_quantity(value: object) -> None:
    assert quantity(value) is None


@pytest.mark.parametrize(("a", "b"), [
    ("500m", "0.5"),
    ("1Gi", "1073741824"),
    ("1e3", "1k"),
    ("1Ki", "1024"),
    ("1500m", "1.5"),
    ("0.25", "250m"),
])
def test_one_quantity_in_two_notations_is_not_drift(a: str, b: str) -> None:
    assert quantity(a) == quantity(b)

    def resources(v: str) -> dict[str, object]:
        return {"resources": {"requests": {"cpu": v}, "limits": {"memory": v}}}

    assert first_difference(resources(a), resources(b)) is None
    assert first_difference(resources(b), resources(a)) is None
    assert first_difference({"storage": a}, {"storage": b}) is None
    # Outside resource fields text is text: ConfigMap data "1.10" is not "1.1".
    assert first_difference({"data": {"x": a}}, {"data": {"x": b}}) == ".data.x"


@pytest.mark.parametrize(("want", "have", "differs"), [
    pytest.param(True, "true", True, id="bool-vs-its-string"),
    pytest.param(True, 1, True, id="true-vs-1"),
    pytest.param(False, 0, True, id="false-vs-0"),
    pytest.param(False, None, False, id="false-vs-missing-omitempty"),
    pytest.param("1.2.3", "1.2.3", False, id="same-version-string"),
    pytest.param("1.2.3", "1.2.4", True, id="other-version-string"),
    pytest.param("1.2.3", "1.2.30", True, id="version-strings-not-read-as-numbers"),
    pytest.param("web", "Web", True, id="strings-compare-exactly"),
    pytest.param("1", None, True, id="value-vs-missing"),
    pytest.param("500m", "0.6", True, id="another-quantity"),
    # An int-or-string field holds what was written: "8080" (a port name) is not 8080.
    pytest.param("8080", 8080, True, id="string-vs-int-same-number"),
    pytest.param(8080, "8080", True, id="int-vs-string-same-number"),
    pytest.param(1, 1.0, False, id="int-vs-float"),
    pytest.param("8080", 8081, True, id="string-vs-other-int"),
])
def test_scalars_compare_by_value_and_kind(want: object, have: object, differs: bool) -> None:
    assert first_difference({"v": want}, {"v": have}) == (".v" if differs else None)


# --- drifted: a Deployment ---------------------------------------------------------------

def test_a_live_object_with_server_defaults_metadata_and_status_has_not_drifted() -> None:
    assert drifted(DESIRED, LIVE) is None


def _set(path: list[str | int], value: Any) -> Callable[[Obj], None]:
    def edit(obj: Obj) -> None:
        node: Any = obj
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _delete(path: list[str | int]) -> Callable[[Obj], None]:
    def edit(obj: Obj) -> None:
        node: Any = obj
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


CONTAINER: list[str | int] = ["spec", "template", "spec", "containers", 0]


@pytest.mark.parametrize(("edit_live", "path"), [
    pytest.param(_set([*CONTAINER, "image"], "registry.local/web:1.4.1"),
                 ".spec.template.spec.containers[0].image", id="image-changed"),
    pytest.param(_set(["spec", "replicas"], 5), ".spec.replicas", id="scaled-by-hand"),
    pytest.param(_delete(["metadata", "labels", "app"]), ".metadata.labels.app",
                 id="label-removed"),
    pytest.param(_set(["metadata", "annotations", "headwater.dev/sync-checksum"], "9a9a"),
                 ".metadata.annotations.headwater.dev/sync-checksum", id="checksum-differs"),
    pytest.param(_set([*CONTAINER, "resources", "limits", "memory"], "2Gi"),
                 ".spec.template.spec.containers[0].resources.limits.memory",
                 id="quantity-changed"),
    pytest.param(_set([*CONTAINER, "args"], ["--port", "8080", "--debug"]),
                 ".spec.template.spec.containers[0].args", id="list-grew"),
    pytest.param(_set([*CONTAINER, "args"], ["--port"]),
                 ".spec.template.spec.containers[0].args", id="list-shrank"),
    pytest.param(_set([*CONTAINER, "args"], ["--port", "9090"]),
                 ".spec.template.spec.containers[0].args[1]", id="list-item-changed"),
    pytest.param(_set([*CONTAINER, "ports"], {"http": 8080}),
                 ".spec.template.spec.containers[0].ports", id="list-became-a-map"),
    pytest.param(_set(["spec", "selector"], "app=web"), ".spec.selector",
                 id="map-became-a-string"),
    pytest.param(_delete(["spec"]), ".spec", id="whole-section-missing"),
])
def test_a_changed_or_missing_desired_field_is_reported_with_its_path(
    edit_live: Callable[[Obj], None], path: str
) -> None:
    live = copy.deepcopy(LIVE)
    edit_live(live)
    assert drifted(DESIRED, live) == path


def test_the_first_difference_in_document_order_is_reported() -> None:
    live = copy.deepcopy(LIVE)
    live["metadata"]["labels"]["app"] = "api"
    live["spec"]["replicas"] = 5
    assert drifted(DESIRED, live) == ".metadata.labels.app"


@pytest.mark.parametrize("edit_live", [
    pytest.param(_set(["status"], {"replicas": 0}), id="status"),
    pytest.param(_delete(["apiVersion"]), id="no-apiVersion-as-in-a-LIST"),
    pytest.param(_delete(["kind"]), id="no-kind-as-in-a-LIST"),
    pytest.param(_set(["apiVersion"], "apps/v1beta2"), id="other-apiVersion"),
    pytest.param(_set(["metadata", "labels", "team"], "shop"), id="label-added-by-others"),
    pytest.param(_set(["spec", "paused"], True), id="field-git-does-not-set"),
    pytest.param(_set([*CONTAINER, "env"], [{"name": "A", "value": "1"}]),
                 id="list-git-does-not-set"),
])
def test_what_git_does_not_say_is_not_compared(edit_live: Callable[[Obj], None]) -> None:
    live = copy.deepcopy(LIVE)
    edit_live(live)
    assert drifted(DESIRED, live) is None


def test_status_apiversion_and_kind_in_git_are_not_compared() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["status"] = {"replicas": 9, "availableReplicas": 9}
    desired["apiVersion"] = "apps/v1beta1"
    desired["kind"] = "Deploymentt"
    assert drifted(desired, LIVE) is None


def test_a_desired_null_is_not_ours_to_compare() -> None:
    # kustomize writes creationTimestamp: null; the server fills it in
    assert DESIRED["metadata"]["creationTimestamp"] is None
    assert LIVE["metadata"]["creationTimestamp"]
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["template"]["spec"]["nodeName"] = None
    assert drifted(desired, LIVE) is None


def test_drifted_does_not_change_its_arguments() -> None:
    desired, live = copy.deepcopy(DESIRED), copy.deepcopy(LIVE)
    drifted(desired, live)
    assert (desired, live) == (DESIRED, LIVE)


@pytest.mark.parametrize(("want", "have", "path"), [
    ({"a": 1}, None, "."),
    ({"a": 1}, ["a"], "."),
    ({"a": {"b": 1}}, {"a": None}, ".a"),
    ({"a": [1]}, {"a": []}, ".a"),
    ({"a": [{"b": 1}, {"b": 2}]}, {"a": [{"b": 1}, {"b": 3}]}, ".a[1].b"),
    ({"a": [[1, 2]]}, {"a": [[1, 3]]}, ".a[0][1]"),
    ({}, {"a": 1}, None),
    ({"a": []}, {"a": []}, None),
])
def test_first_difference_paths(want: Obj, have: Any, path: str | None) -> None:
    assert first_difference(want, have) == path


# --- drifted: Secrets ------------------------------------------------------------------------

def _secret(**fields: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "namespace": "shop"}, **fields}


def _live_secret(data: dict[str, str]) -> Obj:
    # what the server returns: no stringData, values base64 in data
    return _secret(data={k: b64(v) for k, v in data.items()},
                   metadata={"name": "db", "namespace": "shop", "uid": "9d1e",
                             "resourceVersion": "771"})


@pytest.mark.parametrize(("desired", "live_data", "path"), [
    pytest.param(_secret(stringData={"password": "s3cret"}), {"password": "s3cret"}, None,
                 id="stringData-as-stored"),
    pytest.param(_secret(stringData={"password": "s3cret"}), {"password": "changed"},
                 ".data.password", id="stringData-changed"),
    pytest.param(_secret(stringData={"password": "s3cret"}), {}, ".data.password",
                 id="stringData-key-missing"),
    pytest.param(_secret(data={"user": b64("app")}, stringData={"password": "s3cret"}),
                 {"user": "app", "password": "s3cret"}, None, id="data-and-stringData"),
    pytest.param(_secret(data={"password": b64("old")}, stringData={"password": "new"}),
                 {"password": "new"}, None, id="stringData-wins-over-data-as-on-the-server"),
    pytest.param(_secret(data={"password": b64("s3cret")}), {"password": "s3cret"}, None,
                 id="data-only"),
    pytest.param(_secret(data={"password": b64("s3cret")}), {"password": "other"},
                 ".data.password", id="data-changed"),
    pytest.param(_secret(stringData={"password": "s3cret"}), {"password": "s3cret", "x": "y"},
                 None, id="extra-live-key"),
])
def test_secret_stringdata_is_compared_with_the_base64_data_the_server_stores(
    desired: Obj, live_data: dict[str, str], path: str | None
) -> None:
    assert drifted(desired, _live_secret(live_data)) == path


def test_stringdata_of_other_kinds_is_compared_as_written() -> None:
    desired = {"apiVersion": "example.com/v1", "kind": "Widget", "stringData": {"a": "b"}}
    assert drifted(desired, {"data": {"a": b64("b")}}) == ".stringData"


# --- known gaps ------------------------------------------------------------------------------

@pytest.mark.parametrize("field", [
    pytest.param(["tolerations", []], id="empty-list"),
    pytest.param(["nodeSelector", {}], id="empty-map"),
    pytest.param(["hostNetwork", False], id="false"),
])
def test_a_zero_value_in_git_matches_the_field_the_server_leaves_out(field: list[Any]) -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["template"]["spec"][field[0]] = field[1]
    assert drifted(desired, LIVE) is None


@pytest.mark.parametrize(("want", "have"), [("1.10", "1.1"), ("010", "10"), ("1000", "1k")])
def test_configmap_data_is_compared_as_text(want: str, have: str) -> None:
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"version": want}}
    assert drifted(desired, {"data": {"version": have}}) == ".data.version"
