"""Build events: numbered per build, read after a sequence number, pruned per retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from headwater.store import BuildStatus, Store
from tests.store.helpers import ids, job_build, set_pipeline


async def _build(store: Store) -> tuple[int, int, int]:
    saved = await set_pipeline(store)
    job_id = (await ids(store, saved.id))[1]["build"]
    return saved.id, job_id, (await job_build(store, saved.id, job_id)).id


async def test_events_are_numbered_per_build_and_read_back_in_order(store: Store) -> None:
    pid, job_id, first = await _build(store)
    second = (await job_build(store, pid, job_id)).id
    assert await store.add_event(first, "initialize-task", {"origin": {"id": "t"}}) == 1
    assert await store.add_event(second, "log", {"payload": "other build"}) == 1
    assert await store.add_events(first, [
        ("log", {"origin": {"id": "t", "source": "stdout"}, "payload": "héllo\n"}),
        ("finish-task", {"origin": {"id": "t"}, "exit_status": 0}),
    ]) == 3
    events = await store.events(first)
    assert [(e.seq, e.type) for e in events] == [
        (1, "initialize-task"), (2, "log"), (3, "finish-task")]
    assert events[1].payload["payload"] == "héllo\n"
    assert events[0].time.tzinfo is UTC


async def test_events_after_a_sequence_number_are_the_ones_not_seen_yet(store: Store) -> None:
    _, _, build = await _build(store)
    for i in range(5):
        await store.add_event(build, "log", {"payload": str(i)})
    assert [e.seq for e in await store.events(build, after=3)] == [4, 5]
    assert await store.events(build, after=5) == []
    assert [e.seq for e in await store.events(build, after=1, limit=2)] == [2, 3]


async def test_pruning_deletes_the_events_of_builds_beyond_retention_and_keeps_the_rows(
        store: Store) -> None:
    pid, job_id, _ = await _build(store)  # build 1 stays pending: never pruned
    statuses = ["succeeded", "failed", "failed", "failed", "failed"]  # builds 2..6
    made = []
    for status in statuses:
        build = await job_build(store, pid, job_id)
        await store.add_event(build.id, "log", {"payload": build.name})
        await store.start_build(build.id)
        await store.finish_build(build.id, status)
        made.append(build.id)

    # Keep 2 builds, at least 1 of them succeeded: 6 and the succeeded 2 stay.
    assert await store.prune_build_events(job_id, keep_builds=2, keep_days=None,
                                          min_succeeded=1) == 3
    kept = {b: bool(await store.events(b)) for b in made}
    assert kept == {made[0]: True, made[1]: False, made[2]: False, made[3]: False,
                    made[4]: True}
    reaped = await store.build(made[1])
    assert reaped is not None and reaped.reap_time is not None
    assert reaped.status is BuildStatus.FAILED
    assert await store.prune_build_events(job_id, keep_builds=2, keep_days=None,
                                          min_succeeded=1) == 0


async def test_pruning_by_days_deletes_builds_that_ended_long_enough_ago(store: Store) -> None:
    pid, job_id, _ = await _build(store)
    build = await job_build(store, pid, job_id)
    await store.add_event(build.id, "log", {"payload": "x"})
    await store.finish_build(build.id, "succeeded")
    assert await store.prune_build_events(job_id, keep_builds=None, keep_days=3) == 0
    later = datetime.now(UTC) + timedelta(days=4)
    assert await store.prune_build_events(job_id, keep_builds=None, keep_days=3,
                                          now=later) == 1
    assert await store.events(build.id) == []
    assert await store.prune_build_events(job_id, keep_builds=None, keep_days=None) == 0
