"""A build's events on their way out (ci/buildlog.py): capped per build, stored in batches.

The store is real (SQLite and PostgreSQL); write transactions are counted with an
SQLAlchemy `commit` hook on its engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from headwater.ci.buildlog import BuildLog, BuildLogSettings, cap, truncation_notice
from headwater.ci.events import Hub
from headwater.store import Store
from tests.store.helpers import ids, job_build, set_pipeline


async def _build(store: Store) -> int:
    saved = await set_pipeline(store)
    job_id = (await ids(store, saved.id))[1]["build"]
    build = await job_build(store, saved.id, job_id)
    await store.start_build(build.id)
    return build.id


@contextmanager
def _commits(store: Store) -> Iterator[list[int]]:
    """Counts the store's committed transactions while the block runs."""
    engine = store._db.engine.sync_engine
    count = [0]

    def on_commit(_conn: Any) -> None:
        count[0] += 1

    event.listen(engine, "commit", on_commit)
    try:
        yield count
    finally:
        event.remove(engine, "commit", on_commit)


def _origin(step: str = "t") -> dict[str, Any]:
    return {"id": step, "source": "stdout"}


@pytest.mark.parametrize(("text", "used", "limit", "expected"), [
    ("hello", 0, 10, ("hello", False)),
    ("hello", 5, 10, ("hello", False)),  # exactly at the cap: all kept
    ("hello", 8, 10, ("he", True)),
    ("hello", 10, 10, ("", True)),
    ("hello", 12, 10, ("", True)),
    ("", 10, 10, ("", False)),
    ("héllo", 0, 2, ("h", True)),  # é is two bytes: never cut in half
    ("héllo", 0, 3, ("hé", True)),
])
def test_cap_keeps_what_fits_in_bytes_at_a_character_boundary(
        text: str, used: int, limit: int, expected: tuple[str, bool]) -> None:
    assert cap(text, used, limit) == expected


async def test_log_output_past_the_cap_ends_with_one_truncation_line(store: Store) -> None:
    build_id = await _build(store)
    log = BuildLog(store, Hub(), build_id, BuildLogSettings(max_bytes=1000))
    await log.add("start-task", {"origin": {"id": "t"}})
    for i in range(100):
        await log.log(_origin(), f"{i:03d}" + "x" * 96 + "\n", {"time": 1.0})
    await log.add("finish-task", {"origin": {"id": "t"}, "exit_status": 0})
    await log.close()

    events = await store.events(build_id)
    logs = [e.payload["payload"] for e in events if e.type == "log"]
    notice = truncation_notice(1000)
    assert logs[-1] == notice and logs.count(notice) == 1
    kept = "".join(logs[:-1])
    assert len(kept.encode()) == 1000
    assert kept == "".join(f"{i:03d}" + "x" * 96 + "\n" for i in range(10))
    # The build's progress is never capped: the step's end is stored after the notice.
    assert [e.type for e in events][-1] == "finish-task"
    assert log.truncated


async def test_log_events_are_stored_in_a_few_batches_in_order(store: Store) -> None:
    build_id = await _build(store)
    hub = Hub(limit=100_000)
    chunks = 5000
    with hub.subscribe(build_id) as sub, _commits(store) as commits:
        log = BuildLog(store, hub, build_id, BuildLogSettings())
        await log.add("start-task", {"origin": {"id": "t"}})
        for i in range(chunks):
            await log.log(_origin(), f"line {i}\n", {"time": 1.0})
            if i % 10 == 0:
                await asyncio.sleep(0)  # output arrives over time, as from a pipe
        await log.add("finish-task", {"origin": {"id": "t"}, "exit_status": 0})
        await log.close()
        written = commits[0]
        live = [await sub.next() for _ in range(len(sub))]

    events = await store.events(build_id)
    assert [e.seq for e in events] == list(range(1, chunks + 3))
    assert [e.payload.get("payload") for e in events[1:-1]] == [
        f"line {i}\n" for i in range(chunks)]
    # One transaction per event was 5002; a batch is 100 ms or 64 KiB of output.
    assert written <= chunks // 10, written
    # Watchers got every event, numbered as stored.
    assert [(e.seq, e.type) for e in live if e is not None] == [
        (e.seq, e.type) for e in events]


async def test_a_step_end_is_stored_when_add_returns(store: Store) -> None:
    build_id = await _build(store)
    log = BuildLog(store, Hub(), build_id, BuildLogSettings(batch_interval=3600))
    await log.log(_origin(), "waiting in the batch\n", {})
    await log.add("finish-task", {"origin": {"id": "t"}, "exit_status": 0})
    assert [e.type for e in await store.events(build_id)] == ["log", "finish-task"]
    await log.log(_origin(), "left at the end\n", {})
    await log.close()
    assert [e.type for e in await store.events(build_id)] == ["log", "finish-task", "log"]


async def test_a_failed_write_fails_the_next_event_and_close_still_returns(
        store: Store) -> None:
    log = BuildLog(store, Hub(), 999_999, BuildLogSettings())  # no such build
    with pytest.raises(RuntimeError, match="storing the events of build 999999 failed"):
        await log.add("initialize-task", {"origin": {"id": "t"}})
    await log.close()


async def test_a_cut_inside_a_line_puts_the_notice_on_a_line_of_its_own(
        store: Store) -> None:
    build_id = await _build(store)
    log = BuildLog(store, Hub(), build_id, BuildLogSettings(max_bytes=10))
    await log.log(_origin(), "0123456789abcdef\n", {})
    await log.log(_origin(), "dropped\n", {})
    await log.close()
    assert [e.payload["payload"] for e in await store.events(build_id)] == [
        "0123456789", "\n" + truncation_notice(10)]
