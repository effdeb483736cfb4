"""Build events (Concourse's `build_events`): the log and progress of every build.

Each event gets `seq`, 1, 2, 3... per build, taken from the build's row
(`last_event_seq`) in the same transaction as the insert. The row lock makes a
build's events commit in `seq` order, so a reader streaming "everything after N"
(`events(after=N)`) never misses one that was numbered earlier but committed later.
Payloads are the JSON of Concourse's `atc/event` (see ci/build/delegate.py).

Old builds' events are pruned per the job's `build_log_retention` (the decision is
`retention.builds_to_reap`); the build rows stay, marked `reap_time`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from headwater.store.db import IN_CHUNK, Database, utcnow
from headwater.store.models import BuildStatus, Event
from headwater.store.retention import BuildSummary, builds_to_reap
from headwater.store.schema import build_events, builds


class EventsMixin:
    _db: Database

    async def add_event(self, build_id: int, type: str, payload: dict[str, Any]) -> int:
        """Append one event to the build's log; its sequence number."""
        async with self._db.write() as conn:
            return await append_events(conn, build_id, [(type, payload)])

    async def add_events(self, build_id: int,
                         events: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Append several events in one transaction; the last sequence number."""
        async with self._db.write() as conn:
            return await append_events(conn, build_id, events)

    async def events(self, build_id: int, *, after: int = 0,
                     limit: int | None = None, logs: bool = True) -> list[Event]:
        """The build's events with `seq > after`, in order; `logs=False` leaves the log
        output out (the progress of a build whose log is 100 MB, for the web UI)."""
        query = (sa.select(build_events)
                 .where(build_events.c.build_id == build_id, build_events.c.seq > after)
                 .order_by(build_events.c.seq).limit(limit))
        if not logs:
            query = query.where(build_events.c.type != "log")
        async with self._db.read() as conn:
            return [Event(seq=r.seq, type=r.type, payload=r.payload, time=r.time)
                    for r in await conn.execute(query)]

    async def prune_build_events(self, job_id: int, *, keep_builds: int | None,
                                 keep_days: int | None, min_succeeded: int = 0,
                                 now: datetime | None = None) -> int:
        """Delete the events of the job's builds the retention lets go (build rows
        stay, with `reap_time` set); how many builds were pruned."""
        now = now or utcnow()
        async with self._db.read() as conn:
            rows = await conn.execute(
                sa.select(builds.c.id, builds.c.status, builds.c.end_time)
                .where(builds.c.job_id == job_id, builds.c.reap_time.is_(None))
                .order_by(builds.c.id.desc()))
            summaries = [BuildSummary(r.id, BuildStatus(r.status), r.end_time) for r in rows]
        reap = builds_to_reap(summaries, keep_builds=keep_builds, keep_days=keep_days,
                              min_succeeded=min_succeeded, now=now)
        for start in range(0, len(reap), IN_CHUNK):
            chunk = reap[start:start + IN_CHUNK]
            async with self._db.write() as conn:
                await conn.execute(build_events.delete()
                                   .where(build_events.c.build_id.in_(chunk)))
                await conn.execute(builds.update().where(builds.c.id.in_(chunk))
                                   .values(reap_time=now))
        return len(reap)


async def append_events(conn: AsyncConnection, build_id: int,
                        events: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Number and insert `events` inside the caller's write transaction."""
    if not events:
        raise ValueError("no events to add")
    last = (await conn.execute(
        builds.update().where(builds.c.id == build_id)
        .values(last_event_seq=builds.c.last_event_seq + len(events))
        .returning(builds.c.last_event_seq))).scalar_one_or_none()
    if last is None:
        raise LookupError(f"build {build_id} does not exist")
    now = utcnow()
    first = last - len(events) + 1
    await conn.execute(build_events.insert(), [
        {"build_id": build_id, "seq": first + i, "type": type, "payload": payload,
         "time": now} for i, (type, payload) in enumerate(events)])
    return int(last)
