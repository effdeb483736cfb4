"""Rollout health: a workload is ready when `kubectl rollout status` would say so, and
what is not ready is named in plain words, from the pods' own status.

The documents under testdata/ are objects as GET returns them (managedFields aside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.kube.health import pod_reasons, rollout_problem

TESTDATA = Path(__file__).parent / "testdata"
NOT_SEEN = "the controller has not seen the latest change yet"
IMAGE = "registry.local/web:9.9.9"
NOT_FOUND = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{IMAGE}": '
             f'failed to resolve reference "{IMAGE}": {IMAGE}: not found')
PULL_BACKOFF = (f"container web cannot pull image '{IMAGE}' (ImagePullBackOff): "
                f'Back-off pulling image "{IMAGE}": ErrImagePull: {NOT_FOUND}')


def crashing(container: str, restarts: int) -> str:
    return (f"container {container} keeps crashing (CrashLoopBackOff, {restarts} restarts): "
            f"back-off 2m40s restarting failed container={container} "
            "pod=web-7d4b9c8f6-x2x9k_shop(0b8c2d8e-3f4a-4e55-9c1b-7a6d5e4f3a21)")


def load(kind: str, case: str) -> dict[str, Any]:
    doc = yaml.safe_load((TESTDATA / kind / f"{case}.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize(("case", "problem"), [
    ("deployment-rolled-out", None),
    ("deployment-scaled-to-zero", None),
    ("deployment-just-created", NOT_SEEN),
    ("deployment-new-generation-not-observed", NOT_SEEN),
    ("deployment-updating", "1/3 replicas updated"),
    ("deployment-old-replicas-terminating", "1 old replica(s) still terminating"),
    ("deployment-unavailable", "1/3 replicas available"),
    ("statefulset-rolled-out", None),
    ("statefulset-rolling-update", "1/3 replicas updated"),
    ("statefulset-pod-not-ready", "2/3 replicas available"),
    ("daemonset-rolled-out", None),
    ("daemonset-no-matching-nodes", None),
    ("daemonset-new-generation-not-observed", NOT_SEEN),
    ("daemonset-updating", "1/2 replicas updated"),
    ("daemonset-unavailable", "1/2 replicas available"),
])
def test_rollout_problem_says_what_is_still_missing(case: str, problem: str | None) -> None:
    obj = load("rollout", case)
    assert rollout_problem(obj["kind"], obj) == problem


def test_a_rollout_with_surge_pods_is_not_ready() -> None:
    obj = load("rollout", "deployment-updating-with-surge")
    assert rollout_problem("Deployment", obj) is not None


def test_a_rollout_with_surge_pods_says_how_many_replicas_are_updated() -> None:
    obj = load("rollout", "deployment-updating-with-surge")
    assert rollout_problem("Deployment", obj) == "1/3 replicas updated"


def test_a_partitioned_statefulset_rollout_is_done_when_the_partition_is_updated() -> None:
    obj = load("rollout", "statefulset-partitioned-rollout-done")
    assert rollout_problem("StatefulSet", obj) is None


def test_a_workload_without_status_fields_counts_them_as_zero() -> None:
    obj = {"metadata": {"generation": 1}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 1}}
    assert rollout_problem("Deployment", obj) == "0/2 replicas updated"
    assert rollout_problem("StatefulSet", obj) == "0/2 replicas updated"


def test_a_deployment_without_replicas_wants_one() -> None:
    obj = {"metadata": {"generation": 1}, "status": {"observedGeneration": 1}}
    assert rollout_problem("Deployment", obj) == "0/1 replicas updated"


# --- pod_reasons -----------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "reasons"), [
    pytest.param("image-pull-backoff", PULL_BACKOFF,
                 id="ImagePullBackOff-names-container-and-image"),
    pytest.param("err-image-pull",
                 f"container web cannot pull image '{IMAGE}' (ErrImagePull): {NOT_FOUND}",
                 id="ErrImagePull-names-container-and-image"),
    pytest.param("crash-loop", crashing("web", 5), id="CrashLoopBackOff-counts-restarts"),
    pytest.param("unschedulable",
                 "cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu. "
                 "preemption: 0/1 nodes are available: 1 No preemption victims found for "
                 "incoming pod.",
                 id="unschedulable-gives-the-scheduler-message"),
    pytest.param("init-container-crash-loop", crashing("migrate", 3),
                 id="failing-init-container-named-PodInitializing-not"),
    pytest.param("config-error",
                 'container web is waiting: CreateContainerConfigError: secret "db" not found',
                 id="other-waiting-reason-with-its-message"),
    pytest.param("two-containers-failing", f"{PULL_BACKOFF}; {crashing('proxy', 2)}",
                 id="every-failing-container-on-one-line"),
])
def test_pod_reasons_names_the_container_and_why(case: str, reasons: str) -> None:
    assert pod_reasons([load("pods", case)]) == [f"pod web-7d4b9c8f6-x2x9k: {reasons}"]


@pytest.mark.parametrize("case", ["container-creating", "running-and-ready"])
def test_a_pod_that_is_only_starting_or_is_ready_gives_no_reason(case: str) -> None:
    assert pod_reasons([load("pods", case)]) == []


def test_pod_reasons_gives_one_line_per_pod_with_a_problem_in_order() -> None:
    pods = [load("pods", case) for case in
            ("crash-loop", "running-and-ready", "container-creating", "unschedulable")]
    pods[0]["metadata"]["name"] = "web-1"
    pods[3]["metadata"]["name"] = "web-4"
    lines = pod_reasons(pods)
    assert [line.split(":")[0] for line in lines] == ["pod web-1", "pod web-4"]


def test_a_waiting_reason_without_a_message_ends_at_the_reason() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"containerStatuses": [
        {"name": "web", "image": IMAGE, "state": {"waiting": {"reason": "ErrImageNeverPull"}}}]}}
    assert pod_reasons([pod]) == ["pod p: container web is waiting: ErrImageNeverPull"]


def test_a_pod_without_status_gives_no_reason() -> None:
    assert pod_reasons([{"metadata": {"name": "p"}}, {}]) == []
