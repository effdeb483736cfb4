"""The release timeline's join: six hops in order, each with its time or why it has none,
durations from the last hop that has a time, never an invented one."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from headwater.buildstatus import BuildStatus
from headwater.cd.releases import ImageChange, ReadyMark, ReleaseRecord, SyncMark
from headwater.ci.service import CommitInput, ImageProvenance
from headwater.store import Build
from headwater.web.timeline import HOPS, Hop, released_image, timeline

T0 = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
IMAGE = "127.0.0.1:5000/osones/demo-concourse-flux:1.0.1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


BUILD = Build(id=7, team="main", name="3", pipeline_id=1, pipeline_name="helloworld",
              job_id=1, job_name="Docker Build", status=BuildStatus.SUCCEEDED,
              manually_triggered=False, plan=None, aborted=False, create_time=at(0.5),
              start_time=at(1.0), end_time=at(9.0), reap_time=None)

COMMIT = CommitInput(resource="git-repo", ref="deadbeef" * 5, committed_at=at(0),
                     subject="a new page")
PROVENANCE = ImageProvenance(
    build=BUILD, resource="image", digest="sha256:" + "ab" * 32, pushed_at=at(8.0),
    commit=COMMIT)
SYNCED = SyncMark(revision="c0ffee" * 6 + "abcd", started=at(10.5), finished=at(11.5),
                  ok=True, message="")
RELEASE = ReleaseRecord(
    source="helloworld", commit="c0ffee" * 6 + "abcd", committed_at=at(10),
    author="headwater <headwater@localhost>",
    subject=f"Auto-release {IMAGE}", automated=True,
    images=(ImageChange("helloworld:deployment/helloworld", "app",
                        IMAGE.replace("1.0.1", "1.0.0"), IMAGE),),
    synced=SYNCED,
    ready=ReadyMark(at=at(14.0), ok=True, message=""))


def by_name(hops: list[Hop]) -> dict[str, Hop]:
    assert [h.name for h in hops] == list(HOPS)
    return {h.name: h for h in hops}


def test_every_hop_recorded_has_its_time_and_the_duration_since_the_one_before() -> None:
    hops = by_name(timeline(RELEASE, PROVENANCE))
    assert [(h.at, h.since, h.since_hop) for h in hops.values()] == [
        (at(0), None, None),
        (at(1), 1.0, "commit"),
        (at(8), 7.0, "build started"),
        (at(10), 2.0, "image pushed"),
        (at(11.5), 1.5, "release commit"),
        (at(14), 2.5, "synced"),
    ]
    assert all(h.ok and not h.missing and not h.note for h in hops.values())
    assert hops["build started"].build == BUILD
    assert "helloworld/Docker Build #3" in hops["build started"].detail
    assert hops["commit"].detail == "git-repo deadbeefdead: a new page"
    assert IMAGE in hops["image pushed"].detail
    assert "image automation" in hops["release commit"].detail
    assert "took 1.0s" in hops["synced"].detail


# Each case: the release and provenance changed, and the hops then not recorded with a
# word of the reason each gives.
CASES = [
    ("no build pushed the image", RELEASE, None,
     {"commit": "no build of this server pushed", "build started": "no build of this",
      "image pushed": "no build of this"}),
    ("the release changed no image", replace(RELEASE, images=()), PROVENANCE,
     {"commit": "changed no image", "build started": "changed no image",
      "image pushed": "changed no image"}),
    ("the build had no git input", RELEASE, replace(PROVENANCE, commit=None),
     {"commit": "took no git input"}),
    ("the git version had no date", RELEASE,
     replace(PROVENANCE, commit=replace(COMMIT, committed_at=None)),
     {"commit": "has no commit date"}),
    ("the put's end was not in the events", RELEASE, replace(PROVENANCE, pushed_at=None),
     {"image pushed": "no end of its put step"}),
    ("no sync seen by this process", replace(RELEASE, synced=None, ready=None), PROVENANCE,
     {"synced": "no sync of this commit was seen", "pods ready": "not synced yet"}),
    ("the rollout not (yet) recorded", replace(RELEASE, ready=None), PROVENANCE,
     {"pods ready": "still being watched"}),
]


@pytest.mark.parametrize(("case", "release", "provenance", "missing"), CASES,
                         ids=[c[0] for c in CASES])
def test_a_hop_nobody_recorded_has_no_time_and_says_why(
        case: str, release: ReleaseRecord, provenance: ImageProvenance | None,
        missing: dict[str, str]) -> None:
    hops = by_name(timeline(release, provenance))
    for name, hop in hops.items():
        if name in missing:
            assert hop.at is None and hop.since is None, name
            assert missing[name] in hop.missing, (name, hop.missing)
        else:
            assert hop.at is not None and not hop.missing, name
    # the duration of a hop after a gap is measured from the last hop with a time
    timed = [h for h in hops.values() if h.at is not None]
    for before, after in itertools.pairwise(timed):
        assert after.since_hop == before.name
        assert after.at is not None and before.at is not None
        assert after.since == (after.at - before.at).total_seconds()


def test_a_failed_sync_or_rollout_is_a_hop_with_its_time_and_its_error() -> None:
    failed = replace(RELEASE,
                     synced=replace(SYNCED, ok=False, message="apply: denied"),
                     ready=ReadyMark(at=at(300), ok=False, message="deadline exceeded"))
    hops = by_name(timeline(failed, PROVENANCE))
    assert not hops["synced"].ok and "apply: denied" in hops["synced"].detail
    assert hops["synced"].at == at(11.5)
    assert not hops["pods ready"].ok and "deadline exceeded" in hops["pods ready"].detail
    assert hops["pods ready"].since == 288.5


@pytest.mark.parametrize(("pushed", "note"), [
    (9.0, ""),  # pushed a second before the release commit: fine
    (10.4, "whole seconds"),  # Git truncated the release commit's time
])
def test_a_negative_duration_is_shown_as_it_is_with_the_reason(pushed: float,
                                                               note: str) -> None:
    hops = by_name(timeline(RELEASE, replace(PROVENANCE, pushed_at=at(pushed))))
    release = hops["release commit"]
    assert release.since == pytest.approx(10 - pushed)
    assert (note in release.note) if note else release.note == ""


def test_the_timeline_follows_the_first_image_the_release_set() -> None:
    assert released_image(RELEASE) == IMAGE
    assert released_image(replace(RELEASE, images=())) is None
