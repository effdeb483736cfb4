"""Build logs on a real server (SQLite), at a 1 MB cap: what a task prints past the cap
is dropped after one truncation line while the task runs on, and a long log reaches
`watch` and `/events` whole and in order.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headwater.ci.buildlog import truncation_notice
from headwater.cli.app import app
from tests.ci.server.conftest import Fly, Server

CAP = 2**20


@pytest.fixture
def server_args() -> tuple[str, ...]:
    return ("--max-build-log-size", "1MB")


def _set(fly: Fly, tmp_path: Path, name: str, script: str) -> None:
    path = tmp_path / f"{name}.yml"
    path.write_text(textwrap.dedent(f"""
        jobs:
        - name: j
          plan:
          - task: t
            config:
              platform: linux
              run: {{path: sh, args: [-c, {json.dumps(script)}]}}
        """))
    code, out = fly("set-pipeline", "-p", name, "-c", str(path), "-n")
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", name)
    assert code == 0, out


def _events(server: Server, pipeline: str) -> list[dict[str, Any]]:
    with server.api() as api:
        build = api.get("/builds", params={"pipeline": pipeline, "job": "j"}).json()[0]
        text = api.get(f"/builds/{build['id']}/events").text
    return [{"id": int(block.split("\n")[0].removeprefix("id: ")),
             **json.loads(block.split("data: ", 1)[1])}
            for block in text.split("\n\n") if block.startswith("id: ")]


def test_a_task_printing_past_the_cap_is_truncated_and_ends_with_its_exit_status(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    # 3 MB of output, then more after the cap, then its own exit status.
    _set(fly, tmp_path, "flood", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 3000000; "
                                 "echo after the flood >&2; exit 3")
    code, out = fly("trigger-job", "-j", "flood/j", "-w")
    assert code == 1, out[-500:]  # failed, as its exit status 3 says
    notice = truncation_notice(CAP)
    # The cut falls inside a line: the notice starts a line of its own.
    assert out.endswith("vw\n" + notice + "failed\n"), out[-500:]
    assert "after the flood" not in out

    events = _events(ci_server, "flood")
    logs = [e["data"]["payload"] for e in events if e["event"] == "log"]
    assert logs[-1] == "\n" + notice
    assert sum(notice in text for text in logs) == 1
    assert len("".join(logs).encode()) <= CAP + len(logs[-1].encode())
    assert "".join(logs[:-1]).startswith("0123456789abcdefghijklmnopqrstuvwxyz\n" * 100)
    finish = [e["data"] for e in events if e["event"] == "finish-task"]
    assert [f["exit_status"] for f in finish] == [3]
    assert events[-1]["data"] == {"status": "failed", "time": events[-1]["data"]["time"]}
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))


def test_a_long_log_reaches_watch_and_events_whole_and_in_order(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    # Many small writes: thousands of log events, stored in batches.
    _set(fly, tmp_path, "long", 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo "line $i"; '
                                'done')
    expected = "".join(f"line {i}\n" for i in range(1, 20001))
    code, live = fly("trigger-job", "-j", "long/j", "-w")
    assert code == 0, live[-500:]
    assert expected in live
    code, stored = fly("watch", "-j", "long/j", "-b", "1")
    assert code == 0, stored[-500:]
    assert expected in stored
    events = _events(ci_server, "long")
    assert "".join(e["data"]["payload"] for e in events if e["event"] == "log") == expected
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))


def test_a_bad_log_size_flag_is_refused_with_what_a_size_looks_like(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["server", "--data-dir", str(tmp_path / "d"),
                                      "--max-build-log-size", "10XB"])
    assert result.exit_code == 2
    assert "--max-build-log-size: invalid size" in result.output
    assert "100MB" in result.output
    assert not (tmp_path / "d").exists()
