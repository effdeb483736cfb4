"""Prometheus metrics of the CI engine, in the registry the server hands it (no globals).

The server makes one `CollectorRegistry` per app and gives it to both halves (these
and `cd.metrics.SyncMetrics`), so one `/metrics` covers CI and CD and several servers
in one process (the tests) never collide. The runner reports each finished build
(status and duration), the checker each check (duration, and errors by whose fault:
`failed`, the resource's own error; `errored`, headwater broke). Labels stay few and
bounded (status, result): names of pipelines and jobs are the API's business.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from headwater.buildstatus import FINISHED_STATUSES, BuildStatus

_DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
_CHECK_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class CIMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.builds = Counter("headwater_builds_finished_total",
                              "Builds finished, by status.", ["status"], registry=r)
        self.build_duration = Histogram(
            "headwater_build_duration_seconds",
            "Duration of finished builds, from start to end, by status.", ["status"],
            registry=r, buckets=_DURATION_BUCKETS)
        self.check_duration = Histogram(
            "headwater_resource_check_duration_seconds",
            "Duration of resource checks, by result (succeeded, failed, errored).",
            ["result"], registry=r, buckets=_CHECK_BUCKETS)
        self.check_errors = Counter(
            "headwater_resource_check_errors_total",
            "Resource checks that failed (the resource's error, timeouts) or errored "
            "(headwater broke).", ["result"], registry=r)
        for status in sorted(FINISHED_STATUSES):  # every series from the start, at 0
            self.builds.labels(status.value)
        for result in ("failed", "errored"):
            self.check_errors.labels(result)

    def build_finished(self, status: BuildStatus, seconds: float) -> None:
        self.builds.labels(status.value).inc()
        self.build_duration.labels(status.value).observe(max(0.0, seconds))

    def check_finished(self, result: str, seconds: float) -> None:
        """`result`: succeeded, failed (the resource's error) or errored (ours)."""
        self.check_duration.labels(result).observe(max(0.0, seconds))
        if result != "succeeded":
            self.check_errors.labels(result).inc()
