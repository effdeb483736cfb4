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

An image automation round fetches the branch, commits and pushes: the sync after it
takes the working copy as the round left it (no second fetch). A push hook's request
for the revision synced last (the release commit coming back) is answered by that sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from headwater.cd import reasons
from headwater.cd.automation import Automator
from headwater.cd.metrics import SyncMetrics
from headwater.cd.releases import ReleaseRecord
from headwater.cd.sync import Syncer, SyncResult
from headwater.cd.verbs import ContainerImages, Located, all_workloads
from headwater.errors import UserError
from headwater.gitrepo import GitError
from headwater.registry import RegistryError


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


@dataclass(frozen=True)
class SourceImages:
    source: str
    revision: str          # the revision checked out ("" before the first fetch)
    workloads: tuple[WorkloadImages, ...]


@dataclass
class SourceLoop:
    syncer: Syncer
    metrics: SyncMetrics
    log: Any
    automator: Automator | None = None
    last: SyncResult | None = None
    stalled: str = ""  # the revision that failed with a user error, until another syncs
    _requests: asyncio.Queue[_Request | _Read] = field(default_factory=asyncio.Queue)
    _waiting: _Request | None = None  # queued and not taken yet: later asks join it

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

        req = _Read(read, asyncio.get_running_loop().create_future())
        await self._requests.put(req)
        result: SourceWorkloads = await req.done
        return result

    async def sync_once(self, *, fetch: bool = True) -> SyncResult:
        result = await self.syncer.sync(fetch=fetch)
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
                    continue
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
            return False, None
        if revision:
            self.metrics.released(self.syncer.source.name)
        return True, revision


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
    def __init__(self, loops: list[SourceLoop], metrics: SyncMetrics) -> None:
        self.loops = {loop.syncer.source.name: loop for loop in loops}
        self.metrics = metrics
        # Syncs asked for without waiting: referenced here until done, so none is collected.
        self._background: set[asyncio.Task[list[SyncResult]]] = set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for loop in self.loops.values():
                tg.create_task(loop.run(), name=f"source {loop.syncer.source.name}")

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
        raise NotImplementedError

    async def release_record(self, source: str, commit: str) -> ReleaseRecord:
        """One release of `source` by its commit (full sha or a unique prefix);
        `UnknownRelease` (404) when the recent history has no such release."""
        self._known(source)
        raise NotImplementedError

    async def images(self, source: str | None = None) -> list[SourceImages]:
        """Each source's workloads with their containers' images, policies and the tags
        their policies allow (scanned with the controller's scanner, as
        `headwater list-images`)."""
        self._known(source)
        raise NotImplementedError

    async def act(self, source: str, workload: str, action: str, *,
                  user: str | None = None, message: str | None = None) -> str | None:
        """`action` (automate, deautomate, lock, unlock) on `workload` of `source`, the
        CLI's verb and commit, serialized with the source's loop; the pushed revision
        (None: nothing to change). A sync is asked for after a commit."""
        self._known(source)
        raise NotImplementedError

    async def release(self, source: str, workload: str, *, image: str | None = None,
                      update_all: bool = False, force: bool = False,
                      user: str | None = None, message: str | None = None) -> str | None:
        """The CLI's `release` (`image` IMAGE:TAG, or `update_all`: each container to the
        newest tag its policy allows); the pushed revision or None, then a sync."""
        self._known(source)
        raise NotImplementedError

    def _known(self, source: str | None) -> None:
        if source is not None and source not in self.loops:
            raise UnknownSource(f"no source {source!r}; sources: "
                                f"{', '.join(self.loops) or 'none'}")

    def status(self) -> list[dict[str, Any]]:
        """Each source's state (Ready, Failed, Stalled: the last sync failed with a user
        error and waits for a new commit; None before the first sync) and last result."""
        return [{"source": name, "state": loop.state(),
                 "last": loop.last.to_json() if loop.last else None}
                for name, loop in self.loops.items()]
