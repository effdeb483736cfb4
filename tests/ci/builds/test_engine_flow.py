"""Control flow of a build, as Concourse: hooks, try, timeout, attempts, in_parallel, abort."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.build.local import LocalExecutor
from headwater.ci.plan import (
    Do,
    Ensure,
    Get,
    InParallel,
    OnAbort,
    OnError,
    OnFailure,
    OnSuccess,
    Plan,
    Retry,
    Timeout,
    Try,
)
from headwater.ci.resources.base import Fetched, Log, Version
from tests.ci.builds.helpers import (
    RecordingDelegate,
    alive,
    make_ctx,
    pids_with,
    sh,
    sleeper,
    wait_for,
)
from tests.logcapture import captured_log

OK = "echo ok"
FAIL = "echo failing; exit 1"


async def build(tmp_path: Path, plan: Plan, **ctx: Any) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", **ctx), delegate=delegate)
    return status, delegate


async def test_a_plan_that_succeeds_emits_started_then_succeeded(tmp_path: Path) -> None:
    status, d = await build(tmp_path, sh("hello", "echo hello world"))
    assert status == "succeeded"
    assert d.statuses() == ["started", "succeeded"]
    assert d.types()[1:4] == ["initialize-task", "start-task", "log"]
    assert d.log("hello", "stdout") == "hello world\n"
    assert d.of("finish-task", "hello") == [{"origin": {"id": "hello"}, "exit_status": 0}]


async def test_do_stops_at_the_first_failure(tmp_path: Path) -> None:
    status, d = await build(tmp_path, Do(id="do", steps=[sh("a", OK), sh("b", FAIL),
                                                       sh("c", OK)]))
    assert status == "failed"
    assert d.step_ids("start-task") == ["a", "b"]


async def test_on_failure_runs_and_the_build_fails(tmp_path: Path) -> None:
    plan = OnFailure(id="h", step=sh("unit", FAIL), hook=sh("notify", "echo notified"))
    status, d = await build(tmp_path, plan)
    assert status == "failed"
    assert d.of("finish-task", "unit")[0]["exit_status"] == 1
    assert d.log("notify") == "notified\n"


async def test_on_success_does_not_run_after_a_failure(tmp_path: Path) -> None:
    plan = OnSuccess(id="h", step=sh("unit", FAIL), hook=sh("notify", OK))
    status, d = await build(tmp_path, plan)
    assert status == "failed"
    assert d.step_ids("start-task") == ["unit"]


async def test_a_failing_on_success_hook_fails_the_build(tmp_path: Path) -> None:
    plan = OnSuccess(id="h", step=sh("unit", OK), hook=sh("deploy", FAIL))
    status, d = await build(tmp_path, plan)
    assert status == "failed"
    assert d.step_ids("start-task") == ["unit", "deploy"]


@pytest.mark.parametrize(("script", "expected"), [(OK, "succeeded"), (FAIL, "failed")])
async def test_ensure_runs_after_success_and_failure(tmp_path: Path, script: str,
                                                     expected: str) -> None:
    plan = Ensure(id="h", step=sh("unit", script), hook=sh("cleanup", "echo cleaned"))
    status, d = await build(tmp_path, plan)
    assert status == expected
    assert d.log("cleanup") == "cleaned\n"


async def test_a_failing_ensure_hook_fails_a_successful_build(tmp_path: Path) -> None:
    plan = Ensure(id="h", step=sh("unit", OK), hook=sh("cleanup", FAIL))
    status, _ = await build(tmp_path, plan)
    assert status == "failed"


async def test_hooks_run_in_concourse_order(tmp_path: Path) -> None:
    # unit: {on_success: s, on_failure: f, ensure: e}, as the planner nests them.
    plan = Ensure(id="e", hook=sh("ensure", OK), step=OnFailure(
        id="f", hook=sh("on_failure", OK),
        step=OnSuccess(id="s", hook=sh("on_success", OK), step=sh("unit", FAIL))))
    status, d = await build(tmp_path, plan)
    assert status == "failed"
    assert d.step_ids("start-task") == ["unit", "on_failure", "ensure"]


async def test_on_error_runs_when_a_step_errors_and_the_build_is_errored(
        tmp_path: Path) -> None:
    broken = sh("unit", OK, inputs=[{"name": "repo"}])  # no artifact "repo" in the build
    plan = Ensure(id="e", hook=sh("ensure", OK),
                  step=OnError(id="h", step=broken, hook=sh("on_error", "echo oops")))
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.statuses() == ["started", "errored"]
    [error] = d.of("error")
    assert error["origin"]["id"] == "unit"
    assert error["message"].startswith("missing inputs: repo")
    assert d.step_ids("start-task") == ["on_error", "ensure"]


async def test_try_turns_a_failure_and_an_error_into_success(tmp_path: Path) -> None:
    broken = sh("broken", OK, inputs=[{"name": "nothing"}])
    plan = Do(id="do", steps=[Try(id="t1", step=sh("flaky", FAIL)),
                              Try(id="t2", step=broken), sh("after", OK)])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    assert d.step_ids("start-task") == ["flaky", "after"]
    assert len(d.errors()) == 1  # the error is still shown


async def test_timeout_cancels_the_step_and_errors_the_build(tmp_path: Path) -> None:
    command, marker = sleeper()
    plan = OnError(id="h", hook=sh("on_error", "echo timed out"),
                   step=OnAbort(id="a", hook=sh("on_abort", OK),
                                step=Timeout(id="t", seconds=0.5, step=sh("slow", command))))
    started = time.monotonic()
    status, d = await build(tmp_path, plan)
    assert time.monotonic() - started < 8
    assert status == "errored"
    assert d.of("error") == [{"origin": {"id": "slow"}, "message": "timeout exceeded"}]
    assert d.of("finish-task", "slow") == []
    assert d.log("on_error") == "timed out\n"
    assert d.step_ids("start-task") == ["slow", "on_error"]  # a timeout is not an abort
    assert pids_with(marker) == []


async def test_a_timeout_inside_try_is_swallowed(tmp_path: Path) -> None:
    plan = Try(id="t", step=Timeout(id="to", seconds=0.3, step=sh("slow", "sleep 20")))
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    assert d.errors() == ["timeout exceeded"]


async def test_attempts_rerun_a_failing_task_until_it_succeeds(tmp_path: Path) -> None:
    # The counter lives on the host, so this task runs unsandboxed.
    counter = tmp_path / "counter"
    script = 'n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"; ' \
             'echo "attempt $n"; [ "$n" -ge 3 ]'
    task = sh("flaky", script, params={"COUNTER": str(counter)})
    status, d = await build(tmp_path, Retry(id="r", attempts=5, step=task),
                            executor=LocalExecutor(bwrap=None))
    assert status == "succeeded"
    assert [p["exit_status"] for p in d.of("finish-task")] == [1, 1, 0]
    assert counter.read_text() == "3\n"


async def test_attempts_give_up_after_n_attempts(tmp_path: Path) -> None:
    status, d = await build(tmp_path, Retry(id="r", attempts=2, step=sh("unit", FAIL)))
    assert status == "failed"
    assert len(d.of("finish-task")) == 2


async def test_attempts_rerun_errored_attempts_and_keep_the_last_error(tmp_path: Path) -> None:
    broken = sh("unit", OK, inputs=[{"name": "missing"}])
    status, d = await build(tmp_path, Retry(id="r", attempts=3, step=broken))
    assert status == "errored"
    assert len(d.errors()) == 3


def max_running(d: RecordingDelegate) -> int:
    running = peak = 0
    for event in d.events:
        if event.type == "start-task":
            running += 1
            peak = max(peak, running)
        elif event.type == "finish-task":
            running -= 1
    return peak


async def test_in_parallel_never_runs_more_than_limit_steps(tmp_path: Path) -> None:
    steps: list[Plan] = [sh(f"t{i}", "sleep 0.3") for i in range(5)]
    status, d = await build(tmp_path, InParallel(id="p", steps=steps, limit=2))
    assert status == "succeeded"
    assert len(d.of("finish-task")) == 5
    assert max_running(d) == 2


async def test_in_parallel_without_limit_runs_all_at_once(tmp_path: Path) -> None:
    steps: list[Plan] = [sh(f"t{i}", "sleep 0.5") for i in range(3)]
    status, d = await build(tmp_path, InParallel(id="p", steps=steps))
    assert status == "succeeded"
    assert max_running(d) == 3


async def test_in_parallel_waits_for_all_steps_when_one_fails(tmp_path: Path) -> None:
    steps: list[Plan] = [sh("fails", FAIL), sh("slow", "sleep 0.5; echo done")]
    status, d = await build(tmp_path, InParallel(id="p", steps=steps))
    assert status == "failed"
    assert d.log("slow") == "done\n"


async def test_in_parallel_fail_fast_cancels_the_others(tmp_path: Path) -> None:
    command, marker = sleeper()
    steps: list[Plan] = [
        sh("fails", "sleep 0.3; exit 1"),
        OnAbort(id="a", step=sh("slow", command), hook=sh("slow_aborted", OK)),
        sh("queued", OK),  # limit 2: never starts
    ]
    started = time.monotonic()
    status, d = await build(tmp_path, InParallel(id="p", steps=steps, limit=2, fail_fast=True))
    assert time.monotonic() - started < 8
    assert status == "failed"
    assert d.of("finish-task", "slow") == []
    assert "queued" not in d.step_ids("initialize-task")
    assert d.log("slow_aborted") == "ok\n"  # as Concourse: the sibling sees an abort
    assert pids_with(marker) == []


async def test_in_parallel_with_an_errored_step_is_errored(tmp_path: Path) -> None:
    steps: list[Plan] = [sh("ok", OK), sh("broken", OK, inputs=[{"name": "nope"}])]
    status, _ = await build(tmp_path, InParallel(id="p", steps=steps))
    assert status == "errored"


@pytest.mark.parametrize("sandboxed", [True, False])
async def test_abort_kills_the_task_and_runs_on_abort_and_ensure(tmp_path: Path,
                                                                 sandboxed: bool) -> None:
    command, marker = sleeper()
    plan = Ensure(id="e", hook=sh("ensure", "echo ensured"),
                  step=OnAbort(id="a", hook=sh("on_abort", "echo aborted"),
                               step=OnFailure(id="f", hook=sh("on_failure", OK),
                                              step=sh("slow", command))))
    delegate = RecordingDelegate()
    executor = LocalExecutor(kill_grace=2.0) if sandboxed else LocalExecutor(bwrap=None,
                                                                             kill_grace=2.0)
    ctx = make_ctx(tmp_path / "build", executor=executor)
    task = asyncio.create_task(run_build(plan, ctx=ctx, delegate=delegate))
    await wait_for(lambda: pids_with(marker))
    pids = pids_with(marker)
    task.cancel()
    status = await task
    assert status == "aborted"
    assert delegate.statuses() == ["started", "aborted"]
    assert delegate.log("on_abort") == "aborted\n"
    assert delegate.log("ensure") == "ensured\n"
    assert "on_failure" not in delegate.step_ids("start-task")
    assert pids_with(marker) == []
    assert not any(alive(pid) for pid in pids)


class _Broken:
    """A resource type with a bug: headwater's fault, not the user's."""

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        raise RuntimeError("index out of range")

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        raise AssertionError

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        raise AssertionError


async def test_an_internal_error_in_a_step_errors_the_build_with_its_message(
        tmp_path: Path) -> None:
    plan = Get(id="g", name="thing", resource="thing", type="broken")
    with captured_log() as log:
        status, d = await build(tmp_path, plan, builtins={"broken": _Broken()})
    assert status == "errored"
    [message] = d.errors()
    assert message.startswith("headwater internal error: RuntimeError: index out of range")
    # "the server log has the details": one logfmt line with the traceback.
    [line] = [ln for ln in log.getvalue().splitlines() if 'event="step broke"' in ln]
    assert "level=error component=build " in line
    assert "step=g" in line
    assert "Traceback (most recent call last)" in line
    assert "RuntimeError: index out of range" in line
