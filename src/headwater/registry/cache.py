"""The tag-metadata cache, kept as Flux v1's warmer keeps it: pure bookkeeping.

Flux (`pkg/registry/cache/warming.go`, `repocachemanager.go`) lists a repository's
tags on every pass, but fetches a tag's metadata only when it is new or its refresh
deadline has passed. A new tag's first deadline is an hour away (`initialRefresh`); at
each re-check the interval doubles if the digest is unchanged and halves if the tag
moved, clipped to [5 minutes, 7 days]; an excluded image (no linux/amd64) waits a day.
Tags gone from the list leave the cache. So a rescan with nothing new costs one request
per repository: the tag list.

Here the clock is a float passed in (seconds; `time.time()` in production, a plain
number in tests), and `plan` / `refreshed` / `updated` decide; `Scanner` does the I/O.
Two departures from Flux: a due tag is re-checked with one HEAD (its digest), and
fetched again only if the digest moved (Flux GETs manifest and config each time); and
each new interval is scaled by a small jitter so tags first seen together do not all
come due in the same scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from headwater.registry.image import ImageInfo

INITIAL_REFRESH = 60 * 60.0  # start off assuming an image changes about an hour after we see it
MIN_REFRESH = 5 * 60.0  # never re-check a tag faster than this
MAX_REFRESH = 7 * 24 * 60 * 60.0  # never wait longer than this
EXCLUDED_REFRESH = 24 * 60 * 60.0  # unusable images are not expected to change soon
JITTER = 0.1  # intervals are scaled by 1 + j, j in [-JITTER, JITTER]


@dataclass(frozen=True)
class TagEntry:
    """What we know of one tag, when we last checked it, and when to check again."""

    info: ImageInfo
    fetched: float
    refresh: float

    @property
    def deadline(self) -> float:
        return self.fetched + self.refresh

    def due(self, now: float) -> bool:
        return now > self.deadline


@dataclass(frozen=True)
class RepoEntry:
    """A repository as last scanned: its tags, and the metadata of those we could read."""

    tags: tuple[str, ...] = ()
    images: Mapping[str, TagEntry] = field(default_factory=dict)
    last_update: float | None = None  # when a scan last read the whole repository
    last_error: str | None = None  # what went wrong in the last scan, if anything

    def usable(self) -> dict[str, TagEntry]:
        """The tags with metadata, less excluded images: what tag policies choose from."""
        return {t: e for t, e in self.images.items() if e.info.excluded is None}


@dataclass(frozen=True)
class Plan:
    """What a scan must fetch, given the tag list just read and the cache."""

    missing: tuple[str, ...]  # never seen: read manifest and config
    due: tuple[str, ...]  # known but past their deadline: re-check the digest
    fresh: Mapping[str, TagEntry]  # known and not due: no request

    @property
    def requests_needed(self) -> int:
        return len(self.missing) + len(self.due)


def plan(entry: RepoEntry | None, tags: Iterable[str], now: float) -> Plan:
    known = entry.images if entry else {}
    missing: list[str] = []
    due: list[str] = []
    fresh: dict[str, TagEntry] = {}
    for tag in dict.fromkeys(tags):  # a registry may repeat a tag across pages
        cached = known.get(tag)
        if cached is None:
            missing.append(tag)
        elif cached.due(now):
            due.append(tag)
        else:
            fresh[tag] = cached
    return Plan(tuple(missing), tuple(due), fresh)


def clip(refresh: float) -> float:
    return min(MAX_REFRESH, max(MIN_REFRESH, refresh))


def refreshed(
    previous: TagEntry | None, info: ImageInfo, *, now: float, jitter: float = 0.0
) -> TagEntry:
    """The entry after reading a tag (`previous` None) or re-checking it."""
    if info.excluded is not None:
        refresh = EXCLUDED_REFRESH
    elif previous is None:
        refresh = INITIAL_REFRESH
    elif previous.info.digest == info.digest:
        refresh = clip(previous.refresh * 2)
    else:  # the tag was moved to another image: look more often
        refresh = clip(previous.refresh / 2)
    jitter = max(-JITTER, min(JITTER, jitter))
    return TagEntry(info, now, clip(refresh * (1 + jitter)))


def updated(
    entry: RepoEntry | None,
    tags: Sequence[str],
    fetched: Mapping[str, TagEntry],
    *,
    now: float,
    error: str | None = None,
) -> RepoEntry:
    """The repository after a scan that listed `tags` and (re)read `fetched`.

    Tags no longer listed are dropped. A tag that could not be re-checked keeps its old
    entry, already due, so the next scan tries again; one never read stays out.
    """
    old = entry.images if entry else {}
    images: dict[str, TagEntry] = {}
    for tag in dict.fromkeys(tags):
        got = fetched.get(tag) or old.get(tag)
        if got is not None:
            images[tag] = got
    last_update = now if error is None else (entry.last_update if entry else None)
    return RepoEntry(tuple(dict.fromkeys(tags)), images, last_update, error)


class TagCache:
    """The cache itself: repository name (`registry/repository`) -> `RepoEntry`."""

    def __init__(self) -> None:
        self._repos: dict[str, RepoEntry] = {}

    def get(self, name: str) -> RepoEntry | None:
        return self._repos.get(name)

    def put(self, name: str, entry: RepoEntry) -> None:
        self._repos[name] = entry

    def names(self) -> list[str]:
        return sorted(self._repos)

    def __len__(self) -> int:
        return len(self._repos)
