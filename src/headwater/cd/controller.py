"""The CD controller: one loop per source, polling Git and syncing on a timer.

Each loop wakes for the first of: its Git poll (fetch; sync when the revision moved),
its sync interval (sync again: this is what resets drift), or a request (`headwater
sync`), which fetches and syncs at once and hands the result back. A failed sync is
retried at the next poll or interval, except one that failed with a user error
(`SyncResult.stalled`: a manifest that does not render, ...): syncing that revision
again fails the same way, so the loop is Stalled (Flux's word) and neither timer syncs
it until a new revision arrives; a request still does. `status()` says so.

The controller is the CD service the web routes call (`web/routes/cd.py`): `sync`
(wait for the results), `sync_later` (the request is queued, the task kept here until
done), `status` and `workloads`; an unknown source name is an `UnknownSource` (404).
Reading the working copy (`workloads`) is a request too, served by the loop between
its syncs, so it never sees the tree while a fetch or an automation commit moves it.
So are the workload actions (`act`: automate/deautomate/lock/unlock, `release`): the
CLI's verbs (`verbs.py`) commit and push on that working copy between syncs, then ask
for a sync. `images` scans the tags of the workloads read so with the controller's
registry scanner. `releases` lists release commits from each source's Git history
(`releases.py`) with the sync marks the loop records for every sync and the rollout
marks of `rollouts.py`.

An image automation round fetches the branch, commits and pushes: the sync after it
takes the working copy as the round left it (no second fetch). A push hook's request
for the revision synced last (the release commit coming back) is answered by that sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from headwater.cd import reasons, verbs
from headwater.cd.automation import Automator
from headwater.cd.metrics import SyncMetrics
from headwater.cd.releases import (
    WINDOW,
    History,
    ReleaseRecord,
    SyncMark,
    UnknownRelease,
    covering_sync,
)
from headwater.cd.rollouts import Rollouts
from headwater.cd.sync import Syncer, SyncResult
from headwater.cd.verbs import ContainerImages, Located, all_workloads
from headwater.errors import UserError
from headwater.gitrepo import Checkout, GitError, redact_url
from headwater.registry import RegistryError, Scanner

ACTIONS: dict[str, Callable[..., Awaitable[str | None]]] = {
    "automate": verbs.automate, "deautomate": verbs.deautomate,
    "lock": verbs.lock, "unlock": verbs.unlock}
SYNC_MARKS = 200  # sync marks kept per source
T = TypeVar("T")


def due(timer: Literal["poll", "interval"], *, revision: str, before: str, synced: str,
        stalled: str) -> bool:
    """Whether a timer syncs `revision` (just fetched; `before` was checked out before the
    fetch, `synced` last synced well, `stalled` failed with a user error)."""
    if revision == stalled:
        return False  # the same commit fails the same way: wait for the next one
    if timer == "poll":
        return revision != before or revision != synced
    return True  # the sync interval: correct drift, retry what may pass now


def already_synced(revisions: list[str], *, synced: str, scan: bool) -> bool:
    """Whether the last sync answers a request: it asks no scan, and each push it stands
    for named its revision and that is the revision synced last (the release commit
    image automation pushed and synced at once, whose push hook comes back)."""
    return not scan and bool(revisions) and all(r and r == synced for r in revisions)


class UnknownSource(UserError):
    """A request names a source the controller does not have (404)."""


class UnknownAction(UserError):
    """A request names a workload action that does not exist (400)."""


class ReadOnlySource(UserError):
    """A workload action on a source with `git-readonly`: nothing is committed (409)."""


@dataclass
class _Request:
    done: asyncio.Future[SyncResult]
    scan: bool = False  # scan registries and release first (on-demand automation)
    revisions: list[str] = field(default_factory=list)  # pushed, per ask ("": unknown)


@dataclass
class _Read:
    """Work on the working copy, done by the loop between syncs (nothing moves it)."""
    work: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any]


@dataclass(frozen=True)
class SourceWorkloads:
    source: str
    revision: str  # the revision checked out ("" before the first fetch)
    workloads: list[Located]


@dataclass(frozen=True)
class WorkloadImages:
    """One workload's policy and each container's image with the tags its policy allows
    (`headwater list-images --json`'s rows, grouped by workload)."""

    workload: str          # "namespace:kind/name"
    file: str              # the manifest file, relative to the repository root
    automated: bool
    locked: bool
    locked_msg: str
    locked_user: str
    ignored: bool
    containers: tuple[ContainerImages, ...]

    def to_json(self) -> dict[str, Any]:
        return {"workload": self.workload, "file": self.file, "automated": self.automated,
                "locked": self.locked, "locked_msg": self.locked_msg,
                "locked_user": self.locked_user, "ignore": self.ignored,
                "containers": [c.to_json() for c in self.containers]}


@dataclass(frozen=True)
class SourceImages:
    source: str
    revision: str          # the revision checked out ("" before the first fetch)
    workloads: tuple[WorkloadImages, ...]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "revision": self.revision,
                "workloads": [w.to_json() for w in self.workloads]}


@dataclass
class SourceLoop:
    syncer: Syncer
    metrics: SyncMetrics
    log: Any
    automator: Automator | None = None
    rollouts: Rollouts | None = None  # None: rollouts are not watched (no cluster)
    marks: deque[SyncMark] = field(default_factory=lambda: deque(maxlen=SYNC_MARKS))
    last: SyncResult | None = None
    stalled: str = ""  # the revision that failed with a user error, until another syncs
    # Failures outside a sync, kept until the next success: the status says them (a
    # source that cannot fetch must not look like one not synced yet). Redacted by git.
    fetch_error: str = ""
    automation_error: str = ""
    _requests: asyncio.Queue[_Request | _Read] = field(default_factory=asyncio.Queue)
    _waiting: _Request | None = None  # queued and not taken yet: later asks join it
    history: History = field(init=False)

    def __post_init__(self) -> None:
        checkout, src = self.syncer.checkout, self.syncer.source
        self.history = History(checkout.path, f"refs/remotes/origin/{checkout.branch}",
                               tuple(src.paths), timeout=src.git_timeout,
                               limits=self.syncer.yaml_limits)

    async def request(self, *, scan: bool = False) -> SyncResult:
        """Fetch and sync now (after an image automation round with `scan`)."""
        return await self.ask(scan=scan)

    def ask(self, *, scan: bool = False, revision: str = "") -> asyncio.Future[SyncResult]:
        """Queue a sync (`request`) without waiting for it; an ask while one is queued
        and not started joins it (a burst of webhooks is one sync). `revision`: the
        commit a push hook announced; when it is the one synced last, nothing is done."""
        waiting = self._waiting
        if waiting is not None and (waiting.scan or not scan):
            waiting.revisions.append(revision)
            return waiting.done
        req = _Request(asyncio.get_running_loop().create_future(), scan, [revision])
        self._waiting = req
        self._requests.put_nowait(req)
        return req.done

    async def workloads(self) -> SourceWorkloads:
        """The workloads in the working copy at the revision checked out, read by the
        loop between its syncs."""
        checkout, paths = self.syncer.checkout, self.syncer.source.paths

        async def read() -> SourceWorkloads:
            found = (await asyncio.to_thread(all_workloads, checkout.path, paths)
                     if self.syncer.revision else [])
            return SourceWorkloads(self.syncer.source.name, self.syncer.revision, found)

        return await self.between_syncs(read)

    async def between_syncs(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` in the loop, between its syncs and automation rounds: nothing
        else moves the working copy meanwhile. Its exception is raised here."""
        req = _Read(work, asyncio.get_running_loop().create_future())
        await self._requests.put(req)
        result: T = await req.done
        return result

    async def commit(self, verb: Callable[[Checkout], Awaitable[str | None]]) -> str | None:
        """A verb's commit on the working copy (fluxctl's, with the source's checkout),
        between syncs; the sync of the pushed revision is asked for at once."""

        async def work() -> str | None:
            try:
                return await verb(self.syncer.checkout)
            finally:  # the verb fetched: the revision to sync is what is checked out now
                if (self.syncer.checkout.path / ".git").is_dir():
                    with contextlib.suppress(GitError):
                        await self.syncer.adopt_head()

        revision = await self.between_syncs(work)
        if revision:
            self.ask(revision=revision)
        return revision

    async def sync_once(self, *, fetch: bool = True) -> SyncResult:
        started = datetime.now(UTC)
        result = await self.syncer.sync(fetch=fetch)
        if result.revision:
            mark = SyncMark(result.revision, started, datetime.now(UTC), result.ok,
                            "" if result.ok else result.message)
            self.marks.append(mark)
            if result.ok and self.rollouts is not None:
                self.rollouts.watch(mark, result.applied)
        self.metrics.observe(result)
        self.last = result
        if result.stalled:
            self.stalled = result.revision
        elif result.revision:  # a revision got through, or failed for another reason
            self.stalled = ""
        return result

    async def _answer(self, req: _Request) -> None:
        """Sync for an ask (after an automation round when it asked to scan)."""
        if req is self._waiting:
            self._waiting = None  # taken: a new ask queues a new sync
        if self.last is not None and already_synced(req.revisions, synced=self.syncer.synced,
                                                     scan=req.scan):
            if not req.done.done():
                req.done.set_result(self.last)
            return
        fresh = False
        if req.scan and self.automator:
            fresh, _ = await self._automate()
        if fresh:  # the round just fetched (and pushed its release): no second fetch
            await self.syncer.adopt_head()
        result = await self.sync_once(fetch=not fresh)
        if not req.done.done():
            req.done.set_result(result)

    async def run(self) -> None:
        src = self.syncer.source
        next_poll = next_sync = 0.0
        next_scan = 0.0 if self.automator else float("inf")
        while True:
            now = time.monotonic()
            wait = max(0.0, min(next_poll, next_sync, next_scan) - now)
            req: _Request | _Read | None = None
            with contextlib.suppress(TimeoutError):
                req = await asyncio.wait_for(self._requests.get(), timeout=wait)
            now = time.monotonic()
            if isinstance(req, _Read):
                await _serve(req)
            elif req is not None:
                await self._answer(req)
                next_poll, next_sync = now + src.git_poll_interval, now + src.sync_interval
            elif now >= next_poll:
                next_poll = now + src.git_poll_interval
                before = self.syncer.revision
                try:
                    revision = await self.syncer.fetch()
                except GitError as e:  # reported; retried at the next poll
                    self.log.warning("git fetch failed", source=src.name, err=str(e))
                    self.fetch_error = str(e)
                    continue
                self.fetch_error = ""
                if due("poll", revision=revision, before=before,
                       synced=self.syncer.synced, stalled=self.stalled):
                    await self.sync_once(fetch=False)
                    next_sync = time.monotonic() + src.sync_interval
            elif now >= next_sync:
                if due("interval", revision=self.syncer.revision, before=self.syncer.revision,
                       synced=self.syncer.synced, stalled=self.stalled):
                    await self.sync_once(fetch=False)
                next_sync = time.monotonic() + src.sync_interval
            elif now >= next_scan and self.automator:
                next_scan = now + src.registry_poll_interval
                _, released = await self._automate()
                if released:  # apply the release at once: the round left it checked out
                    await self.syncer.adopt_head()
                    await self.sync_once(fetch=False)
                    next_sync = time.monotonic() + src.sync_interval

    def state(self) -> str | None:
        if self.last is None:
            return None
        if self.stalled:
            return reasons.STALLED
        return reasons.READY if self.last.ok else reasons.FAILED

    async def _automate(self) -> tuple[bool, str | None]:
        """One round of image automation: whether it ran through (the working copy is at
        the branch head it fetched, or at the release it pushed), and the release's
        revision. Errors are logged and retried next round."""
        assert self.automator is not None
        try:
            revision = await self.automator.run_once()
        except (GitError, RegistryError, OSError, UserError) as e:
            self.log.warning("image automation failed", source=self.syncer.source.name,
                             err=str(e))
            self.automation_error = str(e)
            return False, None
        self.automation_error = ""
        if revision:
            self.metrics.released(self.syncer.source.name)
        return True, revision


async def _releases(loop: SourceLoop, limit: int) -> list[ReleaseRecord]:
    """One source's release records with the marks its loop recorded."""
    found = await loop.history.releases(limit)
    marks = list(loop.marks)
    graph = await loop.history.graph() if marks and found else {}
    out = []
    reach: dict[str, frozenset[str]] = {}  # each synced revision's ancestors, once
    for commit, changes in found:
        synced = covering_sync(commit.sha, marks, graph, reach=reach) if marks else None
        ready = (loop.rollouts.ready(synced, [c.workload for c in changes])
                 if synced is not None and synced.ok and loop.rollouts is not None else None)
        out.append(ReleaseRecord(loop.syncer.source.name, commit.sha, commit.committed_at,
                                 commit.author, commit.subject, commit.automated, changes,
                                 synced, ready))
    return out


async def _serve(req: _Read) -> None:
    try:
        result = await req.work()
    except Exception as e:  # handed to the caller, the loop goes on
        if not req.done.done():
            req.done.set_exception(e)
        return
    if not req.done.done():
        req.done.set_result(result)


class Controller:
    def __init__(self, loops: list[SourceLoop], metrics: SyncMetrics, *,
                 scanner: Scanner | None = None) -> None:
        self.loops = {loop.syncer.source.name: loop for loop in loops}
        self.metrics = metrics
        self.scanner = scanner  # the registry scanner of `images` and `release`
        # Syncs asked for without waiting: referenced here until done, so none is collected.
        self._background: set[asyncio.Task[list[SyncResult]]] = set()

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for loop in self.loops.values():
                    tg.create_task(loop.run(), name=f"source {loop.syncer.source.name}")
        finally:
            for loop in self.loops.values():
                if loop.rollouts is not None:
                    await loop.rollouts.close()

    async def sync(self, source: str | None = None, *, scan: bool = False
                   ) -> list[SyncResult]:
        """Sync one source (or all) now and return the results; with `scan`, run image
        automation first (registries scanned now, releases committed)."""
        self._known(source)
        chosen = [self.loops[source]] if source else list(self.loops.values())
        return list(await asyncio.gather(*(loop.request(scan=scan) for loop in chosen)))

    def sync_later(self, source: str | None = None, *, scan: bool = False) -> None:
        """`sync` in the background (the request's answer does not wait for it)."""
        self._known(source)
        task = asyncio.create_task(self.sync(source, scan=scan))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def workloads(self, source: str | None = None) -> list[SourceWorkloads]:
        """Each source's workloads (or one source's) at the revision it has."""
        self._known(source)
        chosen = [self.loops[source]] if source else list(self.loops.values())
        return list(await asyncio.gather(*(loop.workloads() for loop in chosen)))

    async def releases(self, source: str | None = None, *, limit: int = 50
                       ) -> list[ReleaseRecord]:
        """Release commits, newest first (at most `limit` per source and in all): read
        from each source's Git history, with the sync and rollout marks this process
        recorded (None for releases before it started)."""
        self._known(source)
        found = await asyncio.gather(*(_releases(loop, limit) for loop in self._chosen(source)))
        every = [r for records in found for r in records]
        return sorted(every, key=lambda r: r.committed_at, reverse=True)[:max(0, limit)]

    async def release_record(self, source: str, commit: str) -> ReleaseRecord:
        """One release of `source` by its commit (full sha or a prefix of 7 or more);
        `UnknownRelease` (404) when the recent history has no such release."""
        self._known(source)
        wanted = commit.lower()
        if len(wanted) >= 7 and all(c in "0123456789abcdef" for c in wanted):
            for record in await _releases(self.loops[source], WINDOW):
                if record.commit.startswith(wanted):
                    return record
        raise UnknownRelease(
            f"source {source!r} has no release commit {commit!r} among its last {WINDOW} "
            f"commits under {', '.join(self.loops[source].syncer.source.paths)} (a release "
            "commit changes a container's image); list them with GET /api/v1/cd/releases")

    async def images(self, source: str | None = None) -> list[SourceImages]:
        """Each source's workloads with their containers' images, policies and the tags
        their policies allow (scanned with the controller's scanner, as
        `headwater list-images`)."""
        self._known(source)
        out = []
        for found in await self.workloads(source):
            off = self.loops[found.source].syncer.source.registry_disable_scanning
            if self.scanner is not None and not off:
                rows = await verbs.images_of(found.workloads, self.scanner)
            else:
                rows = [ContainerImages(loc.id, c.name, c.image,
                                        loc.workload.tag_pattern(c.name), None, (),
                                        "registry scanning is off for this source")
                        for loc in found.workloads for c in loc.workload.containers]
            out.append(SourceImages(found.source, found.revision, tuple(
                WorkloadImages(loc.id, loc.file, loc.workload.automated,
                               loc.workload.locked, loc.workload.locked_msg or "",
                               loc.workload.locked_user or "", loc.workload.ignored,
                               tuple(r for r in rows if r.workload == loc.id))
                for loc in found.workloads)))
        return out

    async def act(self, source: str, workload: str, action: str, *,
                  user: str | None = None, message: str | None = None) -> str | None:
        """`action` (automate, deautomate, lock, unlock) on `workload` of `source`, the
        CLI's verb and commit, serialized with the source's loop; the pushed revision
        (None: nothing to change). A sync is asked for after a commit."""
        self._writable(source)
        if action not in ACTIONS:
            raise UnknownAction(f"no workload action {action!r}; actions: "
                                f"{', '.join(ACTIONS)}, release")
        loop = self.loops[source]
        paths, author = loop.syncer.source.paths, self._author(source, user)
        call = ACTIONS[action]
        return await loop.commit(lambda checkout: call(checkout, paths, workload,
                                                       message=message, author=author))

    async def release(self, source: str, workload: str, *, image: str | None = None,
                      update_all: bool = False, force: bool = False,
                      user: str | None = None, message: str | None = None) -> str | None:
        """The CLI's `release` (`image` IMAGE:TAG, or `update_all`: each container to the
        newest tag its policy allows); the pushed revision or None, then a sync."""
        self._writable(source)
        if (image is None) == (not update_all):
            raise verbs.VerbError("give one of image (IMAGE:TAG) or update_all")
        if update_all and self.scanner is None:
            raise verbs.VerbError("release of all latest images needs registry scanning, "
                                  "which is off")
        loop = self.loops[source]
        paths, author = loop.syncer.source.paths, self._author(source, user)
        scanner = self.scanner if update_all else None

        async def call(checkout: Checkout) -> str | None:
            revision, _ = await verbs.release(checkout, paths, workload, image=image,
                                              scanner=scanner, force=force,
                                              message=message, author=author)
            return revision

        return await loop.commit(call)

    def _writable(self, source: str) -> None:
        self._known(source)
        if self.loops[source].syncer.source.git_readonly:
            raise ReadOnlySource(f"source {source!r} is read-only (git-readonly): headwater "
                                 "commits nothing to its repository; change the manifests "
                                 "in Git, or drop git-readonly from the source")

    def _author(self, source: str, user: str | None) -> verbs.Author | None:
        """fluxctl's `--user`: `Name <email>`, or a name with the source's git email."""
        return verbs.parse_author(user, self.loops[source].syncer.source.git_email) \
            if user else None

    def _chosen(self, source: str | None) -> list[SourceLoop]:
        return [self.loops[source]] if source else list(self.loops.values())

    def _known(self, source: str | None) -> None:
        if source is not None and source not in self.loops:
            raise UnknownSource(f"no source {source!r}; sources: "
                                f"{', '.join(self.loops) or 'none'}")

    def status(self) -> list[dict[str, Any]]:
        """Each source's state (Ready, Failed, Stalled: the last sync failed with a user
        error and waits for a new commit; None before the first sync), last result, and
        the last poll's fetch and automation round's failures ("" when they went well),
        and where it reads: its URL (credentials as ***), branch, paths, the revision
        checked out and the one synced last ("" before)."""
        return [{"source": name, "state": loop.state(),
                 "last": loop.last.to_json() if loop.last else None,
                 "fetch_error": loop.fetch_error, "automation_error": loop.automation_error,
                 "url": redact_url(loop.syncer.source.git_url),
                 "branch": loop.syncer.source.git_branch,
                 "paths": list(loop.syncer.source.paths),
                 "revision": loop.syncer.revision, "synced": loop.syncer.synced}
                for name, loop in self.loops.items()]
