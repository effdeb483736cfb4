"""Rollout marks: after a sync applied workloads, when each was rolled out.

A sync that created or configured Deployments, StatefulSets or DaemonSets starts one
background watch (`kube/health.py` `wait_ready`, the sync's own health check) that
records, per workload, when its rollout was complete or that it was not within the
timeout. A release's `ready` combines the marks of the workloads it changed
(`releases.combine`). Everything is bounded: the workloads one watch follows (each is
one GET a second: a first sync of hundreds of Deployments must not become hundreds of
requests a second), the watches running at once per source (the oldest is cancelled
for a new one) and the marks kept.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from headwater.cd.releases import ReadyMark, SyncMark, combine
from headwater.kube import health
from headwater.kube.client import Kube
from headwater.kube.errors import ApiError
from headwater.kube.objects import ObjId

MAX_WATCHED = 50  # workloads one sync's watch follows; the others get no mark


def watched(ids: Iterable[ObjId], limit: int = MAX_WATCHED) -> list[ObjId]:
    """The objects a rollout watch follows: apps workloads `wait_ready` knows, at most
    `limit` of them (in name order)."""
    return sorted({i for i in ids if i.group == "apps" and i.kind in health.WORKLOADS},
                  key=str)[:limit]


class Rollouts:
    """One source's rollout watches and their marks, keyed by sync and workload id."""

    def __init__(self, kube: Kube, *, timeout: float, log: Any, at_once: int = 4,
                 keep: int = 1000, interval: float = 1.0) -> None:
        self.kube, self.timeout, self.log = kube, timeout, log
        self.at_once, self.keep, self.interval = at_once, keep, interval
        self._marks: OrderedDict[tuple[SyncMark, str], ReadyMark] = OrderedDict()
        self._tasks: OrderedDict[SyncMark, asyncio.Task[None]] = OrderedDict()

    def watch(self, mark: SyncMark, applied: Iterable[ObjId]) -> None:
        """Watch the workloads a successful sync applied, in the background."""
        ids = watched(applied)
        if not ids:
            return
        while len(self._tasks) >= self.at_once:
            _, oldest = self._tasks.popitem(last=False)
            oldest.cancel()  # its workloads keep no mark: "not recorded"
        task = asyncio.create_task(self._watch(mark, ids), name=f"rollout {mark.revision[:7]}")
        self._tasks[mark] = task
        task.add_done_callback(lambda _: self._tasks.pop(mark, None))

    async def _watch(self, mark: SyncMark, ids: list[ObjId]) -> None:
        async def one(obj_id: ObjId) -> None:
            try:
                problems = await health.wait_ready(self.kube, [obj_id], timeout=self.timeout,
                                                   interval=self.interval)
            except ApiError as e:
                problems = [f"{obj_id}: {e}"]
            self._record(mark, str(obj_id),
                         ReadyMark(datetime.now(UTC), not problems, "\n".join(problems)))

        await asyncio.gather(*(one(i) for i in ids))

    def _record(self, mark: SyncMark, workload: str, ready: ReadyMark) -> None:
        self._marks[(mark, workload)] = ready
        while len(self._marks) > self.keep:
            self._marks.popitem(last=False)

    def ready(self, mark: SyncMark, workloads: Iterable[str]) -> ReadyMark | None:
        """The rollout of `workloads` after the sync `mark`; None while any is still
        watched or was never watched."""
        marks = [self._marks.get((mark, w)) for w in set(workloads)]
        if not marks or any(m is None for m in marks):
            return None
        return combine([m for m in marks if m is not None])

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
