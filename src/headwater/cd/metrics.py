"""Prometheus metrics of the CD controller, in a registry of its own (no globals).

Object counts come from the sync's change sets (kube/changeset.py), as its JSON does.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from headwater.cd.sync import SyncResult
from headwater.kube import changeset


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.duration = Histogram(
            "headwater_sync_duration_seconds", "Duration of a sync, by source and result.",
            ["source", "success"], registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.applied = Counter("headwater_sync_objects_applied_total",
                               "Objects created or changed by syncs.", ["source"], registry=r)
        self.pruned = Counter("headwater_sync_objects_pruned_total",
                              "Objects deleted by garbage collection.", ["source"], registry=r)
        self.changes = Counter(
            "headwater_sync_objects_total",
            "Objects seen by syncs, by what was done to them (created, configured, "
            "unchanged, skipped, deleted, unknown).", ["source", "action"], registry=r)
        self.last_revision = Gauge(
            "headwater_sync_last_revision_info",
            "The last revision synced successfully (value 1).", ["source", "revision"],
            registry=r)
        self.last_success = Gauge("headwater_sync_last_success_timestamp_seconds",
                                  "When the last good sync ended.", ["source"], registry=r)
        self.releases = Counter(
            "headwater_automation_releases_total",
            "Release commits pushed by image automation.", ["source"], registry=r)
        self._revision: dict[str, str] = {}

    def released(self, source: str) -> None:
        self.releases.labels(source).inc()

    def observe(self, result: SyncResult) -> None:
        self.duration.labels(result.source, str(result.ok).lower()).observe(result.seconds)
        self.applied.labels(result.source).inc(len(result.applied))
        self.pruned.labels(result.source).inc(len(result.pruned))
        for action, n in changeset.tally(result.changes).items():
            if n:
                self.changes.labels(result.source, action.value).inc(n)
        if result.ok:
            old = self._revision.get(result.source)
            if old and old != result.revision:
                self.last_revision.remove(result.source, old)
            self.last_revision.labels(result.source, result.revision).set(1)
            self._revision[result.source] = result.revision
            self.last_success.labels(result.source).set_to_current_time()
