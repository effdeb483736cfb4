"""Which tag a policy picks, and whether fluxd would release it: Flux v1.25.4's rules.

- Filtering, pkg/update/images.go `filterTags`/`matchWithLatest`: a tag spelled `latest`
  in any case (Go's `strings.EqualFold`) is dropped unless the pattern is `glob:latest`.
- Ordering, pkg/image/image.go: `semver:` by `NewerBySemver` (higher version first;
  equal precedence, e.g. `1.10` and `1.10.0`, breaks towards the greater ref string;
  non-semver tags last, by ref string), `glob:`/`regexp:` by `NewerByCreated` (newest
  first; equal times, including two unknown ones, by ascending ref string; an unknown
  time is Go's zero time, so older than any real one). Refs share the image name, so
  comparing refs is comparing tags.
- Releasing, pkg/daemon/images.go `calculateChanges`: release when the first ranked tag
  differs from the current one, except for time-ordered policies when either the
  latest's or the current tag's creation time is unknown (a current tag absent from the
  list counts as unknown), and never to an empty tag. A *different* tag is enough: fluxd
  goes down too when the policy says so (`semver:~1.0` on a 2.0.0 workload).
- `fluxctl release --update-all-images`, pkg/update/release_image.go
  `calculateImageUpdates`, is the same rule but for one thing: it has no creation-time
  check, so it releases a time-ordered policy's first tag even when a time is unknown.
  `decide(..., trigger=Trigger.RELEASE)` names that difference; everything else is shared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cmp_to_key

from headwater.imagepolicy.pattern import Pattern
from headwater.imagepolicy.semver import SemverError, Version

__all__ = [
    "Decision",
    "TagInfo",
    "Trigger",
    "decide",
    "filter_tags",
    "is_latest_tag",
    "latest",
    "newer_by_created",
    "newer_by_semver",
    "rank",
    "would_update",
]

_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)  # Go's time.Time{}: what an unknown time is


@dataclass(frozen=True, slots=True)
class TagInfo:
    """A tag and its image's creation time (None when the registry gave none)."""

    tag: str
    created: datetime | None = None

    def __post_init__(self) -> None:
        if self.created is not None and self.created.utcoffset() is None:
            raise ValueError(f"created time of tag {self.tag!r} has no time zone")

    @property
    def _time(self) -> datetime:
        return _ZERO_TIME if self.created is None else self.created

    @property
    def created_known(self) -> bool:
        """Go's `!CreatedAt.IsZero()`."""
        return self._time != _ZERO_TIME


# Go SimpleFold orbits of the letters of "latest": U+017F (long s) folds with s.
_LATEST_FOLDS = ("lL", "aA", "tT", "eE", "sS\u017f", "tT")


def is_latest_tag(tag: str) -> bool:
    """strings.EqualFold(tag, "latest"), with Go's simple (not Python's full) folding."""
    return len(tag) == 6 and all(c in fold for c, fold in zip(tag, _LATEST_FOLDS, strict=True))


def newer_by_created(a: TagInfo, b: TagInfo) -> bool:
    """image.go NewerByCreated: whether `a` sorts before `b`."""
    if a._time == b._time:
        return a.tag < b.tag
    return a._time > b._time


def _version(tag: str) -> Version | None:
    try:
        return Version.parse(tag)
    except SemverError:
        return None


def newer_by_semver(a: TagInfo, b: TagInfo) -> bool:
    """image.go NewerBySemver: whether `a` sorts before `b`."""
    av, bv = _version(a.tag), _version(b.tag)
    if av is None and bv is None:
        return a.tag < b.tag
    if av is None:
        return False
    if bv is None:
        return True
    cmp = av.compare(bv)
    if cmp == 0:
        return a.tag > b.tag  # 1.10.0 before 1.10: "in favor of explicitness"
    return cmp > 0


def filter_tags(pattern: Pattern, tags: Iterable[TagInfo]) -> list[TagInfo]:
    """images.go filterTags: the tags the pattern admits, `latest` only for glob:latest."""
    return [t for t in tags
            if (pattern.is_latest or not is_latest_tag(t.tag)) and pattern.matches(t.tag)]


def rank(pattern: Pattern, tags: Iterable[TagInfo]) -> list[TagInfo]:
    """images.go FilterAndSortRepositoryMetadata: admitted tags, newest first."""
    newer = newer_by_created if pattern.requires_timestamp else newer_by_semver

    def cmp(a: TagInfo, b: TagInfo) -> int:
        if newer(a, b):
            return -1
        return 1 if newer(b, a) else 0

    return sorted(filter_tags(pattern, tags), key=cmp_to_key(cmp))


def latest(pattern: Pattern, tags: Iterable[TagInfo]) -> TagInfo | None:
    """images.go SortedImageInfos.Latest: the first ranked tag, if any."""
    ranked = rank(pattern, tags)
    return ranked[0] if ranked else None


# Why calculateChanges did or did not release; fluxd logs the same situations.
UP_TO_DATE = "up to date"
NO_MATCHING_TAG = "no tag matches the policy"
UNTAGGED = "untagged image in available images"
ZERO_TIMESTAMP = "image with zero created timestamp"
NEWER = "latest differs from current"


class Trigger(Enum):
    """Who asks for the next tag: fluxd's two copies of the rule differ in one check."""

    AUTOMATED = "automated"  # daemon/images.go calculateChanges: refuses unknown times
    RELEASE = "release"      # update/release_image.go calculateImageUpdates: does not


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `decide`: release `latest` or not, and why (a reason constant)."""

    update: bool
    latest: TagInfo | None
    reason: str


def decide(pattern: Pattern, tags: Sequence[TagInfo], current: str, *,
           trigger: Trigger = Trigger.AUTOMATED) -> Decision:
    """fluxd's decision for one container whose image has tag `current`: calculateChanges
    (automation), or calculateImageUpdates (`release --update-all-images`) with
    `Trigger.RELEASE`, which skips the unknown-creation-time refusal."""
    best = latest(pattern, tags)
    if best is None:
        return Decision(False, None, NO_MATCHING_TAG)
    if best.tag == current:
        return Decision(False, best, UP_TO_DATE)
    if best.tag == "":
        return Decision(False, best, UNTAGGED)
    # FindImageWithRef: the current tag's metadata, whether or not the policy admits it.
    mine = next((t for t in tags if t.tag == current), TagInfo(current))
    if (trigger is Trigger.AUTOMATED and pattern.requires_timestamp
            and not (mine.created_known and best.created_known)):
        return Decision(False, best, ZERO_TIMESTAMP)
    return Decision(True, best, NEWER)


def would_update(pattern: Pattern, tags: Sequence[TagInfo], current: str) -> bool:
    """Whether fluxd 1.25.4 would release a new tag for a container now on `current`."""
    return decide(pattern, tags, current).update
