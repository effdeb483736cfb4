"""cgroups: the layout read from the mount table (v1, v2, hybrid), sizes and weights,
and the server's parent cgroups on this machine (leftovers removed, no cgroups: a
warning, never a crash)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.ci.resources.cgroups import (
    Cgroups,
    Layout,
    Limits,
    StepCgroup,
    _make_parents,
    format_size,
    parse_layout,
    parse_memory,
    shares_to_weight,
)

# This machine kind: v1 controllers, one each, and an empty v2 tree (hybrid).
V1_MOUNTS = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_SELF = """\
9:name=systemd:/
8:pids:/
4:memory:/process_api/9ba2
2:cpuacct:/
1:cpu:/
0::/
"""
# systemd's hybrid: cpu comounted with cpuacct, a v2 tree next to the v1 controllers.
HYBRID_MOUNTS = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
33 25 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:17 - cgroup cgroup rw,memory
35 25 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:19 - cgroup cgroup rw,pids
"""
HYBRID_SELF = """\
12:pids:/system.slice/hw.service
6:memory:/system.slice/hw.service
3:cpu,cpuacct:/system.slice/hw.service
1:name=systemd:/system.slice/hw.service
0::/system.slice/hw.service
"""
V2_MOUNTS = ("30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
             "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n")
# A container without a cgroup namespace: the mounts show the container's subtree.
DOCKER_MOUNTS = """\
700 690 0:31 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
701 690 0:32 /docker/abc /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids
"""
DOCKER_SELF = "7:pids:/docker/abc\n4:memory:/docker/abc\n"
SYS = Path("/sys/fs/cgroup")


@pytest.mark.parametrize(("mounts", "self_cgroup", "expected"), [
    pytest.param(V1_MOUNTS, V1_SELF, Layout(1, {
        "cpu": SYS / "cpu", "memory": SYS / "memory/process_api/9ba2", "pids": SYS / "pids"}),
        id="v1"),
    pytest.param(HYBRID_MOUNTS, HYBRID_SELF, Layout(1, {
        "cpu": SYS / "cpu,cpuacct/system.slice/hw.service",
        "memory": SYS / "memory/system.slice/hw.service",
        "pids": SYS / "pids/system.slice/hw.service"}), id="hybrid-uses-v1-controllers"),
    pytest.param(V2_MOUNTS, "0::/system.slice/hw.service\n", Layout(2, dict.fromkeys(
        ("memory", "cpu", "pids"), SYS / "system.slice/hw.service")), id="v2"),
    pytest.param(V2_MOUNTS, "0::/\n", Layout(2, dict.fromkeys(("memory", "cpu", "pids"), SYS)),
                 id="v2-namespaced-root"),
    pytest.param(DOCKER_MOUNTS, DOCKER_SELF, Layout(1, {
        "memory": SYS / "memory", "pids": SYS / "pids"}), id="v1-subtree-mount"),
    pytest.param(DOCKER_MOUNTS, "7:pids:/elsewhere\n4:memory:/docker/abc/x\n", Layout(1, {
        "memory": SYS / "memory/x"}), id="outside-the-mounted-subtree-is-unusable"),
    pytest.param("31 23 0:28 / /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory\n",
                 "4:memory:/\n", Layout(1, {"memory": SYS / "mem ory"}), id="escaped-space"),
    pytest.param("22 1 0:5 / /proc rw - proc proc rw\n", "0::/\n", None, id="no-cgroups"),
    pytest.param(V2_MOUNTS, "", None, id="v2-without-own-path"),
    pytest.param("", "", None, id="empty"),
])
def test_the_layout_comes_from_the_mount_table(mounts: str, self_cgroup: str,
                                               expected: Layout | None) -> None:
    assert parse_layout(mounts, self_cgroup) == expected


@pytest.mark.parametrize(("value", "size"), [
    (1073741824, 1 << 30), ("1GB", 1 << 30), ("1gb", 1 << 30), ("512MB", 512 << 20),
    ("64M", 64 << 20), ("64MiB", 64 << 20), ("10KB", 10240), ("100", 100), ("7B", 7),
    ("0", 0), (0, 0), ("1.5GB", 3 << 29),
])
def test_memory_sizes_read_as_concourse_reads_them(value: int | str, size: int) -> None:
    assert parse_memory(value) == size


@pytest.mark.parametrize("value", ["ten", "-1", "1 TBB", "", -5, "GB"])
def test_a_bad_memory_size_says_what_one_looks_like(value: int | str) -> None:
    with pytest.raises(ValueError, match=r"memory size|expected a number of bytes"):
        parse_memory(value)


@pytest.mark.parametrize(("size", "text"), [
    (64 << 20, "64 MiB"), (4 << 30, "4 GiB"), (1536, "1536 bytes"),
    (2048, "2 KiB"), (100, "100 bytes")])
def test_sizes_are_shown_in_binary_units(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(("shares", "weight"), [
    (2, 1), (1024, 39), (262144, 10000), (0, 1), (10**9, 10000)])
def test_cpu_shares_map_to_v2_weights(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_task_limits_fall_back_to_the_defaults_field_by_field() -> None:
    defaults = Limits(memory=4 << 30, cpu=512, pids=4096)
    assert Limits(memory=64 << 20).over(defaults) == Limits(64 << 20, 512, 4096)
    assert Limits(memory=0, cpu=0).over(defaults) == Limits(0, 0, 4096)  # 0: unlimited


# -- on this machine ------------------------------------------------------------------

def test_without_cgroups_the_server_warns_and_runs_without_limits(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert Cgroups.setup("k", mountinfo="22 1 0:5 / /proc rw - proc proc rw\n",
                         proc_cgroup="0::/\n") is None
    # A mount it cannot make cgroups under (as without root): the same, no exception.
    assert Cgroups.setup("k", mountinfo="1 0 0:1 / /proc/no-such rw - cgroup cgroup rw,pids\n",
                         proc_cgroup="1:pids:/\n") is None
    out = capsys.readouterr()
    assert (out.out + out.err).count("tasks run without limits") == 2


def test_the_server_removes_what_a_previous_run_left(tmp_path: Path,
                                                     cgroups: Cgroups) -> None:
    leftover = {c: p / "task-crashed" for c, p in cgroups.parents.items()}
    for directory in leftover.values():
        directory.mkdir()
    sleeper = subprocess.Popen(["sleep", "1000"])
    try:
        for directory in leftover.values():
            (directory / "cgroup.procs").write_text(str(sleeper.pid))
        again = Cgroups.setup(str(tmp_path))  # a restart of the same server
        assert again is not None
        assert sleeper.wait(timeout=10) == -9
        assert not [d for d in leftover.values() if d.exists()]
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_a_step_cgroup_has_the_limits_and_is_gone_after(cgroups: Cgroups) -> None:
    async with cgroups.step("task-x", Limits(memory=64 << 20, cpu=512, pids=64)) as step:
        memory, pids = step.dirs["memory"], step.dirs["pids"]
        v1 = cgroups.version == 1
        limit = memory / ("memory.limit_in_bytes" if v1 else "memory.max")
        assert limit.read_text().strip() == str(64 << 20)
        assert (pids / "pids.max").read_text().strip() == "64"
        shares = step.dirs["cpu"] / ("cpu.shares" if v1 else "cpu.weight")
        assert shares.read_text().strip() == ("512" if v1 else "20")
        proc = await asyncio.create_subprocess_exec("sleep", "1000", preexec_fn=step.enter)
        assert step.pids() == {proc.pid}
    # Left running at the end of the step: killed, and the cgroup removed.
    assert await proc.wait() == -9
    assert not memory.exists() and not pids.exists()


# -- cgroup v2, on plain files --------------------------------------------------------
# This machine kind binds memory, cpu and pids to v1, so no v2 tree here can have
# them: the v2 file protocol (names, values, events) is checked on a directory laid
# out as the kernel would, the only way to run it on this machine.

def test_v2_delegates_the_controllers_and_writes_v2_files(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    layout = parse_layout(f"30 23 0:26 / {tmp_path} rw - cgroup2 cgroup2 rw\n", "0::/own\n")
    assert layout == Layout(2, dict.fromkeys(("memory", "cpu", "pids"), own))
    parents, problems = _make_parents(layout, "headwater/k")
    assert problems == []
    assert parents == dict.fromkeys(("memory", "cpu", "pids"), own / "headwater/k")
    for directory in (own, own / "headwater", own / "headwater/k"):
        assert (directory / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"

    step = StepCgroup(2, {c: own / "headwater/k/s" for c in parents},
                      Limits(memory=64 << 20, cpu=1024, pids=64))
    (own / "headwater/k/s").mkdir()
    (own / "headwater/k/s/memory.swap.max").write_text("max\n")
    step.create()
    written = {f: (own / "headwater/k/s" / f).read_text()
               for f in ("memory.max", "memory.swap.max", "cpu.weight", "pids.max")}
    assert written == {"memory.max": str(64 << 20), "memory.swap.max": "0",
                       "cpu.weight": "39", "pids.max": "64"}

    (own / "headwater/k/s/memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\n"
                                                     "oom_kill 0\n")
    assert step.breach_message("the task") is None  # at the limit, nothing killed yet
    (own / "headwater/k/s/memory.events").write_text("max 12\noom 1\noom_kill 1\n")
    assert (step.breach_message("the task") or "").startswith(
        "the task exceeded its memory limit of 64 MiB")
    (own / "headwater/k/s/cgroup.kill").write_text("")
    step.kill()
    assert (own / "headwater/k/s/cgroup.kill").read_text() == "1"


def test_v2_without_our_controllers_delegated_runs_without_limits(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "cgroup.controllers").write_text("io\n")  # none of ours delegated here
    assert Cgroups.setup("k", mountinfo=f"30 23 0:26 / {tmp_path} rw - cgroup2 cgroup2 rw\n",
                         proc_cgroup="0::/own\n") is None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to become another user")
def test_a_server_that_is_not_root_warns_and_runs_without_limits() -> None:
    script = ("from headwater.ci.resources.cgroups import Cgroups\n"
              "print('answer:', Cgroups.setup('not-root'))\n")
    done = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                           "--clear-groups", sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=60, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "answer: None" in output
    assert output.count("tasks run without limits") == 1
    assert "Permission denied" in output
