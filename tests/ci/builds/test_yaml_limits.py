"""YAML a build reads from its artifacts is bounded: a task file, a load_var file and a
set_pipeline var file holding an alias bomb error their step at once, naming the file and
line, and an oversized file is refused without being read whole (yamlload.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater import yamlload
from headwater.ci.build.engine import run_build
from headwater.ci.plan import Do, LoadVar, Plan, SetPipeline, Task
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh
from tests.yamlbomb import BOMB, BOMB_LINE

BOMB_ERROR = "with its aliases expanded, the YAML is more than 1,000,000 nodes"


def bomb_files() -> Plan:
    """A task whose output `files` holds `bomb.yml` (the bomb) and `ok.yml`."""
    return sh("files", f"cat > files/bomb.yml <<'EOF'\n{BOMB}EOF\necho 'v: 1' > files/ok.yml\n"
                       "head -c 3000 /dev/zero | tr '\\0' 'x' > files/big.yml\n",
              outputs=[{"name": "files"}])


async def build(tmp_path: Path, step: Plan, **ctx: Any) -> tuple[str, RecordingDelegate, float]:
    delegate = RecordingDelegate()
    plan = Do(id="do", steps=[bomb_files(), step])
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", **ctx), delegate=delegate)
    started = next(e.time for e in delegate.events
                   if e.type.startswith("initialize") and e.payload["origin"]["id"] == step.id)
    ended = next(e.time for e in delegate.events if e.type == "error")
    return status, delegate, ended - started


async def test_a_task_file_bomb_errors_the_step_at_its_line(tmp_path: Path) -> None:
    status, d, seconds = await build(tmp_path, Task(id="t", name="t", file="files/bomb.yml"))
    assert status == "errored"
    assert d.errors() == [f"task file files/bomb.yml:{BOMB_LINE}: {BOMB_ERROR} (an alias "
                          "bomb?): refused (--yaml-max-nodes raises the limit)"]
    assert seconds < 5


async def test_a_load_var_bomb_errors_the_step_at_its_line(tmp_path: Path) -> None:
    status, d, seconds = await build(tmp_path, LoadVar(id="lv", name="v",
                                                       file="files/bomb.yml"))
    assert status == "errored"
    assert d.errors()[0].startswith(f"load_var: files/bomb.yml:{BOMB_LINE}: {BOMB_ERROR}")
    assert seconds < 5


async def test_a_set_pipeline_var_file_bomb_errors_the_step_before_the_delegate(
        tmp_path: Path) -> None:
    step = SetPipeline(id="sp", name="other", file="files/ok.yml", var_files=["files/bomb.yml"])
    status, d, seconds = await build(tmp_path, step)
    assert status == "errored"
    assert d.errors()[0].startswith(f"set_pipeline var file files/bomb.yml:{BOMB_LINE}: "
                                    f"{BOMB_ERROR}")
    assert d.pipelines == []
    assert seconds < 5


async def test_files_over_the_size_limit_are_refused_by_every_yaml_step(
        tmp_path: Path) -> None:
    small = yamlload.Limits(max_bytes=2000)
    steps: list[tuple[Task | LoadVar | SetPipeline, str]] = [
        (Task(id="t", name="t", file="files/big.yml"), "task file"),
        (LoadVar(id="lv", name="v", file="files/big.yml"), "load_var file"),
        (SetPipeline(id="sp", name="p", file="files/big.yml"), "set_pipeline file"),
    ]
    for step, said in steps:
        status, d, _ = await build(tmp_path / step.id, step, yaml_limits=small)
        assert status == "errored"
        assert d.errors() == [f"{said} 'files/big.yml' is larger than 2,000 bytes: refused "
                              "before reading it whole (--yaml-max-bytes raises the limit)"]
