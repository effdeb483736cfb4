"""The task step: config, inputs and outputs as directories, params as env, exit status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.build.local import LocalExecutor
from headwater.ci.plan import Do, OnFailure, Plan, Task
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh


async def build(tmp_path: Path, plan: Plan, **ctx: Any) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", **ctx), delegate=delegate)
    return status, delegate


def in_order(*steps: Plan) -> Do:
    return Do(id="do", steps=list(steps))


async def test_outputs_become_inputs_of_later_steps_as_copies(tmp_path: Path) -> None:
    plan = in_order(
        sh("make", "echo 1.2.3 > version/number", outputs=[{"name": "version"}]),
        sh("use", "cat version/number; echo changed > version/number",
           inputs=[{"name": "version"}]),
        sh("again", "cat version/number", inputs=[{"name": "version"}]),
    )
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    assert d.log("use") == "1.2.3\n"
    assert d.log("again") == "1.2.3\n"  # a task's changes to its inputs stay its own
    assert (tmp_path / "build" / "version" / "number").read_text() == "1.2.3\n"
    assert not (tmp_path / "build" / ".scratch").exists()


async def test_paths_mappings_and_run_dir(tmp_path: Path) -> None:
    plan = in_order(
        sh("make", "mkdir -p out/bin && printf '#!/bin/sh\\necho tool ran in $(pwd)\\n' "
                   "> out/bin/tool && chmod +x out/bin/tool",
           outputs=[{"name": "built", "path": "out"}], output_mapping={"built": "tools"}),
        Task(id="use", name="use", input_mapping={"kit": "tools"}, config={
            "platform": "linux",
            "inputs": [{"name": "kit", "path": "deps/kit"}],
            "run": {"path": "./bin/tool", "dir": "deps/kit"}}),
    )
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert d.log("use").startswith("tool ran in ")
    assert d.log("use").rstrip().endswith("/deps/kit")


async def test_params_are_env_and_step_params_override_config_params(tmp_path: Path) -> None:
    task = sh("env", 'echo "$A|$B|$N|$T|$J|$E"',
              params={"A": "from config", "B": "from config", "N": 3, "T": True,
                      "J": {"k": [1, "x"]}, "E": None},
              step_id="env")
    task = task.model_copy(update={"params": {"B": "from step"}})
    status, d = await build(tmp_path, task)
    assert status == "succeeded"
    assert d.log("env") == 'from config|from step|3|true|{"k":[1,"x"]}|\n'


async def test_tasks_get_the_build_metadata_as_env(tmp_path: Path) -> None:
    status, d = await build(tmp_path, sh("meta", "env | grep -E '^(BUILD|ATC)_' | sort"))
    assert status == "succeeded"
    assert d.log("meta").splitlines() == [
        "ATC_EXTERNAL_URL=http://ci.example:8080",
        "BUILD_ID=42",
        "BUILD_JOB_NAME=unit",
        "BUILD_NAME=7",
        "BUILD_PIPELINE_NAME=app",
        "BUILD_TEAM_NAME=main",
        "BUILD_URL=http://ci.example:8080/teams/main/pipelines/app/jobs/unit/builds/7",
    ]


async def test_a_task_does_not_inherit_the_servers_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_TEST_SECRET", "hunter2")
    status, d = await build(tmp_path, sh("env", "env"))
    assert status == "succeeded"
    assert "hunter2" not in d.log("env")


async def test_a_nonzero_exit_fails_the_task_and_its_outputs_still_exist(
        tmp_path: Path) -> None:
    plan = OnFailure(
        id="f",
        step=sh("unit", "echo 'FAIL: test_x' > report/summary; exit 3",
                outputs=[{"name": "report"}]),
        hook=sh("notify", "cat report/summary", inputs=[{"name": "report"}]))
    status, d = await build(tmp_path, plan)
    assert status == "failed"
    assert d.of("finish-task", "unit")[0]["exit_status"] == 3
    assert d.log("notify") == "FAIL: test_x\n"


async def test_missing_inputs_error_the_build_naming_them(tmp_path: Path) -> None:
    task = sh("unit", "true", inputs=[{"name": "repo"}, {"name": "version"},
                                      {"name": "cache", "optional": True}],
              input_mapping={"version": "semver"})
    status, d = await build(tmp_path, task)
    assert status == "errored"
    assert d.errors() == ["missing inputs: repo, version (mapped to 'semver'); this build "
                          "has the artifacts: none (get them first, or use input_mapping)"]
    assert d.of("start-task") == []


async def test_an_optional_input_may_be_missing(tmp_path: Path) -> None:
    task = sh("unit", "ls", inputs=[{"name": "cache", "optional": True}])
    status, d = await build(tmp_path, task)
    assert status == "succeeded"
    assert d.log("unit") == ""


def task_file_plan(text: str, **step: Any) -> Plan:
    write = sh("write", f"cat > ci/task.yml <<'EOF'\n{text}\nEOF",
               outputs=[{"name": "ci"}])
    return in_order(write, Task(id="run", name="run", file="ci/task.yml", **step))


async def test_a_task_file_from_an_artifact_with_vars(tmp_path: Path) -> None:
    text = ("platform: linux\nparams: {GREETING: ((greeting))}\n"
            "run: {path: sh, args: [-c, 'echo $GREETING ((who.name))']}")
    plan = task_file_plan(text, vars={"greeting": "hello", "who": {"name": "world"}})
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert d.log("run") == "hello world\n"


async def test_undefined_vars_in_a_task_file_error_the_build(tmp_path: Path) -> None:
    plan = task_file_plan("platform: linux\nrun: {path: ((tool))}")
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith("undefined vars in task file ci/task.yml: tool")


@pytest.mark.parametrize(("text", "problem"), [
    ("platform: linux\nrun: {path: sh}\nimage: x", "image: unknown key"),
    ("run: {path: sh}", "missing 'platform'"),
    ("platform: linux\nrun: {args: [x]}", "missing path to executable to run"),
    ("platform: linux\nrun: {path: sh}\ninputs: [{name: a, path: ../../etc}]",
     "inputs.0.path: '../../etc' must be a relative path"),
    ("platform: linux\nrun: {path: sh}\noutputs: [{name: a}, {name: a}]",
     "output names must be unique: a"),
    ("platform: linux\nrun: {path: sh}\nparams: {A: ]}", "task file ci/task.yml line 3: "
                                                          "invalid YAML"),
])
async def test_an_invalid_task_config_errors_the_build_saying_what_is_wrong(
        tmp_path: Path, text: str, problem: str) -> None:
    status, d = await build(tmp_path, task_file_plan(text))
    assert status == "errored"
    assert problem in d.errors()[0]


async def test_a_task_file_that_is_not_there(tmp_path: Path) -> None:
    status, d = await build(tmp_path, Task(id="t", name="t", file="repo/ci/task.yml"))
    assert status == "errored"
    assert d.errors()[0].startswith("task file 'repo/ci/task.yml': no artifact named 'repo'")


@pytest.mark.parametrize("sandboxed", [True, False])
async def test_an_executable_that_does_not_exist_errors_the_build(tmp_path: Path,
                                                                  sandboxed: bool) -> None:
    task = Task(id="t", name="t", config={"platform": "linux", "run": {"path": "no-such-tool"}})
    executor = LocalExecutor() if sandboxed else LocalExecutor(bwrap=None)
    status, d = await build(tmp_path, task, executor=executor)
    assert status == "errored"
    assert d.errors() == ["task 't': cannot run 'no-such-tool': no such executable; "
                          "run.path is looked up in PATH, or relative to run.dir"]


async def test_local_vars_and_inline_config(tmp_path: Path) -> None:
    # Inline config may use ((.:var)) only; pipeline vars were resolved when it was set.
    task = sh("t", "echo '((unresolved))'")
    status, d = await build(tmp_path, task)
    assert status == "succeeded"
    assert d.log("t") == "((unresolved))\n"


async def test_a_run_path_linked_out_of_the_build_does_not_tell_whether_a_host_file_exists(
        tmp_path: Path) -> None:
    # A task leaves `out/probe` pointing at a host path; the next runs it. Whether the
    # host file exists (and is executable or not) must make no difference to what the
    # build reports: the host is not looked at outside what the sandbox shows.
    secret = tmp_path / "host" / "secret"
    secret.parent.mkdir()
    secret.write_text("not for tasks\n")  # exists, not executable
    outcomes = []
    for target in (secret, tmp_path / "host" / "missing"):
        plan = in_order(
            sh("link", f"ln -s {target} out/probe", outputs=[{"name": "out"}]),
            Task(id="run", name="run", config={
                "platform": "linux", "inputs": [{"name": "out"}],
                "run": {"path": "out/probe"}}),
        )
        status, d = await build(tmp_path / target.name, plan)
        outcomes.append((status, d.errors(), d.log("run")))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "failed"  # exec in the sandbox, which sees no such file
    assert "not executable" not in repr(outcomes[0])
