"""Scanning image repositories into the tag-metadata cache.

`Scanner.scan` reads a set of repositories concurrently with one `RegistryClient`:
per repository, the tag list (every scan), then only what `cache.plan` says is new or
due, `tag_concurrency` at a time (Flux's `--registry-burst` bounds its fetchers the same
way). A 429 that outlasts the client's retries stops that repository's fetches for
this scan, keeping what was read (Flux: "aborting image tag fetching due to rate
limiting, will try again later"); a missing manifest is logged and skipped (Flux:
"manifest for tag ... missing in repository ..."); a repository that cannot be listed
keeps its previous entry with `last_error` set.

Which repositories are scanned: `include` / `exclude` globs as fluxd's
`--registry-include-image` / `--registry-exclude-image` (ryanuber/go-glob: `*` is the
only wildcard and matches `/` too), tried on the canonical name
(`docker.io/library/nginx`) and on Flux's spelling of Docker Hub names
(`index.docker.io/library/nginx`), so patterns written for fluxd keep working.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from headwater import log
from headwater.registry import cache
from headwater.registry.cache import RepoEntry, TagCache, TagEntry
from headwater.registry.client import RegistryClient
from headwater.registry.errors import NotOnRegistry, RateLimited, RegistryError
from headwater.registry.reference import DOCKER_HUB, Reference, parse

FLUX_DEFAULT_EXCLUDE = ("k8s.gcr.io/*",)  # fluxd's default --registry-exclude-image

_log = log.get("registry")


@dataclass(frozen=True)
class RepoScan:
    """The outcome of scanning one repository."""

    name: str
    entry: RepoEntry
    new_tags: tuple[str, ...]  # listed now, not listed by the previous scan
    fetched: int  # tags read or re-checked by this scan
    error: str | None = None

    @property
    def images(self) -> Mapping[str, TagEntry]:
        return self.entry.images


def glob_match(pattern: str, subject: str) -> bool:
    """ryanuber/go-glob's `Glob`: `*` matches any run of characters, nothing else is special."""
    if "*" not in pattern:
        return subject == pattern
    first, *middle, last = pattern.split("*")
    if not subject.startswith(first) or len(subject) < len(first) + len(last):
        return False
    pos = len(first)
    for part in middle:
        found = subject.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    return subject.endswith(last) and len(subject) - len(last) >= pos


def wanted(repo: Reference | str, *, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether fluxd would scan `repo`: matching an `include` glob (or there are none)
    and no `exclude` glob."""
    ref = repo if isinstance(repo, Reference) else parse(repo)
    names = [ref.name]
    if ref.registry == DOCKER_HUB:
        names.append(f"index.docker.io/{ref.repository}")

    def matches(patterns: Sequence[str]) -> bool:
        return any(glob_match(p, n) for p in patterns for n in names)

    return (not include or matches(include)) and not matches(exclude)


def _jitter() -> float:
    return random.uniform(-cache.JITTER, cache.JITTER)  # noqa: S311


class Scanner:
    def __init__(
        self,
        client: RegistryClient,
        tag_cache: TagCache | None = None,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        concurrency: int = 4,
        tag_concurrency: int = 8,
        page_size: int | None = None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = _jitter,
    ) -> None:
        self.client = client
        self.cache = tag_cache if tag_cache is not None else TagCache()
        self.include, self.exclude = tuple(include), tuple(exclude)
        self._repos = asyncio.Semaphore(concurrency)
        self._tag_concurrency = tag_concurrency
        self._page_size = page_size
        self._clock, self._jitter = clock, jitter

    def wanted(self, repo: Reference | str) -> bool:
        return wanted(repo, include=self.include, exclude=self.exclude)

    async def scan(self, repos: Iterable[Reference | str]) -> dict[str, RepoScan]:
        """Scan each wanted repository once (tags and digests are ignored)."""
        unique: dict[str, Reference] = {}
        for repo in repos:
            ref = (repo if isinstance(repo, Reference) else parse(repo)).repo()
            if self.wanted(ref):
                unique.setdefault(ref.name, ref)
        results = await asyncio.gather(*(self._bounded(ref) for ref in unique.values()))
        return {r.name: r for r in results}

    async def _bounded(self, ref: Reference) -> RepoScan:
        async with self._repos:
            return await self.scan_repo(ref)

    async def scan_repo(self, repo: Reference | str) -> RepoScan:
        ref = (repo if isinstance(repo, Reference) else parse(repo)).repo()
        previous = self.cache.get(ref.name)
        try:
            tags = await self.client.tags(ref, page_size=self._page_size)
        except RegistryError as e:
            _log.error("requesting tags", image=ref.name, err=str(e))
            entry = (replace(previous, last_error=str(e)) if previous
                     else RepoEntry(last_error=str(e)))
            self.cache.put(ref.name, entry)
            return RepoScan(ref.name, entry, (), 0, str(e))

        todo = cache.plan(previous, tags, self._clock())
        if todo.requests_needed:
            _log.info("refreshing image", image=ref.name, tag_count=len(tags),
                      to_update=todo.requests_needed, of_which_refresh=len(todo.due),
                      of_which_missing=len(todo.missing))
        fetched: dict[str, TagEntry] = {}
        errors: list[str] = []
        old = previous.images if previous else {}
        gate = asyncio.Semaphore(self._tag_concurrency)

        limited = asyncio.Event()

        async def one(tag: str) -> None:
            async with gate:
                if limited.is_set():
                    return
                try:
                    fetched[tag] = await self._fetch(ref, tag, old.get(tag))
                except NotOnRegistry:
                    _log.warning(f"manifest for tag {tag} missing in repository {ref.name}",
                                 impact="images with this tag cannot be released; ask the "
                                 "repository administrator to fix the inconsistency")
                except RateLimited:
                    limited.set()  # before the gate opens for the next fetch
                    raise
                except RegistryError as e:
                    _log.error("fetching tag metadata", image=f"{ref.name}:{tag}", err=str(e))
                    errors.append(str(e))

        try:
            async with asyncio.TaskGroup() as group:
                for tag in (*todo.missing, *todo.due):
                    group.create_task(one(tag))
        except* RateLimited as group_error:
            message = str(group_error.exceptions[0])
            _log.warning("aborting image tag fetching due to rate limiting, will try again "
                         "later", image=ref.name, err=message)
            errors.insert(0, message)

        error = errors[0] if errors else None
        entry = cache.updated(previous, tags, fetched, now=self._clock(), error=error)
        self.cache.put(ref.name, entry)
        seen = set(previous.tags) if previous else set()
        new = tuple(t for t in entry.tags if t not in seen)
        return RepoScan(ref.name, entry, new, len(fetched), error)

    async def _fetch(self, ref: Reference, tag: str, previous: TagEntry | None) -> TagEntry:
        if previous is not None:
            head = await self.client.head_manifest(ref, tag)
            if head.digest == previous.info.digest:
                return cache.refreshed(previous, previous.info, now=self._clock(),
                                       jitter=self._jitter())
        info = await self.client.image_info(ref, tag)
        return cache.refreshed(previous, info, now=self._clock(), jitter=self._jitter())
