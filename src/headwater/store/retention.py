"""Which builds' logs a job's `build_log_retention` lets go: a pure decision.

A port of Concourse's build log collector (atc/gc/build_log_collector.go), so jobs
keep what they kept there. Builds are looked at newest first; running ones are
never reaped and do not count. With `builds: N` the N newest finished builds are
kept; with `days: D` builds that ended more than D days ago go; with both, a build
goes only when it is beyond the N newest AND older than D days. With
`minimum_succeeded_builds: M` (meaningful with `builds`), the M newest succeeded
builds are kept whatever their position, and as many of the oldest other kept
builds are let go so that the total stays N.

One deviation: when `builds` and `days` are both set, Concourse's final trim can
also reap recent builds kept by `days`; here it only makes room for the builds kept
by the succeeded minimum, so a build is kept while either condition holds, as
Concourse's documentation says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from headwater.store.models import BuildStatus


@dataclass(frozen=True)
class BuildSummary:
    id: int
    status: BuildStatus
    end_time: datetime | None


def builds_to_reap(newest_first: Sequence[BuildSummary], *, keep_builds: int | None,
                   keep_days: int | None, min_succeeded: int = 0, now: datetime,
                   ) -> list[int]:
    """The ids of the builds whose events may be deleted."""
    builds_limit, days = keep_builds or 0, keep_days or 0
    if builds_limit == 0 and days == 0:
        return []
    reap: list[int] = []
    kept_others: list[int] = []  # kept, not for the succeeded minimum; newest first
    kept = kept_succeeded = 0
    for build in newest_first:
        if not build.status.finished:
            continue
        if (builds_limit and min_succeeded and build.status is BuildStatus.SUCCEEDED
                and kept_succeeded < min_succeeded):
            kept += 1
            kept_succeeded += 1
            continue
        enough = kept >= builds_limit
        if days == 0:
            if enough:
                reap.append(build.id)
            else:
                kept += 1
                kept_others.append(build.id)
            continue
        expired = (build.end_time is not None
                   and build.end_time + timedelta(days=days) < now)
        if builds_limit == 0:
            if expired:
                reap.append(build.id)
            continue
        if enough and expired:
            reap.append(build.id)
        else:
            kept += 1
            kept_others.append(build.id)
    if reap and kept > builds_limit:
        # The succeeded minimum pushed the count over: the oldest others make room.
        extra = min(kept - builds_limit, kept_succeeded, len(kept_others))
        reap.extend(kept_others[len(kept_others) - extra:])
    return reap
