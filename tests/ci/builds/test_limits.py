"""Limits of a step, on this machine's real cgroups: a fork bomb and a memory hog end
their task with a clear error (bounded: 64 processes, 64 MiB), a task within its
limits runs in its own cgroup and succeeds, nothing is left after; a hung resource
script is stopped at the server's default get/put timeout."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.context import BuildContext
from headwater.ci.build.engine import run_build
from headwater.ci.build.local import LocalExecutor
from headwater.ci.plan import Get, Plan, Put, Task, Timeout
from headwater.ci.resources.cgroups import Cgroups, Limits
from headwater.ci.resources.process import find_bwrap
from headwater.ci.resources.types import ResourceTypes
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, pids_with, sleeper, wait_for

LIMITS = Limits(memory=256 << 20, pids=64)  # the "server's defaults" of these tests


def leftovers(cgroups: Cgroups) -> list[Path]:
    return [d for p in cgroups.parents.values() for d in p.iterdir() if d.is_dir()]


async def build(tmp_path: Path, plan: Plan, cgroups: Cgroups, *, sandboxed: bool = True,
                **ctx: Any) -> tuple[str, RecordingDelegate]:
    if sandboxed and find_bwrap() is None:
        pytest.skip("bubblewrap is not installed")
    executor = LocalExecutor(bwrap="auto" if sandboxed else None, kill_grace=2.0,
                             cgroups=cgroups, limits=LIMITS)
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", executor=executor, **ctx),
                             delegate=delegate)
    return status, delegate


def task(name: str, path: str, script: str, **config: Any) -> Task:
    return Task(id=name, name=name, config={"platform": "linux",
                                            "run": {"path": path, "args": ["-c", script]},
                                            **config})


@pytest.mark.parametrize("bomb", [
    pytest.param(task("bomb", "bash", ":(){ :|:& };:; wait; sleep 600"), id="bash"),
    pytest.param(task("bomb", "sh", "b(){ b|b& };b; wait; sleep 600"), id="sh"),
])
async def test_a_fork_bomb_ends_its_task_with_the_fork_limit(
        tmp_path: Path, cgroups: Cgroups, bomb: Task) -> None:
    status, d = await build(tmp_path, bomb, cgroups)
    assert status == "errored"
    [error] = d.errors()
    assert error.startswith("task 'bomb': the task hit its fork limit of 64 processes")
    assert leftovers(cgroups) == []


async def test_a_task_allocating_10_gb_ends_with_its_memory_limit(
        tmp_path: Path, cgroups: Cgroups) -> None:
    hog = task("hog", "sh", "head -c 10G /dev/zero | tail; echo survived",
               container_limits={"memory": "64MB"})
    status, d = await build(tmp_path, hog, cgroups)
    assert status == "errored"
    [error] = d.errors()
    # Then " (exit status 137)" when the kernel or the watcher killed the shell too.
    assert error.startswith(
        "task 'hog': the task exceeded its memory limit of 64 MiB and was killed (out of "
        "memory): raise container_limits.memory, or the server's --default-task-memory-limit")
    assert leftovers(cgroups) == []


async def test_python_string_growth_hits_the_memory_limit(tmp_path: Path,
                                                          cgroups: Cgroups) -> None:
    hog = task("grow", "python3", "s = 'x'\nwhile True: s += s",
               container_limits={"memory": 64 << 20})
    status, d = await build(tmp_path, hog, cgroups)
    assert status == "errored"
    assert "exceeded its memory limit of 64 MiB" in d.errors()[0]


async def test_a_task_within_its_limits_runs_in_its_own_cgroup(tmp_path: Path,
                                                               cgroups: Cgroups) -> None:
    # Unsandboxed, so /proc and /sys show the host's view of the task's cgroup.
    script = ("sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 0.1 & done; wait'; "
              "head -c 32M /dev/zero | tail -c 1 >/dev/null; "
              "grep -E ':(memory|pids):' /proc/self/cgroup; "
              "cat /sys/fs/cgroup/memory$(awk -F: '$2==\"memory\"{print $3}' /proc/self/cgroup)"
              "/memory.limit_in_bytes")
    ok = task("fits", "sh", script, container_limits={"memory": "128MB", "cpu": 512})
    status, d = await build(tmp_path, ok, cgroups, sandboxed=False)
    assert status == "succeeded", d.errors()
    log = d.log("fits", "stdout")
    memory_parent = cgroups.parents["memory"].relative_to("/sys/fs/cgroup/memory")
    assert f":memory:/{memory_parent}/task-" in log
    assert f":pids:/{cgroups.parents['pids'].relative_to('/sys/fs/cgroup/pids')}/task-" in log
    assert log.splitlines()[-1] == str(128 << 20)  # its own limit, not the default
    assert leftovers(cgroups) == []


async def test_a_task_config_with_a_bad_memory_limit_names_the_field(
        tmp_path: Path, cgroups: Cgroups) -> None:
    bad = task("bad", "sh", "true", container_limits={"memory": "lots"})
    status, d = await build(tmp_path, bad, cgroups)
    assert status == "errored"
    assert 'container_limits.memory: invalid size "lots"' in d.errors()[0]


# -- the default timeout of get and put ----------------------------------------------

def hung_type(tmp_path: Path, command: str) -> Path:
    """A script resource type whose check answers at once and whose in/out hang."""
    types = tmp_path / "types"
    scripts = {"check": 'cat >/dev/null; echo \'[{"v": "1"}]\'\n',
               "in": f"cat >/dev/null; echo fetching >&2; {command}\n",
               "out": f"cat >/dev/null; echo pushing >&2; {command}\n"}
    for name, text in scripts.items():
        path = types / "hung" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return types


GET = Get(id="get", name="repo", resource="repo", type="hung", source={},
          version={"v": "1"})


async def test_a_hung_in_script_is_stopped_at_the_default_get_timeout(
        tmp_path: Path, cgroups: Cgroups) -> None:
    sleep, marker = sleeper()
    status, d = await build(tmp_path, GET, cgroups, types_dir=hung_type(tmp_path, sleep),
                            get_timeout=1.0)
    assert status == "errored"
    assert d.errors() == [
        "get of resource 'repo' timed out after 1s and its script was stopped (the "
        "server's --default-get-timeout; give the step a timeout: of its own to allow more)"]
    assert "fetching" in d.log("get")
    await wait_for(lambda: not pids_with(marker))  # SIGTERMed with its group


async def test_a_hung_out_script_is_stopped_at_the_default_put_timeout(
        tmp_path: Path, cgroups: Cgroups) -> None:
    sleep, marker = sleeper()
    put = Put(id="put", name="repo", resource="repo", type="hung", source={}, no_get=True)
    status, d = await build(tmp_path, put, cgroups, types_dir=hung_type(tmp_path, sleep),
                            put_timeout=1.0)
    assert status == "errored"
    assert d.errors()[0].startswith("put to resource 'repo' timed out after 1s")
    await wait_for(lambda: not pids_with(marker))  # SIGTERMed with its group


async def test_a_step_timeout_of_its_own_wins_over_the_default(
        tmp_path: Path, cgroups: Cgroups) -> None:
    types = hung_type(tmp_path, "sleep 2; echo '{\"version\": {\"v\": \"1\"}}'")
    plan = Timeout(id="t", step=GET, seconds=30)
    status, d = await build(tmp_path, plan, cgroups, types_dir=types, get_timeout=1.0)
    assert status == "succeeded", d.errors()


# -- resource scripts run in cgroups too ---------------------------------------------

async def test_a_resource_script_fork_bomb_ends_its_get(tmp_path: Path,
                                                        cgroups: Cgroups) -> None:
    types_dir = hung_type(tmp_path, "bash -c ':(){ :|:& };:; wait; sleep 600'")
    types = ResourceTypes({}, types_dir, cgroups=cgroups, limits=LIMITS)
    ctx = BuildContext(build_id=1, build_name="1", team="main", workdir=tmp_path / "build",
                       types=types, executor=LocalExecutor(bwrap=None))
    d = RecordingDelegate()
    assert await run_build(GET, ctx=ctx, delegate=d) == "errored"
    [error] = d.errors()
    assert error.startswith(
        f"resource 'repo': {types_dir}/hung/in hit its fork limit of 64 processes")
    assert leftovers(cgroups) == []
