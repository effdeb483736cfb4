"""A pending build aborted while the runner is starting it never runs.

The race: the runner reads the pending builds, the scheduler allows one, and an abort
lands before `start_build`. The abort is made deterministic by performing it, on the
real store (SQLite and PostgreSQL), right at the moment the runner asks the store to
start the build.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from headwater.ci.build.local import LocalExecutor
from headwater.ci.events import Hub
from headwater.ci.plan import PLAN
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.runner import Runner, RunnerSettings
from headwater.store import Build, BuildStatus, Store
from tests.ci.builds.helpers import sh
from tests.store.conftest import pg, store, target

__all__ = ["pg", "store", "target"]  # the store tests' fixtures: SQLite and PostgreSQL


async def test_a_build_aborted_between_the_decision_and_its_start_does_not_run(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build, runner = await _pending_one_off(store, tmp_path)
    start_build = store.start_build
    answers: list[bool] = []

    async def abort_then_start(build_id: int) -> bool:
        # The user's abort wins the race: it reaches the store first.
        assert await store.request_abort(build_id)
        answers.append(await start_build(build_id))
        return answers[-1]

    monkeypatch.setattr(store, "start_build", abort_then_start)
    await runner.tick()
    await asyncio.sleep(0)  # a launched build's task would start here
    await runner.stop()

    assert answers == [False]
    after = await store.build(build.id)
    assert after is not None and after.status is BuildStatus.ABORTED
    # Nothing ran: no "started" status, no step's events; only the abort's.
    assert [(e.type, e.payload.get("status")) for e in await store.events(build.id)] == [
        ("status", "aborted")]


async def test_a_pending_build_not_aborted_runs(store: Store, tmp_path: Path) -> None:
    build, runner = await _pending_one_off(store, tmp_path)
    await runner.tick()
    for _ in range(200):
        done = await store.build(build.id)
        if done is not None and done.status.finished:
            break
        await asyncio.sleep(0.05)
    await runner.stop()
    done = await store.build(build.id)
    assert done is not None and done.status is BuildStatus.SUCCEEDED
    statuses = [e.payload["status"] for e in await store.events(build.id) if e.type == "status"]
    assert statuses == ["started", "succeeded"]


async def _pending_one_off(store: Store, tmp_path: Path) -> tuple[Build, Runner]:
    """A pending one-off build that echoes, and a runner to start it."""
    plan = sh("hello", "echo hello")
    build = await store.create_build(team="main", pipeline_id=None, job_id=None, inputs=[],
                                     manually_triggered=True,
                                     plan=PLAN.dump_json(plan).decode())
    runner = Runner(store, hub=Hub(), types=ResourceTypes.default(),
                    executor=LocalExecutor(kill_grace=2.0),
                    settings=RunnerSettings(work_root=tmp_path / "builds"))
    return build, runner
