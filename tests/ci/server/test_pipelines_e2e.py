"""The CI engine end to end: a real `headwater server`, its SQLite store, the CLI.

Each test sets a pipeline with `set-pipeline`, lets the checker and the scheduler do
their work, and looks at the builds through the CLI and the API, as a user would.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.ci.server.conftest import Fly, Server, wait_for, write_type
from tests.ci.server.resource_types import FILE_TYPE


def _set(fly: Fly, tmp_path: Path, name: str, text: str, *extra: str) -> None:
    path = tmp_path / f"{name}.yml"
    path.write_text(textwrap.dedent(text))
    code, out = fly("set-pipeline", "-p", name, "-c", str(path), "-n", *extra)
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", name)
    assert code == 0, out


def _file_resource(server: Server, tmp_path: Path, lines: str) -> Path:
    """The `file` resource type on the server, and a versions file holding `lines`."""
    write_type(server, "file", FILE_TYPE)
    versions = tmp_path / "versions"
    versions.write_text(lines)
    return versions


def _builds(fly: Fly, job: str) -> list[dict[str, Any]]:
    code, out = fly("builds", "-j", job, "--json")
    assert code == 0, out
    return list(json.loads(out))


def _finished(fly: Fly, job: str, count: int = 1) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        rows = [b for b in _builds(fly, job)
                if b["status"] not in ("pending", "started")]
        return rows if len(rows) >= count else None

    return wait_for(done)  # type: ignore[return-value]


def _log(fly: Fly, job: str, build: str) -> tuple[int, str]:
    return fly("watch", "-j", job, "-b", build)


def test_two_jobs_chained_with_passed(ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    versions = _file_resource(ci_server, tmp_path, "1.0.0\n")
    _set(fly, tmp_path, "chain", f"""
        resources:
        - name: src
          type: file
          source: {{file: {versions}}}
        jobs:
        - name: unit
          plan:
          - get: src
            trigger: true
          - task: test
            config:
              platform: linux
              inputs: [{{name: src}}]
              run: {{path: sh, args: [-c, 'echo "unit $(cat src/version)"']}}
        - name: deploy
          plan:
          - get: src
            trigger: true
            passed: [unit]
          - task: deploy
            config:
              platform: linux
              inputs: [{{name: src}}]
              run: {{path: sh, args: [-c, 'echo "deploying $(cat src/version)"']}}
        """)
    deploy = _finished(fly, "chain/deploy")
    assert deploy[0]["status"] == "succeeded"
    code, out = _log(fly, "chain/deploy", "1")
    assert code == 0 and "deploying 1.0.0" in out, out

    versions.write_text("1.0.0\n1.0.1\n")
    code, out = fly("check-resource", "-r", "chain/src")
    assert code == 0 and "v: 1.0.1" in out, out
    deploy = _finished(fly, "chain/deploy", 2)
    code, out = _log(fly, "chain/deploy", "2")
    assert code == 0 and "deploying 1.0.1" in out, out
    assert [b["status"] for b in _builds(fly, "chain/unit")] == ["succeeded", "succeeded"]


def test_a_failing_task_runs_on_failure_and_the_build_fails(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    _set(fly, tmp_path, "fails", """
        jobs:
        - name: j
          plan:
          - task: boom
            config:
              platform: linux
              run: {path: sh, args: [-c, 'echo about to fail; exit 3']}
          on_failure:
            task: tell
            config:
              platform: linux
              run: {path: echo, args: [on_failure ran]}
          on_success:
            task: never
            config:
              platform: linux
              run: {path: echo, args: [on_success ran]}
        """)
    code, out = fly("trigger-job", "-j", "fails/j", "-w")
    assert code == 1, out
    assert "about to fail" in out and "on_failure ran" in out
    assert "on_success ran" not in out
    assert out.rstrip().endswith("failed")


def test_try_and_ensure(ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    _set(fly, tmp_path, "hooks", """
        jobs:
        - name: j
          plan:
          - try:
              task: may-fail
              config:
                platform: linux
                run: {path: sh, args: [-c, 'echo trying; exit 1']}
          - task: after
            config:
              platform: linux
              run: {path: echo, args: [went on after try]}
          ensure:
            task: cleanup
            config:
              platform: linux
              run: {path: echo, args: [ensure ran]}
        """)
    code, out = fly("trigger-job", "-j", "hooks/j", "-w")
    assert code == 0, out
    assert out.index("trying") < out.index("went on after try") < out.index("ensure ran")


def test_a_step_over_its_timeout_errors_the_build(ci_server: Server, fly: Fly,
                                                  tmp_path: Path) -> None:
    _set(fly, tmp_path, "slow", """
        jobs:
        - name: j
          plan:
          - task: sleepy
            timeout: 1s
            config:
              platform: linux
              run: {path: sleep, args: ["60"]}
        """)
    code, out = fly("trigger-job", "-j", "slow/j", "-w")
    assert code == 2, out
    assert "timeout" in out and out.rstrip().endswith("errored")


def test_an_external_resource_type_puts_and_gets(ci_server: Server, fly: Fly,
                                                 tmp_path: Path) -> None:
    versions = _file_resource(ci_server, tmp_path, "")
    _set(fly, tmp_path, "ext", f"""
        resources:
        - name: out
          type: file
          source: {{file: {versions}}}
          check_every: never
        jobs:
        - name: make
          plan:
          - task: produce
            config:
              platform: linux
              outputs: [{{name: built}}]
              run: {{path: sh, args: [-c, 'echo 2.0.0 > built/v']}}
          - put: out
            params: {{from: built/v}}
          - task: show
            config:
              platform: linux
              inputs: [{{name: out}}]
              run: {{path: sh, args: [-c, 'echo "implicit get saw $(cat out/version)"']}}
        """)
    code, out = fly("trigger-job", "-j", "ext/make", "-w")
    assert code == 0, out
    assert "pushed 2.0.0" in out and "implicit get saw 2.0.0" in out
    assert versions.read_text() == "2.0.0\n"
    with ci_server.api() as api:
        rows = api.get("/teams/main/pipelines/ext/resources/out/versions").json()
    assert [r["version"] for r in rows] == [{"v": "2.0.0"}]


def test_a_secret_var_is_redacted_in_logs_and_answers(ci_server: Server, fly: Fly,
                                                       tmp_path: Path) -> None:
    _set(fly, tmp_path, "secret", """
        jobs:
        - name: j
          plan:
          - task: leak
            params: {PASSWORD: ((password))}
            config:
              platform: linux
              run:
                path: sh
                # The second line writes the secret in two pieces, a pause apart: two
                # chunks of output, each holding half of it.
                args: [-c, 'echo "the password is $PASSWORD";
                            printf "again: hunter"; sleep 0.5; printf "2-s3cret!\n"']
        """, "-v", "password=hunter2-s3cret")
    code, out = fly("trigger-job", "-j", "secret/j", "-w")
    assert code == 0, out
    assert "the password is ((redacted))" in out and "hunter2-s3cret" not in out
    assert "again: ((redacted))!" in out
    code, out = fly("get-pipeline", "-p", "secret", "--json")
    assert code == 0 and "hunter2-s3cret" not in out and "((password))" in out
    with ci_server.api() as api:
        build = api.get("/builds", params={"pipeline": "secret", "job": "j"}).json()[0]
        events = api.get(f"/builds/{build['id']}/events").text
    assert "hunter2-s3cret" not in events and "((redacted))" in events


def test_missing_vars_are_refused_at_set_time(ci_server: Server, fly: Fly,
                                              tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("jobs:\n- name: j\n  plan:\n  - task: t\n    params: {A: ((a)), B: ((b))}\n"
                    "    config: {platform: linux, run: {path: 'true'}}\n")
    code, out = fly("set-pipeline", "-p", "p", "-c", str(path), "-n")
    assert code != 0
    assert "a" in out and "b" in out and "undefined" in out.lower(), out
    code, out = fly("pipelines", "--json")
    assert json.loads(out) == []


def test_a_new_pipeline_starts_paused_and_webhook_checks_at_once(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    versions = _file_resource(ci_server, tmp_path, "a\n")
    path = tmp_path / "hook.yml"
    path.write_text(textwrap.dedent(f"""
        resources:
        - name: src
          type: file
          source: {{file: {versions}}}
          check_every: never
          webhook_token: s3cr3t-hook
        jobs:
        - name: j
          plan:
          - get: src
            trigger: true
        """))
    code, out = fly("set-pipeline", "-p", "hook", "-c", str(path), "-n")
    assert code == 0 and "paused" in out, out
    code, out = fly("pipelines", "--json")
    assert [(p["name"], p["paused"]) for p in json.loads(out)] == [("hook", True)]
    url = ci_server.url + "/api/v1/teams/main/pipelines/hook/resources/src/check/webhook"
    import httpx  # noqa: PLC0415

    assert httpx.post(url, params={"webhook_token": "wrong"}).status_code == 401
    assert httpx.post(url, params={"webhook_token": "s3cr3t-hook"}).status_code == 201
    with ci_server.api() as api:
        rows = api.get("/teams/main/pipelines/hook/resources/src/versions").json()
    assert [r["version"] for r in rows] == [{"v": "a"}]
    fly("unpause-pipeline", "-p", "hook")
    assert _finished(fly, "hook/j")[0]["status"] == "succeeded"


def test_abort_runs_on_abort_and_exits_3(ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    _set(fly, tmp_path, "abort", """
        jobs:
        - name: j
          plan:
          - task: long
            config:
              platform: linux
              run: {path: sh, args: [-c, 'echo started; sleep 120']}
          on_abort:
            task: said
            config:
              platform: linux
              run: {path: echo, args: [on_abort ran]}
        """)
    code, out = fly("trigger-job", "-j", "abort/j")
    assert code == 0, out

    def started() -> bool:
        return any(b["status"] == "started" for b in _builds(fly, "abort/j"))

    wait_for(started)
    code, out = fly("abort-build", "-j", "abort/j", "-b", "1")
    assert code == 0, out
    code, out = _log(fly, "abort/j", "1")
    assert code == 3, out
    assert "on_abort ran" in out


def test_execute_runs_a_task_with_local_inputs_and_outputs(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "name").write_text("world")
    task = tmp_path / "task.yml"
    task.write_text(textwrap.dedent("""
        platform: linux
        inputs: [{name: src}]
        outputs: [{name: out}]
        run:
          path: sh
          args: [-c, 'echo "hello $(cat src/name)" | tee out/greeting']
        """))
    dest = tmp_path / "dest"
    code, out = fly("execute", "-c", str(task), "-i", f"src={src}", "-o", f"out={dest}")
    assert code == 0, out
    assert "hello world" in out
    assert (dest / "greeting").read_text() == "hello world\n"


def test_a_restart_errors_running_builds_and_pending_ones_still_run(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    _set(fly, tmp_path, "restart", """
        jobs:
        - name: j
          serial: true
          plan:
          - task: long
            config:
              platform: linux
              run:
                path: sh
                args: [-c, 'echo "run $BUILD_NAME"; [ "$BUILD_NAME" != 1 ] || sleep 60']
        """)
    for _ in range(2):
        code, out = fly("trigger-job", "-j", "restart/j")
        assert code == 0, out

    def first_started() -> bool:
        return [b["status"] for b in _builds(fly, "restart/j")] == ["pending", "started"]

    wait_for(first_started)
    ci_server.stop()
    ci_server.start()
    rows = _finished(fly, "restart/j", 2)
    assert {b["name"]: b["status"] for b in rows} == {"1": "errored", "2": "succeeded"}
    code, out = _log(fly, "restart/j", "1")
    assert code == 2 and "restart" in out, out


def test_build_logs_beyond_the_retention_are_dropped(ci_server: Server, fly: Fly,
                                                     tmp_path: Path) -> None:
    _set(fly, tmp_path, "keep", """
        jobs:
        - name: j
          build_logs_to_retain: 1
          plan:
          - task: say
            config:
              platform: linux
              run: {path: sh, args: [-c, 'echo "log of $BUILD_NAME"']}
        """)
    for name in ("1", "2"):
        code, out = fly("trigger-job", "-j", "keep/j", "-w")
        assert code == 0 and f"log of {name}" in out, out
    code, out = _log(fly, "keep/j", "2")
    assert "log of 2" in out
    code, out = _log(fly, "keep/j", "1")
    assert "log of 1" not in out and out.rstrip().endswith("succeeded"), out


def test_serial_groups_hold_a_job_while_another_of_the_group_runs(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    task = """
          plan:
          - task: work
            config:
              platform: linux
              run: {path: sleep, args: ["4"]}"""
    _set(fly, tmp_path, "groups", f"""
        jobs:
        - name: a
          serial_groups: [deploy]{task}
        - name: b
          serial_groups: [deploy]{task}
        """)
    assert fly("trigger-job", "-j", "groups/a")[0] == 0
    wait_for(lambda: [b["status"] for b in _builds(fly, "groups/a")] == ["started"])
    assert fly("trigger-job", "-j", "groups/b")[0] == 0
    a = _finished(fly, "groups/a")[0]
    b = _finished(fly, "groups/b")[0]
    assert a["status"] == b["status"] == "succeeded"
    assert b["start_time"] >= a["end_time"]


def test_a_paused_pipeline_holds_its_pending_builds_until_unpaused(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    path = tmp_path / "held.yml"
    path.write_text(textwrap.dedent("""
        jobs:
        - name: j
          plan:
          - task: t
            config:
              platform: linux
              run: {path: "true"}
        """))
    code, out = fly("set-pipeline", "-p", "held", "-c", str(path), "-n")
    assert code == 0, out  # a new pipeline starts paused
    code, out = fly("trigger-job", "-j", "held/j")
    assert code == 0, out
    for _ in range(3):  # three scheduler ticks of 1 s: still pending
        time.sleep(1.0)
        assert [b["status"] for b in _builds(fly, "held/j")] == ["pending"]
    code, out = fly("unpause-pipeline", "-p", "held")
    assert code == 0, out
    assert [b["status"] for b in _finished(fly, "held/j")] == ["succeeded"]


def test_a_paused_job_holds_its_builds_and_jobs_shows_it(ci_server: Server, fly: Fly,
                                                          tmp_path: Path) -> None:
    _set(fly, tmp_path, "jp", """
        jobs:
        - name: j
          plan:
          - task: t
            config:
              platform: linux
              run: {path: "true"}
        """)
    code, out = fly("pause-job", "-j", "jp/j")
    assert code == 0 and "paused 'j'" in out, out
    code, out = fly("jobs", "-p", "jp", "--json")
    assert code == 0 and [(j["name"], j["paused"]) for j in json.loads(out)] == [("j", True)]
    code, out = fly("trigger-job", "-j", "jp/j")
    assert code == 0, out
    for _ in range(3):  # three scheduler ticks of 1 s: still pending
        time.sleep(1.0)
        assert [b["status"] for b in _builds(fly, "jp/j")] == ["pending"]
    code, out = fly("unpause-job", "-j", "jp/j")
    assert code == 0, out
    assert [b["status"] for b in _finished(fly, "jp/j")] == ["succeeded"]
    code, out = fly("jobs", "-p", "jp")
    assert code == 0 and "succeeded" in out and "no" in out, out
    code, out = fly("pause-job", "-j", "jp/nope")
    assert code == 2 and "job jp/nope not found" in out, out


def test_pin_resource_makes_builds_use_that_version_until_unpinned(
        ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    versions = _file_resource(ci_server, tmp_path, "1.0.0\n")
    _set(fly, tmp_path, "pins", f"""
        resources:
        - name: src
          type: file
          source: {{file: {versions}}}
        - name: fixed
          type: file
          source: {{file: {versions}}}
          version: {{v: 1.0.0}}
        jobs:
        - name: show
          plan:
          - get: src
          - get: fixed
          - task: t
            config:
              platform: linux
              inputs: [{{name: src}}]
              run: {{path: sh, args: [-c, 'echo "using $(cat src/version)"']}}
        """)
    code, out = fly("check-resource", "-r", "pins/src")
    assert code == 0, out
    with versions.open("a") as f:
        f.write("1.0.1\n")
    code, out = fly("check-resource", "-r", "pins/src")
    assert code == 0 and "1.0.1" in out, out
    # A resource pinned in its config is checked from its pin: that version is stored.
    code, out = fly("check-resource", "-r", "pins/fixed")
    assert code == 0 and "v: 1.0.0" in out, out

    code, out = fly("pin-resource", "-r", "pins/src", "-v", "v:1.0.0", "-c", "rollback")
    assert code == 0 and 'pinned \'pins/src\' with version {"v": "1.0.0"}' in out, out
    code, out = fly("resources", "-p", "pins", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["src"]["pinned_version"] == {"v": "1.0.0"}
    assert rows["src"]["pin_comment"] == "rollback" and not rows["src"]["pinned_in_config"]
    code, out = fly("trigger-job", "-j", "pins/show", "-w")
    assert code == 0 and "using 1.0.0" in out, out

    code, out = fly("unpin-resource", "-r", "pins/src")
    assert code == 0, out
    code, out = fly("trigger-job", "-j", "pins/show", "-w")
    assert code == 0 and "using 1.0.1" in out, out

    code, out = fly("pin-resource", "-r", "pins/src", "-v", "v:9.9.9")
    assert code == 2 and 'could not find version matching {"v": "9.9.9"}' in out, out
    code, out = fly("pin-resource", "-r", "pins/fixed", "-v", "v:1.0.0")
    assert code == 2 and "pinned to {'v': '1.0.0'} in the pipeline config" in out, out
    code, out = fly("pin-resource", "-r", "pins/src", "-v", "no-colon")
    assert code == 2 and "write a version field as key:value" in out, out


def test_across_sets_one_pipeline_per_value(ci_server: Server, fly: Fly,
                                             tmp_path: Path) -> None:
    _set(fly, tmp_path, "parent", """
        jobs:
        - name: spawn
          plan:
          - task: write
            config:
              platform: linux
              outputs: [{name: ci}]
              run:
                path: sh
                args:
                - -c
                - |
                  cat > ci/p.yml <<'EOF'
                  jobs:
                  - name: hello
                    plan:
                    - task: t
                      config: {platform: linux, run: {path: "true"}}
                  EOF
          - set_pipeline: child-((.:flavour))
            file: ci/p.yml
            across:
            - var: flavour
              values: [red, blue]
        """)
    code, out = fly("trigger-job", "-j", "parent/spawn", "-w")
    assert code == 0, out
    code, out = fly("pipelines", "--json")
    assert code == 0, out
    assert {"child-red", "child-blue"} <= {p["name"] for p in json.loads(out)}


def test_rerun_build_uses_the_versions_of_the_original(ci_server: Server, fly: Fly,
                                                        tmp_path: Path) -> None:
    versions = _file_resource(ci_server, tmp_path, "1.0.0\n")
    _set(fly, tmp_path, "again", f"""
        resources:
        - name: src
          type: file
          source: {{file: {versions}}}
          check_every: never
        jobs:
        - name: show
          plan:
          - get: src
          - task: t
            config:
              platform: linux
              inputs: [{{name: src}}]
              run: {{path: sh, args: [-c, 'echo "using $(cat src/version)"']}}
        """)
    code, out = fly("check-resource", "-r", "again/src")
    assert code == 0, out
    code, out = fly("trigger-job", "-j", "again/show", "-w")
    assert code == 0 and "using 1.0.0" in out, out
    with versions.open("a") as f:
        f.write("1.0.1\n")
    code, out = fly("check-resource", "-r", "again/src")
    assert code == 0 and "1.0.1" in out, out
    code, out = fly("rerun-build", "-j", "again/show", "-b", "1", "-w")
    assert code == 0 and "started again/show #1.1" in out and "using 1.0.0" in out, out
    code, out = fly("rerun-build", "-j", "again/show", "-b", "7")
    assert code == 2 and "build again/show #7 not found" in out, out


def test_a_job_with_disable_manual_trigger_refuses_trigger_job(ci_server: Server, fly: Fly,
                                                               tmp_path: Path) -> None:
    _set(fly, tmp_path, "nomanual", """
        jobs:
        - name: j
          disable_manual_trigger: true
          plan:
          - task: t
            config:
              platform: linux
              run: {path: "true"}
        """)
    code, out = fly("trigger-job", "-j", "nomanual/j")
    assert code == 2 and "disable_manual_trigger" in out, out
    assert _builds(fly, "nomanual/j") == []
