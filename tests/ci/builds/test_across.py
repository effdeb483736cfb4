"""`across`: a step once per combination of values, with real tasks in the sandbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from headwater.ci.build.engine import run_build
from headwater.ci.plan import Across, AcrossVar, Do, LoadVar, Plan, Task
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh


async def build(tmp_path: Path, plan: Plan) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build"), delegate=delegate)
    return status, delegate


def _across(step: Task, *vars: AcrossVar, fail_fast: bool = False) -> Across:
    return Across(id="x", step=step, vars=list(vars), fail_fast=fail_fast)


async def test_every_combination_runs_with_its_values_first_var_slowest(
        tmp_path: Path) -> None:
    task = sh("t-((.:go))", 'echo "go=$GO os=$OS"', step_id="t",
              params={"GO": "((.:go))", "OS": "((.:os))"})
    plan = _across(task, AcrossVar(var="go", values=["1.21", "1.22"]),
                   AcrossVar(var="os", values=["linux", "darwin"]))
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    # Each copy has an id of its own (its step's id, then /n).
    assert d.step_ids("start-task") == ["t/0", "t/1", "t/2", "t/3"]
    assert [d.log(f"t/{n}") for n in range(4)] == [
        "go=1.21 os=linux\n", "go=1.21 os=darwin\n", "go=1.22 os=linux\n",
        "go=1.22 os=darwin\n"]


async def test_max_in_flight_all_runs_the_values_at_once(tmp_path: Path) -> None:
    plan = _across(sh("t", "sleep 0.5"), AcrossVar(var="v", values=[1, 2, 3, 4],
                                                   max_in_flight=None))
    started = time.monotonic()
    status, d = await build(tmp_path, plan)
    assert status == "succeeded" and len(d.step_ids("finish-task")) == 4
    assert time.monotonic() - started < 1.9  # 4 x 0.5 s one after the other: >= 2 s


async def test_a_failure_fails_the_step_and_fail_fast_stops_the_rest(tmp_path: Path) -> None:
    script = 'test "$V" != 2'
    values = AcrossVar(var="v", values=[1, 2, 3])
    status, d = await build(tmp_path, _across(sh("t", script, params={"V": "((.:v))"}),
                                              values))
    assert status == "failed"
    assert d.step_ids("finish-task") == ["t/0", "t/1", "t/2"]  # all ran, one failed
    status, d = await build(tmp_path / "ff", _across(sh("t", script, params={"V": "((.:v))"}),
                                                     values, fail_fast=True))
    assert status == "failed"
    assert d.step_ids("finish-task") == ["t/0", "t/1"]


async def test_outputs_stay_in_their_combination(tmp_path: Path) -> None:
    make = sh("make", 'echo "$V" > out/v', outputs=[{"name": "out"}], params={"V": "((.:v))"})
    use = sh("use", "cat out/v", inputs=[{"name": "out"}])
    after = sh("after", "test ! -e out/v && echo none", inputs=[{"name": "out",
                                                                 "optional": True}])
    step: Any = Do(id="d", steps=[make, use])
    plan = Do(id="all", steps=[
        Across(id="x", step=step, vars=[AcrossVar(var="v", values=["a", "b"],
                                                  max_in_flight=None)]),
        after])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert sorted([d.log("use/0"), d.log("use/1")]) == ["a\n", "b\n"]
    assert d.log("after") == "none\n"


async def test_values_from_a_missing_local_var_error_the_step(tmp_path: Path) -> None:
    plan = _across(sh("t", "true"), AcrossVar(var="v", values=["((.:nope))"]))
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert "undefined vars in the values of across var 'v': .:nope" in d.errors()[0]


async def test_values_can_come_whole_from_a_load_var(tmp_path: Path) -> None:
    write = sh("write", "printf '[\"x\", \"y\"]' > out/list.json", outputs=[{"name": "out"}])
    # reveal: a list to iterate over is public (load_var values are secrets otherwise).
    load = LoadVar(id="load", name="list", file="out/list.json", format="json", reveal=True)
    each = _across(sh("t", 'echo "got $V"', params={"V": "((.:v))"}),
                   AcrossVar(var="v", values="((.:list))"))
    status, d = await build(tmp_path, Do(id="all", steps=[write, load, each]))
    assert status == "succeeded", d.errors()
    assert [d.log("t/0"), d.log("t/1")] == ["got x\n", "got y\n"]
    bad = _across(sh("t", "true"), AcrossVar(var="v", values="((.:one))"))
    one = LoadVar(id="one", name="one", file="out/list.json", format="raw")
    status, d = await build(tmp_path / "bad", Do(id="all", steps=[write, one, bad]))
    assert status == "errored"
    assert "the values of across var 'v' must be a list" in d.errors()[0]
