"""The CD metrics read a sync's change sets: counts by action, and the applied and pruned
counters as before."""

from __future__ import annotations

from prometheus_client import generate_latest

from headwater.cd.metrics import SyncMetrics
from headwater.cd.sync import SyncResult
from headwater.kube.changeset import Action, Change
from headwater.kube.objects import ObjId


def _cm(name: str) -> ObjId:
    return ObjId("", "ConfigMap", "shop", name)


def test_metrics_count_objects_by_action_from_the_change_sets() -> None:
    metrics = SyncMetrics()
    metrics.observe(SyncResult(
        "src", "abc",
        apply_changes=[Change(_cm("a"), Action.CREATED), Change(_cm("b"), Action.UNCHANGED),
                       Change(_cm("c"), Action.UNCHANGED),
                       Change(_cm("d"), Action.SKIPPED, "ignore annotation in file")],
        prune_changes=[Change(_cm("e"), Action.DELETED)]))
    text = generate_latest(metrics.registry).decode()
    for line in ['headwater_sync_objects_total{action="created",source="src"} 1.0',
                 'headwater_sync_objects_total{action="unchanged",source="src"} 2.0',
                 'headwater_sync_objects_total{action="skipped",source="src"} 1.0',
                 'headwater_sync_objects_total{action="deleted",source="src"} 1.0',
                 'headwater_sync_objects_applied_total{source="src"} 1.0',
                 'headwater_sync_objects_pruned_total{source="src"} 1.0']:
        assert line in text.splitlines(), line
    assert 'action="configured"' not in text  # no series for what never happened
