"""What the CD page and the release timeline show, read from the CD controller and CI.

`cd_page` gathers each source (its Git URL with any password shown as `***`, branch,
paths, state, synced revision, last sync and its error), each workload with its
containers' images, policy, automated/locked state and the newer tags its policy
allows (`Controller.images()`, the registry scan of `headwater list-images`), and the
recent releases. When the registries cannot be scanned the workloads are still shown
(from `Controller.workloads()`, without tags) with the scan's error, so lock and
unlock keep working while a registry is down. `timeline_page` joins one release with
the CI build that pushed its image (`web/timeline.py`).

No secret reaches a template: URLs go through `redact_url`, errors through the
source's token redaction, and nothing of a source's keys or files is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.cd.controller import Controller, WorkloadImages
from headwater.cd.nextimage import spelt
from headwater.cd.releases import ReleaseRecord
from headwater.cd.source import Source
from headwater.cd.verbs import ContainerImages, Located
from headwater.ci.service import CI
from headwater.errors import HeadwaterError
from headwater.gitrepo.errors import redact
from headwater.registry import InvalidReference, parse
from headwater.web.timeline import Hop, released_image, timeline

NEWER_SHOWN = 5  # newer tags listed per container
RELEASES_SHOWN = 20


@dataclass(frozen=True)
class Newer:
    tag: str
    image: str                  # the container's image at that tag, as the CLI's release takes


@dataclass(frozen=True)
class ContainerRow:
    name: str
    image: str
    policy: str                 # the tag pattern ("glob:*" when none)
    newer: tuple[Newer, ...]    # tags the policy allows that are newer, newest first
    more: int                   # newer tags not listed
    error: str                  # why no tags were read ("" when they were)


@dataclass(frozen=True)
class WorkloadRow:
    id: str                     # "namespace:kind/name"
    file: str
    automated: bool
    locked: bool
    locked_msg: str
    locked_user: str
    ignored: bool
    containers: tuple[ContainerRow, ...]


@dataclass(frozen=True)
class SourceRow:
    name: str
    url: str                    # redacted
    branch: str
    paths: tuple[str, ...]
    state: str | None           # Ready, Failed, Stalled; None before the first sync
    revision: str               # checked out
    synced: str                 # the last revision synced well
    last_ok: bool | None
    last_reason: str
    last_error: str             # the last sync's message when it failed, redacted
    fetch_error: str            # the last poll's `git fetch` failed: why, redacted
    automation_error: str       # the last image automation round failed: why, redacted
    workloads: tuple[WorkloadRow, ...]
    scan_error: str             # the registries could not be scanned: why


@dataclass(frozen=True)
class CDPage:
    sources: tuple[SourceRow, ...]
    releases: tuple[ReleaseRecord, ...]
    releases_error: str


def newer_tags(c: ContainerImages, limit: int = NEWER_SHOWN) -> tuple[tuple[Newer, ...], int]:
    """The tags ranked above the current one (all ranked tags when the current one is
    not among them), the first `limit` of them and how many more there are."""
    tags = [t.tag for t in c.tags]
    newer = tags[:tags.index(c.current)] if c.current in tags else tags
    try:
        ref = parse(c.image)
        shown = tuple(Newer(t, spelt(c.image, ref.with_tag(t))) for t in newer[:limit])
    except InvalidReference:  # `c.error` says so already
        return (), 0
    return shown, max(0, len(newer) - limit)


def _container_rows(containers: tuple[ContainerImages, ...],
                    secrets: list[str]) -> tuple[ContainerRow, ...]:
    rows = []
    for c in containers:
        newer, more = newer_tags(c)
        rows.append(ContainerRow(c.container, c.image, c.pattern, newer, more,
                                 redact(c.error or "", secrets)))
    return tuple(rows)


def _from_images(w: WorkloadImages, secrets: list[str]) -> WorkloadRow:
    return WorkloadRow(w.workload, w.file, w.automated, w.locked, w.locked_msg,
                       w.locked_user, w.ignored, _container_rows(w.containers, secrets))


def _from_located(loc: Located) -> WorkloadRow:
    w = loc.workload
    return WorkloadRow(loc.id, loc.file, w.automated, w.locked, w.locked_msg or "",
                       w.locked_user or "", w.ignored,
                       tuple(ContainerRow(c.name, c.image, w.tag_pattern(c.name), (), 0, "")
                             for c in w.containers))


def _secrets(source: Source) -> list[str]:
    return [s for s in (source.git_token,) if s]


async def cd_page(cd: Controller | None) -> CDPage:
    if cd is None or not cd.loops:
        return CDPage((), (), "")
    scan_error = ""
    try:
        images: dict[str, tuple[WorkloadRow, ...]] = {
            found.source: tuple(_from_images(w, _secrets(cd.loops[found.source]
                                                         .syncer.source))
                                for w in found.workloads)
            for found in await cd.images()}
    except HeadwaterError as e:  # a registry or a manifest: show what Git says
        scan_error = str(e)
        images = {found.source: tuple(_from_located(loc) for loc in found.workloads)
                  for found in await cd.workloads()}
    rows = []
    for s in cd.status():
        name, last = s["source"], s["last"]
        secrets = _secrets(cd.loops[name].syncer.source)
        rows.append(SourceRow(
            name, s["url"], s["branch"], tuple(s["paths"]), s["state"], s["revision"],
            s["synced"], last["ok"] if last else None, last["reason"] if last else "",
            redact(last["message"], secrets) if last and not last["ok"] else "",
            redact(s["fetch_error"], secrets), redact(s["automation_error"], secrets),
            images.get(name, ()), redact(scan_error, secrets)))
    releases_error = ""
    try:
        releases = tuple(await cd.releases(limit=RELEASES_SHOWN))
    except HeadwaterError as e:
        releases, releases_error = (), str(e)
    return CDPage(tuple(rows), releases, releases_error)


@dataclass(frozen=True)
class TimelinePage:
    release: ReleaseRecord
    image: str | None
    hops: list[Hop]


async def timeline_page(cd: Controller, ci: CI, source: str, commit: str) -> TimelinePage:
    release = await cd.release_record(source, commit)
    image = released_image(release)
    provenance = await ci.image_provenance(image) if image else None
    return TimelinePage(release, image, timeline(release, provenance))
