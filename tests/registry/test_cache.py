"""Tag-metadata cache bookkeeping, as Flux v1's warmer keeps it; the clock is a number."""

from __future__ import annotations

import pytest

from headwater.registry.cache import (
    EXCLUDED_REFRESH,
    INITIAL_REFRESH,
    MAX_REFRESH,
    MIN_REFRESH,
    RepoEntry,
    TagEntry,
    plan,
    refreshed,
    updated,
)
from headwater.registry.image import ImageInfo
from headwater.registry.scanner import glob_match, wanted

HOUR = 3600.0


def _info(digest: str = "sha256:a", excluded: str | None = None) -> ImageInfo:
    return ImageInfo(digest, "application/vnd.docker.distribution.manifest.v2+json",
                     excluded=excluded)


def _entry(fetched: float, refresh: float, digest: str = "sha256:a") -> TagEntry:
    return TagEntry(_info(digest), fetched, refresh)


def test_first_scan_fetches_every_tag() -> None:
    p = plan(None, ["1.0", "1.1"], now=0.0)
    assert (p.missing, p.due, dict(p.fresh)) == (("1.0", "1.1"), (), {})
    assert p.requests_needed == 2


def test_rescan_before_deadlines_fetches_nothing() -> None:
    entry = RepoEntry(("1.0", "1.1"), {"1.0": _entry(0, HOUR), "1.1": _entry(0, HOUR)}, 0.0)
    p = plan(entry, ["1.0", "1.1"], now=HOUR)  # at the deadline: not yet past it (Flux: After)
    assert p.requests_needed == 0
    assert set(p.fresh) == {"1.0", "1.1"}


def test_new_tags_are_missing_and_past_deadlines_are_due() -> None:
    entry = RepoEntry(("1.0", "1.1"), {"1.0": _entry(0, HOUR), "1.1": _entry(0, 2 * HOUR)}, 0.0)
    p = plan(entry, ["1.0", "1.1", "1.2"], now=HOUR + 1)
    assert p.missing == ("1.2",)
    assert p.due == ("1.0",)
    assert set(p.fresh) == {"1.1"}


def test_repeated_tags_are_planned_once() -> None:
    assert plan(None, ["a", "b", "a"], now=0).missing == ("a", "b")


def test_a_new_tag_is_rechecked_after_an_hour() -> None:
    e = refreshed(None, _info(), now=50.0)
    assert (e.fetched, e.refresh, e.deadline) == (50.0, INITIAL_REFRESH, 50.0 + INITIAL_REFRESH)


def test_an_unchanged_digest_doubles_the_interval_up_to_a_week() -> None:
    e = refreshed(None, _info(), now=0.0)
    seen = []
    for _ in range(12):
        e = refreshed(e, _info(), now=e.deadline + 1)
        seen.append(e.refresh)
    assert seen[:3] == [2 * HOUR, 4 * HOUR, 8 * HOUR]
    assert seen[-1] == MAX_REFRESH
    assert max(seen) == MAX_REFRESH


def test_a_moved_tag_halves_the_interval_down_to_five_minutes() -> None:
    e = _entry(0, HOUR)
    e = refreshed(e, _info("sha256:b"), now=HOUR + 1)
    assert e.refresh == HOUR / 2
    assert e.info.digest == "sha256:b"
    for _ in range(10):
        e = refreshed(e, _info(e.info.digest + "x"), now=e.deadline + 1)
    assert e.refresh == MIN_REFRESH


def test_an_excluded_image_waits_a_day() -> None:
    e = refreshed(None, _info(excluded="no suitable manifest (linux amd64)"), now=0.0)
    assert e.refresh == EXCLUDED_REFRESH
    assert refreshed(e, e.info, now=e.deadline + 1).refresh == EXCLUDED_REFRESH


def test_jitter_scales_the_interval_by_at_most_ten_percent_and_stays_clipped() -> None:
    assert refreshed(None, _info(), now=0, jitter=0.05).refresh == pytest.approx(1.05 * HOUR)
    assert refreshed(None, _info(), now=0, jitter=-0.5).refresh == pytest.approx(0.9 * HOUR)
    top = _entry(0, MAX_REFRESH)
    assert refreshed(top, top.info, now=1, jitter=0.1).refresh == MAX_REFRESH


def test_updated_keeps_listed_tags_only_and_old_entries_that_could_not_be_rechecked() -> None:
    old = RepoEntry(("gone", "kept", "stale"), {
        "gone": _entry(0, HOUR), "kept": _entry(0, 9 * HOUR), "stale": _entry(0, HOUR)}, 0.0)
    fresh = {"new": _entry(HOUR + 1, HOUR, "sha256:n")}
    # "stale" was due but its re-check failed: its old entry stays, still due.
    entry = updated(old, ["kept", "stale", "new", "unreadable"], fresh, now=HOUR + 1)
    assert entry.tags == ("kept", "stale", "new", "unreadable")
    assert set(entry.images) == {"kept", "stale", "new"}
    assert entry.images["stale"].due(HOUR + 2)
    assert (entry.last_update, entry.last_error) == (HOUR + 1, None)


def test_updated_with_an_error_keeps_the_last_good_update_time() -> None:
    old = RepoEntry(("a",), {"a": _entry(0, HOUR)}, last_update=5.0)
    entry = updated(old, ["a"], {}, now=10.0, error="rate limited")
    assert (entry.last_update, entry.last_error) == (5.0, "rate limited")


def test_usable_leaves_out_excluded_images() -> None:
    entry = RepoEntry(("a", "b"), {"a": _entry(0, HOUR),
                                   "b": TagEntry(_info(excluded="no amd64"), 0, HOUR)})
    assert set(entry.usable()) == {"a"}


@pytest.mark.parametrize(("pattern", "subject", "matches"), [
    ("*", "docker.io/library/nginx", True),
    ("k8s.gcr.io/*", "k8s.gcr.io/pause", True),
    ("k8s.gcr.io/*", "docker.io/k8s.gcr.io/x", False),
    ("*/example/*", "docker.io/example/app", True),
    ("*/example/*", "ghcr.io/example-dev/app", False),
    ("docker.io/library/nginx", "docker.io/library/nginx", True),
    ("docker.io/library/ng", "docker.io/library/nginx", False),
    ("*nginx", "docker.io/library/nginx", True),
    ("a*b*c", "abc", True),
    ("a*b*c", "acb", False),
    ("ab*ba", "aba", False),
    ("127.0.0.1:*/test/*", "127.0.0.1:5000/test/img", True),
    ("docker.io/library/?ginx", "docker.io/library/nginx", False),  # only * is special
])
def test_glob_match_as_go_glob(pattern: str, subject: str, matches: bool) -> None:
    assert glob_match(pattern, subject) is matches


@pytest.mark.parametrize(("include", "exclude", "image", "expected"), [
    ((), (), "nginx", True),
    ((), ("k8s.gcr.io/*",), "k8s.gcr.io/pause:3.9", False),
    (("*/example/*",), (), "example/app", True),  # docker.io/example/app
    (("*/example/*",), (), "ghcr.io/other/app", False),
    (("*/example/*",), ("*/example/secret",), "example/secret", False),
    # Patterns written for fluxd use index.docker.io for Docker Hub: they still match.
    (("index.docker.io/fluxcd/*",), (), "fluxcd/flux:1.25.4", True),
    (("docker.io/library/*",), (), "nginx", True),
])
def test_scanner_include_and_exclude_globs(
    include: tuple[str, ...], exclude: tuple[str, ...], image: str, expected: bool
) -> None:
    assert wanted(image, include=include, exclude=exclude) is expected
