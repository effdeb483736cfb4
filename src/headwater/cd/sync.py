"""One sync of one source: a straight line of named steps, as Flux's reconcilers.

fetch (git) -> render (YAML, kustomize) -> apply (plan, dry run, write) -> inventory ->
prune -> inventory -> health -> status (move the sync tag). Each failing step ends the
sync with its reason constant and a message a person can act on; nothing after it
runs, so a failed or partial apply never prunes. A step that failed with a `UserError`
(headwater/errors.py: a mistake in Git, e.g. a manifest that does not render) marks
the result `stalled`: syncing the same revision again fails the same way, and the
controller waits for the next commit (Flux's Stalled). The inventory is written before the
prune with every object still to prune and after it without those deleted or gone
(kube/inventory.py): a crash or a failed DELETE in between loses nothing. The result
is reported once, at the end, from the change sets of the apply and the prune
(kube/changeset.py): the result's counts, its JSON, the metrics and the log lines all
read those.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater import yamlload
from headwater.cd import reasons
from headwater.cd.render import RenderFailed, render
from headwater.cd.source import Source
from headwater.errors import UserError
from headwater.gitrepo import Checkout, GitAuth, GitError
from headwater.kube import changeset, health, inventory, prune
from headwater.kube.apply import (
    Applier,
    ApplyFailed,
    ApplyResult,
    Desired,
    WaitFailed,
    WriteFailed,
)
from headwater.kube.changeset import Action, Change
from headwater.kube.client import Kube
from headwater.kube.discovery import Discovery
from headwater.kube.errors import ApiError
from headwater.kube.objects import ObjId


@dataclass
class SyncResult:
    source: str
    revision: str = ""
    reason: str = reasons.SUCCEEDED
    message: str = ""
    apply_changes: list[Change] = field(default_factory=list)  # one per object in Git
    prune_changes: list[Change] = field(default_factory=list)  # one per prune candidate
    seconds: float = 0.0
    stalled: bool = False  # a user error: this revision fails again until Git changes

    @property
    def ok(self) -> bool:
        return self.reason == reasons.SUCCEEDED

    @property
    def changes(self) -> list[Change]:
        """The apply's changes, then the prune's."""
        return self.apply_changes + self.prune_changes

    @property
    def applied(self) -> list[ObjId]:
        """Created or configured."""
        return changeset.ids(self.apply_changes, *changeset.WRITES)

    @property
    def unchanged(self) -> int:
        """Objects of Git left as they were (skipped ones too: an ignore annotation)."""
        return changeset.count(self.apply_changes, Action.UNCHANGED, Action.SKIPPED)

    @property
    def pruned(self) -> list[ObjId]:
        """Deleted or, in dry mode, would be."""
        return changeset.ids(self.prune_changes, Action.DELETED)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "revision": self.revision, "ok": self.ok,
            "reason": self.reason, "message": self.message, "stalled": self.stalled,
            "applied": [str(i) for i in self.applied], "unchanged": self.unchanged,
            "pruned": [str(i) for i in self.pruned], "seconds": round(self.seconds, 3),
            # Every change but "unchanged" (counted above), with its action and reason.
            "changes": [c.to_json() for c in self.changes if c.action is not Action.UNCHANGED],
        }


class _Stop(Exception):
    """Ends a sync at the failing step (control flow inside `sync`, never escapes it);
    `cause` a UserError: the revision is stalled."""

    def __init__(self, reason: str, message: str, *, cause: BaseException | None = None
                 ) -> None:
        self.reason, self.message = reason, message
        self.stalled = isinstance(cause, UserError)


class Syncer:
    """Keeps one source's cluster objects equal to its Git path."""

    def __init__(self, source: Source, *, kube: Kube, discovery: Discovery, workdir: Path,
                 kubectl: str | None, inventory_namespace: str, log: Any,
                 yaml_limits: yamlload.Limits = yamlload.DEFAULT) -> None:
        self.source = source
        self.kube, self.discovery = kube, discovery
        self.kubectl = kubectl
        self.yaml_limits = yaml_limits
        self.inventory_namespace = inventory_namespace
        self.log = log.bind(source=source.name)
        self.checkout = Checkout(
            source.git_url, source.git_branch, workdir / source.name,
            auth=GitAuth(ssh_key=source.git_ssh_key, known_hosts=source.git_known_hosts,
                         token=source.git_token, ca_file=source.git_ca_file),
            timeout=source.git_timeout, user=source.git_user, email=source.git_email)
        self.applier = Applier(kube, discovery, source=source.name,
                               allow_namespaces=source.k8s_allow_namespace)
        self.revision = ""       # the revision checked out
        self.synced = ""         # the last revision synced successfully
        self._tagged = ""        # the revision the sync tag was last pushed to
        self._rendered: tuple[str, list[Desired]] | None = None  # per revision
        self._lock = asyncio.Lock()

    async def fetch(self) -> str:
        """Bring the working copy to the branch head; GitError if that fails."""
        self.revision = await self.checkout.sync()
        return self.revision

    async def adopt_head(self) -> str:
        """Take the revision the working copy has now (image automation just fetched
        and committed there) as the one to sync, without fetching again."""
        self.revision = await self.checkout.head()
        return self.revision

    async def sync(self, *, fetch: bool = True) -> SyncResult:
        async with self._lock:
            started = time.monotonic()
            result = SyncResult(self.source.name)
            try:
                await self._sync(result, fetch=fetch)
            except _Stop as stop:
                result.reason, result.message = stop.reason, stop.message
                result.stalled = stop.stalled
            result.seconds = time.monotonic() - started
            self._report(result)
            return result

    async def _sync(self, result: SyncResult, *, fetch: bool) -> None:
        if fetch or not self.revision:
            try:
                await self.fetch()
            except GitError as e:
                raise _Stop(reasons.ARTIFACT_FAILED, str(e)) from None
        result.revision = self.revision
        desired = await self._render()
        applied = await self._apply(desired)
        result.apply_changes = applied.changes
        ids = {c.id for c in applied.changes}
        previous = await self._load_inventory()
        # Everything not yet pruned stays in the inventory until a prune settles it.
        saved = await self._save_inventory(inventory.keep(previous, ids), previous)
        if self.source.sync_garbage_collection or self.source.sync_garbage_collection_dry:
            pruned = await self._prune(inventory.stale(previous, ids))
            result.prune_changes = pruned.changes
            await self._save_inventory(
                inventory.keep(previous, ids, settled=pruned.settled), saved)
            if pruned.failed:
                raise _Stop(reasons.PRUNE_FAILED, "\n".join(
                    f"{c.id}: {c.reason}" for c in pruned.failed)
                    + "\n(kept in the inventory: the next sync tries again)")
        if self.source.wait:
            await self._health([c.id for c in applied.changes])
        await self._status()
        self.synced = self.revision

    async def _render(self) -> list[Desired]:
        # A resync of the same revision (drift correction) reuses what Git rendered to.
        if self._rendered and self._rendered[0] == self.revision:
            return self._rendered[1]
        try:  # in a thread: reading big files and running kustomize never hold the loop
            manifests = await asyncio.to_thread(
                render, self.checkout.path, self.source.paths, kubectl=self.kubectl,
                limits=self.yaml_limits)
        except RenderFailed as e:
            raise _Stop(reasons.BUILD_FAILED, str(e), cause=e) from None
        desired = [Desired(m.obj, m.location) for m in manifests]
        self._rendered = (self.revision, desired)
        return desired

    async def _apply(self, desired: list[Desired]) -> ApplyResult:
        try:
            await self.discovery.refresh(self.kube)
            return await self.applier.apply(desired)
        except ApplyFailed as e:
            # Validation and dry run refuse Git's content; a write or a wait failing is
            # the cluster's doing.
            reason = (reasons.APPLY_FAILED if isinstance(e, WriteFailed | WaitFailed)
                      else reasons.VALIDATION_FAILED)
            raise _Stop(reason, str(e), cause=e) from None
        except ApiError as e:
            raise _Stop(reasons.APPLY_FAILED, f"{e.method} {e.path}: {e}") from None

    async def _load_inventory(self) -> inventory.Inventory | None:
        try:
            return await inventory.load(self.kube, self.inventory_namespace, self.source.name)
        except ApiError as e:
            raise _Stop(reasons.STATUS_FAILED, f"reading the inventory: {e}") from None

    async def _save_inventory(self, ids: frozenset[ObjId],
                              stored: inventory.Inventory | None) -> inventory.Inventory:
        current = inventory.Inventory(self.source.name, self.revision, ids)
        if current == stored:  # a no-op resync writes nothing
            return current
        try:
            await inventory.save(self.kube, self.inventory_namespace, current)
        except ApiError as e:
            raise _Stop(reasons.STATUS_FAILED, f"writing the inventory: {e}") from None
        return current

    async def _prune(self, candidates: list[ObjId]) -> prune.PruneResult:
        dry = self.source.sync_garbage_collection_dry and not self.source.sync_garbage_collection
        try:
            pruned = await prune.prune(self.kube, self.discovery, candidates,
                                       source=self.source.name, dry_run=dry)
        except ApiError as e:
            raise _Stop(reasons.PRUNE_FAILED, f"{e.method} {e.path}: {e}") from None
        for c in pruned.changes:
            if c.action is Action.SKIPPED:
                self.log.info("not deleting resource", resource=str(c.id), reason=c.reason)
            elif c.action is Action.DELETED:
                self.log.info("cluster resource not in resources to be synced; deleting",
                              resource=str(c.id), dry_run=dry)
            else:
                self.log.warning("deleting resource failed; kept for the next sync",
                                 resource=str(c.id), err=c.reason)
        return pruned

    async def _health(self, ids: list[ObjId]) -> None:
        problems = await health.wait_ready(self.kube, ids, timeout=self.source.wait_timeout)
        if problems:
            raise _Stop(reasons.HEALTH_CHECK_FAILED, "\n".join(problems))

    async def _status(self) -> None:
        if self.source.git_readonly or self._tagged == self.revision:
            return  # read-only: the inventory in the cluster holds the synced revision
        try:
            await self.checkout.move_tag(self.source.git_sync_tag, self.revision)
        except GitError as e:
            raise _Stop(reasons.STATUS_FAILED, f"moving the sync tag: {e}") from None
        self._tagged = self.revision

    def _report(self, result: SyncResult) -> None:
        short = result.revision[:7] or "<none>"
        for c in result.apply_changes:
            if c.action is Action.SKIPPED:  # Flux v1's line
                self.log.info("not applying resource", resource=str(c.id), reason=c.reason)
        if result.ok:
            changed = ", ".join(str(i) for i in result.applied)
            self.log.info(f"Sync: {short}" + (f", {changed}" if changed else ""),
                          applied=len(result.applied), unchanged=result.unchanged,
                          pruned=len(result.pruned), duration=round(result.seconds, 3))
        else:
            self.log.error("sync failed", revision=short, reason=result.reason,
                           stalled=result.stalled, err=result.message)
