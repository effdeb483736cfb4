"""Wait for workloads to roll out, and say in plain words why one does not.

Ready means what `kubectl rollout status` checks: the controller saw the latest
generation, and every replica is updated and available. When the time is up, each
workload still rolling is named with its pods' reasons: the image that cannot be
pulled, the container that keeps crashing, the pod that cannot be scheduled.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from headwater.kube.client import Kube
from headwater.kube.objects import ObjId

WORKLOADS = {"Deployment": "deployments", "StatefulSet": "statefulsets",
             "DaemonSet": "daemonsets"}


def rollout_problem(kind: str, obj: dict[str, Any]) -> str | None:
    """None if rolled out, else what is still missing (pure)."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return "the controller has not seen the latest change yet"
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        updated, available = status.get("updatedNumberScheduled", 0), status.get(
            "numberAvailable", 0)
        to_update = want
    else:
        want = spec.get("replicas", 1)
        updated, available = status.get("updatedReplicas", 0), status.get(
            "availableReplicas" if kind == "Deployment" else "readyReplicas", 0)
        # A partitioned StatefulSet updates only the ordinals >= partition (kubectl agrees).
        partition = (((spec.get("updateStrategy") or {}).get("rollingUpdate") or {})
                     .get("partition", 0)) if kind == "StatefulSet" else 0
        to_update = max(0, want - partition)
    if updated < to_update:  # checked first, as `kubectl rollout status` does
        return f"{updated}/{to_update} replicas updated"
    if kind == "Deployment" and status.get("replicas", 0) > want:
        return f"{status['replicas'] - want} old replica(s) still terminating"
    if available < want:
        return f"{available}/{want} replicas available"
    return None


def pod_reasons(pods: list[dict[str, Any]]) -> list[str]:
    """Why pods are not ready, one line per pod (pure)."""
    out = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        reasons = []
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                reasons.append(f"cannot be scheduled: {cond.get('message', '')}".strip())
        statuses = (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or [])
        for cs in statuses:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if not reason or reason in {"ContainerCreating", "PodInitializing"}:
                continue
            if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
                text = f"container {cs['name']} cannot pull image {cs.get('image')!r} ({reason})"
            elif reason == "CrashLoopBackOff":
                text = (f"container {cs['name']} keeps crashing (CrashLoopBackOff, "
                        f"{cs.get('restartCount', 0)} restarts)")
            else:
                text = f"container {cs['name']} is waiting: {reason}"
            if waiting.get("message"):
                text += f": {waiting['message']}"
            reasons.append(text)
        if reasons:
            out.append(f"pod {name}: " + "; ".join(reasons))
    return out


def _path(obj_id: ObjId, name: str | None = None) -> str:
    return f"/apis/apps/v1/namespaces/{obj_id.namespace}/{WORKLOADS[obj_id.kind]}/" + (
        name or obj_id.name)


async def wait_ready(kube: Kube, ids: list[ObjId], *, timeout: float,
                     interval: float = 1.0) -> list[str]:
    """Wait until every Deployment/StatefulSet/DaemonSet in `ids` is rolled out; return
    one message per workload that is not, naming why (empty when all are ready)."""
    pending = {i for i in ids if i.group == "apps" and i.kind in WORKLOADS}
    deadline = time.monotonic() + timeout
    last: dict[ObjId, tuple[str, dict[str, Any]]] = {}
    while pending:
        async def check(obj_id: ObjId) -> None:
            obj = await kube.request("GET", _path(obj_id))
            problem = rollout_problem(obj_id.kind, obj)
            if problem is None:
                pending.discard(obj_id)
                last.pop(obj_id, None)
            else:
                last[obj_id] = (problem, obj)

        await asyncio.gather(*(check(i) for i in sorted(pending)))
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(interval)
    messages = []
    for obj_id in sorted(pending):
        problem, obj = last[obj_id]
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods = await kube.request(
            "GET", f"/api/v1/namespaces/{obj_id.namespace}/pods",
            params={"labelSelector": ",".join(f"{k}={v}" for k, v in selector.items())})
        why = pod_reasons(pods.get("items") or [])
        messages.append(f"{obj_id} not ready after {timeout:.0f}s: {problem}"
                        + "".join(f"\n    {w}" for w in why))
    return messages
