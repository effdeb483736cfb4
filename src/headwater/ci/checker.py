"""The checker: asks every resource for new versions, on its `check_every` or at once.

Like Concourse's lidar: one loop wakes every `tick` seconds, checks the resources
whose interval has passed (at most `concurrency` at a time), stores the versions in
the order the type gave them and records the error of a failed check on the
resource, with the pipeline's var values redacted (it carries the script's output).
A webhook or `check-resource` checks one resource now. New versions wake the
scheduler. A check that fails is the user's problem (bad source, unreachable repo):
it is recorded and retried at the next interval, never in a tight loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from headwater import log as hwlog
from headwater.ci.config.cache import ConfigCache
from headwater.ci.config.compile import resource_for_check
from headwater.ci.metrics import CIMetrics
from headwater.ci.plan import ResourceTypeRef
from headwater.ci.resources.base import ResourceError, Version
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.vars import Redactor
from headwater.durations import format_duration, parse_duration
from headwater.store import Pipeline, Resource, Store

DEFAULT_CHECK_EVERY = 60.0  # Concourse's default, one minute
DEFAULT_CHECK_TIMEOUT = 3600.0  # Concourse's default, one hour

_log = hwlog.get("checker")


class Checker:
    def __init__(self, store: Store, *, types: ResourceTypes, on_new_versions: Callable[[], None],
                 tick: float = 10.0, concurrency: int = 32,
                 check_timeout: float = DEFAULT_CHECK_TIMEOUT,
                 metrics: CIMetrics | None = None) -> None:
        self._store = store
        self._metrics = metrics
        self._types = types
        self._on_new = on_new_versions
        self._tick = tick
        self._check_timeout = check_timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._inflight: dict[int, asyncio.Task[int]] = {}
        self._configs = ConfigCache()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.check_due()
            except Exception:  # keep checking; the next tick retries
                _log.exception("check round failed")
            await asyncio.sleep(self._tick)

    async def check_due(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        due = []
        for pipeline, resource in await self._store.resources_to_check():
            every = resource.check_every
            if every is None:
                continue
            last = resource.last_checked.timestamp() if resource.last_checked else 0.0
            if now - last >= every:
                due.append((pipeline, resource))
        if due:
            # One query for the versions every check starts from, not one per check.
            latest = await self._store.latest_versions([r.id for _, r in due])
            await asyncio.gather(*(self.check(r, pipeline=p, after=latest.get(r.id))
                                   for p, r in due), return_exceptions=True)

    async def check(self, resource: Resource, *, from_version: Version | None = None,
                    pipeline: Pipeline | None = None, after: Version | None = None) -> int:
        """Check one resource now; the number of new versions. A check of the same
        resource already running is joined rather than started twice.
        `from_version`: check from there (`check-resource --from`); else, as Concourse,
        from the pinned version of a pinned resource (so that version is stored); else
        from `after` when the caller read the newest version already, else from the
        newest stored. `pipeline`: the resource's, when the caller has it."""
        start = next((v for v in (from_version, resource.pin, after) if v is not None), None)
        task = self._inflight.get(resource.id)
        if task is None or from_version is not None:
            task = asyncio.ensure_future(self._check(
                resource, start, pipeline, known=start is not None or after is not None))
            self._inflight[resource.id] = task
            task.add_done_callback(lambda _: self._inflight.pop(resource.id, None))
        return await asyncio.shield(task)

    async def _check(self, resource: Resource, from_version: Version | None,
                     pipeline: Pipeline | None, *, known: bool) -> int:
        async with self._limit:
            lines: list[str] = []

            async def log(text: str) -> None:
                lines.append(text)

            if not known:
                latest = await self._store.versions(resource.id, limit=1)
                from_version = latest[0].version if latest else None
            timeout = _check_timeout(resource.config, self._check_timeout)
            if pipeline is None:
                pipeline = await self._store.pipeline_by_id(resource.pipeline_id)
            # A check's error carries the script's output: the pipeline's var values
            # are hidden from it, as from build logs, before it is stored or logged.
            redactor = Redactor(pipeline.redact if pipeline else ())
            started = time.monotonic()
            try:
                source, chain = self._resolve(resource, pipeline)
                rtype = self._types.resolve(resource.type, chain)
                async with asyncio.timeout(timeout):
                    versions = await rtype.check(source, from_version, log=log)
            except (ResourceError, TimeoutError) as e:
                message = redactor.redact(_timed_out(resource.name, timeout)
                                          if isinstance(e, TimeoutError) else str(e))
                await self._store.record_check(resource.id, error=message)
                _log.warning("check failed", resource=resource.name, error=message)
                self._observe("failed", started)
                return 0
            except Exception as e:  # a bug of ours: shown on the resource, not swallowed
                message = redactor.redact(f"headwater error: {type(e).__name__}: {e}")
                _log.error("check broke", resource=resource.name, error=message)
                await self._store.record_check(resource.id, error=message)
                self._observe("errored", started)
                return 0
            self._observe("succeeded", started)
            new = await self._store.save_versions(resource.id, versions, checked=True)
        if new:
            _log.info("new versions", resource=resource.name, count=new)
            self._on_new()
        return new

    def _observe(self, result: str, started: float) -> None:
        if self._metrics is not None:
            self._metrics.check_finished(result, time.monotonic() - started)

    def _resolve(self, resource: Resource, pipeline: Pipeline | None,
                 ) -> tuple[dict[str, Any], list[ResourceTypeRef]]:
        if pipeline is None:
            return dict(resource.source), []
        config = self._configs.get(pipeline.id, pipeline.version, pipeline.config)
        return resource_for_check(config, resource.name)


def _check_timeout(config: dict[str, Any], default: float) -> float:
    raw = config.get("check_timeout")
    return parse_duration(raw) if isinstance(raw, str) else default


def _timed_out(resource: str, timeout: float) -> str:
    return (f"check of resource {resource!r} timed out after {format_duration(timeout)} and "
            "its script was stopped (the resource's check_timeout, or the server's "
            "--global-resource-check-timeout)")
