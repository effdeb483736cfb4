"""The build log retention decision, as Concourse's build log collector (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from headwater.store.models import BuildStatus
from headwater.store.retention import BuildSummary, builds_to_reap

NOW = datetime(2025, 1, 31, tzinfo=UTC)
S, F, E, P, R = (BuildStatus.SUCCEEDED, BuildStatus.FAILED, BuildStatus.ERRORED,
                 BuildStatus.PENDING, BuildStatus.STARTED)


def _history(spec: str, *, age_days: list[int] | None = None) -> list[BuildSummary]:
    """Newest first; "fffs" = builds 4(f) 3(f) 2(f) 1(s); p/r pending/started."""
    status = {"s": S, "f": F, "e": E, "p": P, "r": R}
    ages = age_days or [0] * len(spec)
    n = len(spec)
    return [BuildSummary(id=n - i, status=status[c],
                         end_time=None if c in "pr" else NOW - timedelta(days=ages[i]))
            for i, c in enumerate(spec)]


@pytest.mark.parametrize(("spec", "builds", "minimum", "reaped"), [
    ("fffff", 0, 0, []),  # no retention set: keep everything
    ("fffff", 2, 0, [3, 2, 1]),
    ("ffffffs", 5, 1, [2, 3]),  # Concourse's documented example
    ("sffff", 2, 1, [3, 2, 1]),  # the newest is the succeeded one: counted once
    ("rpfff", 2, 0, [1]),  # running builds neither count nor go
    ("ff", 5, 0, []),
])
def test_builds_to_reap_by_count(spec: str, builds: int, minimum: int,
                                 reaped: list[int]) -> None:
    got = builds_to_reap(_history(spec), keep_builds=builds, keep_days=None,
                         min_succeeded=minimum, now=NOW)
    assert sorted(got) == sorted(reaped)


def test_builds_to_reap_by_days_only_looks_at_the_end_time() -> None:
    history = _history("fsff", age_days=[1, 5, 10, 20])
    assert sorted(builds_to_reap(history, keep_builds=None, keep_days=7, now=NOW)) == [1, 2]


def test_with_builds_and_days_a_build_goes_when_beyond_the_count_and_expired() -> None:
    history = _history("fffff", age_days=[1, 2, 3, 10, 20])
    # 5, 4 kept by count; 3 is recent (kept by days); 2 and 1 are beyond both.
    assert sorted(builds_to_reap(history, keep_builds=2, keep_days=7, now=NOW)) == [1, 2]
