"""`/events` in memory bounds (ci/events.py): the store read a page at a time, and a
slow viewer's live queue bounded (it catches up from the store instead of growing).

The store is real (SQLite and PostgreSQL); `Paged` passes every call through to it
and records how many events each read asked for and got.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass, field

from headwater.ci.buildlog import BuildLog, BuildLogSettings
from headwater.ci.events import Event, Hub, Subscription, stream
from headwater.store import Build, Store, models
from tests.store.helpers import ids, job_build, set_pipeline

MANY = 10_000


@dataclass
class Paged:
    """The real store, with a record of its `events` reads: (limit, rows answered)."""

    store: Store
    reads: list[tuple[int | None, int]] = field(default_factory=list)

    async def events(self, build_id: int, *, after: int = 0,
                     limit: int | None = None) -> list[models.Event]:
        rows = await self.store.events(build_id, after=after, limit=limit)
        self.reads.append((limit, len(rows)))
        return rows

    async def build(self, build_id: int) -> Build | None:
        return await self.store.build(build_id)


async def _started_build(store: Store) -> int:
    saved = await set_pipeline(store)
    job_id = (await ids(store, saved.id))[1]["build"]
    build = await job_build(store, saved.id, job_id)
    await store.start_build(build.id)
    return build.id


async def _write_logs(store: Store, build_id: int, count: int, start: int = 0) -> None:
    for first in range(start, start + count, 1000):
        await store.add_events(build_id, [
            ("log", {"origin": {"id": "t", "source": "stdout"}, "payload": f"{i}\n"})
            for i in range(first, min(first + 1000, start + count))])


def test_a_full_subscription_drops_its_queue_and_marks_itself_lagged() -> None:
    sub = Subscription(limit=100)
    for seq in range(1, 251):
        sub.push(Event(seq=seq, type="log", payload={}))
        assert len(sub) <= 100
    assert sub.lagged
    sub.resume()
    sub.push(Event(seq=251, type="log", payload={}))
    assert len(sub) == 1 and not sub.lagged


def test_a_subscription_is_bounded_in_bytes_too() -> None:
    sub = Subscription(limit=1000, max_bytes=10_000)
    big = {"payload": "x" * 2000}
    for seq in range(1, 5):
        sub.push(Event(seq=seq, type="log", payload=big))
    assert len(sub) == 4 and sub.bytes <= 10_000 and not sub.lagged
    sub.push(Event(seq=5, type="log", payload=big))  # 5 * 2064 bytes: over
    assert len(sub) == 0 and sub.bytes == 0 and sub.lagged and sub.lags == 1


async def test_a_long_stored_log_is_streamed_a_page_at_a_time(store: Store) -> None:
    build_id = await _started_build(store)
    await _write_logs(store, build_id, MANY)
    await store.finish_build(build_id, "succeeded")
    paged = Paged(store)

    seqs = [e.seq async for e in stream(paged, Hub(), build_id, page_size=100)]

    assert seqs == list(range(1, MANY + 1))
    assert paged.reads and all(limit == 100 for limit, _ in paged.reads)
    assert max(rows for _, rows in paged.reads) == 100


async def test_a_stream_resumes_after_the_last_event_id_it_saw(store: Store) -> None:
    build_id = await _started_build(store)
    await _write_logs(store, build_id, 250)
    await store.finish_build(build_id, "succeeded")
    seqs = [e.seq async for e in stream(store, Hub(), build_id, after=120, page_size=100)]
    assert seqs == list(range(121, 251))


async def test_a_viewer_that_does_not_read_keeps_a_bounded_queue_and_misses_nothing(
        store: Store) -> None:
    build_id = await _started_build(store)
    await _write_logs(store, build_id, 1)
    hub = Hub(limit=100)
    paged = Paged(store)
    async with aclosing(stream(paged, hub, build_id, page_size=100)) as viewer:
        first = await anext(viewer)  # subscribed, read the store, waiting for live events
        assert first.seq == 1
        [sub] = hub.subscriptions(build_id)

        # The build goes on printing while the viewer reads nothing.
        log = BuildLog(store, hub, build_id, BuildLogSettings())
        for i in range(MANY):
            await log.log({"id": "t", "source": "stdout"}, f"{i}\n", {})
            assert len(sub) <= 100
            if i % 100 == 0:
                await asyncio.sleep(0)
        await log.add("finish-task", {"origin": {"id": "t"}, "exit_status": 0})
        assert len(sub) <= 100 and sub.lagged

        # Now it reads: what its queue dropped comes from the store, in order.
        got = [first]
        while len(got) < MANY + 2:
            got.append(await anext(viewer))
        await log.close()
        await store.finish_build(build_id, "succeeded")
        hub.close(build_id)
        got += [e async for e in viewer]

    assert [e.seq for e in got] == list(range(1, MANY + 3))
    assert [e.payload.get("payload") for e in got[1:-1]] == [f"{i}\n" for i in range(MANY)]
    assert all(limit == 100 for limit, _ in paged.reads)
    assert hub.subscriptions(build_id) == []


async def test_a_live_viewer_gets_events_written_just_before_the_build_ended(
        store: Store) -> None:
    build_id = await _started_build(store)
    hub = Hub()
    async with aclosing(stream(store, hub, build_id)) as viewer:
        pending = asyncio.ensure_future(anext(viewer))
        await asyncio.sleep(0.05)
        # Written and published, then the build ends before the viewer runs again.
        log = BuildLog(store, hub, build_id, BuildLogSettings())
        await log.add("status", {"status": "started"})
        await _write_logs(store, build_id, 3)  # stored, never published live
        await log.close()
        await store.finish_build(build_id, "succeeded")
        hub.close(build_id)
        got = [await pending] + [e async for e in viewer]
    assert [e.seq for e in got] == [1, 2, 3, 4]
