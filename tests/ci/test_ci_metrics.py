"""The CI metrics: every build status is a series from the start, and a check counts as
an error only when it did not succeed."""

from __future__ import annotations

import pytest

from headwater.buildstatus import BuildStatus
from headwater.ci.metrics import CIMetrics


def test_every_finished_status_is_a_series_at_zero_from_the_start() -> None:
    m = CIMetrics()
    for status in ("succeeded", "failed", "errored", "aborted"):
        assert m.registry.get_sample_value("headwater_builds_finished_total",
                                           {"status": status}) == 0
    assert m.registry.get_sample_value("headwater_builds_finished_total",
                                       {"status": "pending"}) is None


def test_a_finished_build_is_counted_by_status_with_its_duration() -> None:
    m = CIMetrics()
    m.build_finished(BuildStatus.FAILED, 12.5)
    m.build_finished(BuildStatus.FAILED, 0.5)
    get = m.registry.get_sample_value
    assert get("headwater_builds_finished_total", {"status": "failed"}) == 2
    assert get("headwater_build_duration_seconds_count", {"status": "failed"}) == 2
    assert get("headwater_build_duration_seconds_sum", {"status": "failed"}) == 13
    assert get("headwater_builds_finished_total", {"status": "succeeded"}) == 0


@pytest.mark.parametrize(("result", "errors"), [
    ("succeeded", {"failed": 0, "errored": 0}),
    ("failed", {"failed": 1, "errored": 0}),
    ("errored", {"failed": 0, "errored": 1}),
])
def test_a_check_is_an_error_only_when_it_did_not_succeed(result: str,
                                                           errors: dict[str, int]) -> None:
    m = CIMetrics()
    m.check_finished(result, 0.2)
    get = m.registry.get_sample_value
    assert get("headwater_resource_check_duration_seconds_count", {"result": result}) == 1
    for kind, n in errors.items():
        assert get("headwater_resource_check_errors_total", {"result": kind}) == n
