"""Limits on a real `headwater server`: a fork bomb and a memory hog end their own
tasks with the limit named, while the server answers and another build runs (the
bomb's build keeps every core busy with a second task until the test aborts it).

The server is started with small limits (64 processes, 64 MiB) so the bombs stay
bounded on a shared machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from headwater.ci.resources.cgroups import parse_layout
from headwater.cli.app import app
from headwater.devstack.ports import pick
from tests.ci.server.conftest import Fly, Server, wait_for

needs_cgroups = pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/fs/cgroup").is_dir(),
                                   reason="needs root and cgroups")

PIPELINE = """\
jobs:
- name: bomb
  plan:
  - in_parallel:
    - task: bomb
      config:
        platform: linux
        run: {path: bash, args: [-c, ':(){ :|:& };:; wait; sleep 600']}
    - task: busy
      config:
        platform: linux
        run:
          path: sh
          args: [-c, 'for i in 1 2 3 4; do timeout 120 sh -c "while :; do :; done" & done; wait']
- name: hog
  plan:
  - task: hog
    config:
      platform: linux
      run: {path: sh, args: [-c, 'head -c 10G /dev/zero | tail']}
- name: other
  plan:
  - task: hello
    config:
      platform: linux
      run: {path: sh, args: [-c, 'echo hello from another build']}
"""


@pytest.fixture
def ci_server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "server"
    data.mkdir()
    server = Server(data_dir=data, port=pick(None, set()), args=[
        "--default-task-pids-limit", "64", "--default-task-memory-limit", "64MB"])
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _builds(fly: Fly, job: str) -> list[dict[str, Any]]:
    code, out = fly("builds", "-j", job, "--json")
    assert code == 0, out
    return list(json.loads(out))


def _finished(fly: Fly, job: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        rows = [b for b in _builds(fly, job) if b["status"] not in ("pending", "started")]
        return rows[0] if rows else None

    return wait_for(done, timeout=60)  # type: ignore[return-value]


@needs_cgroups
def test_a_fork_bomb_ends_its_build_while_the_server_answers_and_builds(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    config = tmp_path / "limits.yml"
    config.write_text(PIPELINE)
    for args in (["set-pipeline", "-p", "limits", "-c", str(config), "-n"],
                 ["unpause-pipeline", "-p", "limits"]):
        code, out = fly(*args)
        assert code == 0, out

    code, out = fly("trigger-job", "-j", "limits/bomb")
    assert code == 0, out
    wait_for(lambda: any(b["status"] == "started" for b in _builds(fly, "limits/bomb")))
    # While the bomb's build runs (its busy task burns every core until aborted):
    for _ in range(5):
        started = time.monotonic()
        assert httpx.get(ci_server.url + "/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 5
        time.sleep(0.2)
    code, out = fly("trigger-job", "-j", "limits/other", "-w")
    assert code == 0, out
    assert "hello from another build" in out
    [bomb] = _builds(fly, "limits/bomb")
    assert bomb["status"] == "started"

    code, out = fly("abort-build", "-j", "limits/bomb", "-b", str(bomb["name"]))
    assert code == 0, out
    assert _finished(fly, "limits/bomb")["status"] == "aborted"
    code, out = fly("watch", "-j", "limits/bomb", "-b", str(bomb["name"]))
    assert "the task hit its fork limit of 64 processes" in out

    code, out = fly("trigger-job", "-j", "limits/hog", "-w")
    assert code == 2, out  # errored
    assert "the task exceeded its memory limit of 64 MiB" in textwrap.dedent(out)
    assert httpx.get(ci_server.url + "/healthz", timeout=5).status_code == 200

    # The steps' cgroups are gone after them, the server's own after it stops.
    parent = _server_cgroup(ci_server)
    assert [d for d in parent.iterdir() if d.is_dir()] == []
    ci_server.stop()
    assert not parent.exists()


def _server_cgroup(server: Server) -> Path:
    """The server's parent in the pids hierarchy (the server is this test's child)."""
    layout = parse_layout(Path("/proc/self/mountinfo").read_text(),
                          Path("/proc/self/cgroup").read_text())
    assert layout is not None
    key = hashlib.sha256(str(server.data_dir.resolve()).encode()).hexdigest()[:12]
    return layout.dirs["pids"] / "headwater" / key


@pytest.mark.parametrize(("flags", "message"), [
    (["--default-task-memory-limit", "lots"],
     '--default-task-memory-limit: invalid size "lots"'),
    (["--default-get-timeout", "1d"], 'invalid duration "1d"'),
])
def test_a_bad_limit_flag_is_a_clear_error(tmp_path: Path, flags: list[str],
                                           message: str) -> None:
    result = CliRunner().invoke(app, ["server", "--data-dir", str(tmp_path), *flags])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
