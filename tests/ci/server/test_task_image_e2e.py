"""A real server runs a job's task in its image_resource from the stack's registry:
pulled once (into the cache resource types share), its caches kept for the next build
of that job and not given to another job."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from headwater import devstack
from headwater.ci.resources.process import find_bwrap
from tests.ci.builds.taskimages import push_test_image
from tests.ci.server.conftest import Fly, Server

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")]


@pytest.fixture
def server_args(stack_server_args: tuple[str, ...]) -> tuple[str, ...]:
    return stack_server_args


def test_a_jobs_task_runs_in_its_image_with_caches_kept_per_job(
        ci_server: Server, fly: Fly, stack: devstack.StackInfo, registry_repo: str,
        tmp_path: Path) -> None:
    digest = push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    username, password = stack.registry.auth or ("", "")
    credentials = "username: ((reg.user))\n              password: ((reg.password))" \
        if password else ""
    task = textwrap.dedent(f"""
          plan:
          - task: compile
            config:
              platform: linux
              image_resource:
                type: registry-image
                source:
                  repository: {stack.registry.host}/{registry_repo}
                  tag: "1"
                  {credentials}
              caches: [{{path: cache}}]
              run:
                path: sh
                args: [-ec, 'grep ^ID= /etc/os-release; cat cache/seen || echo empty;
                             echo "$BUILD_JOB_NAME $BUILD_NAME" > cache/seen']
    """)
    indented = textwrap.indent(task, "  ")
    pipeline = tmp_path / "p.yml"
    pipeline.write_text(f"jobs:\n- name: build\n{indented}\n- name: other\n{indented}\n")
    code, out = fly("set-pipeline", "-p", "img", "-c", str(pipeline), "-n",
                    "-v", f"reg.user={username}", "-v", f"reg.password={password}")
    assert code == 0, out
    assert fly("unpause-pipeline", "-p", "img")[0] == 0
    logs = []
    for job in ("build", "build", "other"):
        code, log = fly("trigger-job", "-j", f"img/{job}", "-w")
        assert code == 0, log
        logs.append(log)
    assert "ID=hwtest" in logs[0] and "empty" in logs[0]
    assert "build 1" in logs[1]  # the cache the job's first build left
    assert "empty" in logs[2]  # another job's cache is its own
    assert "(pulled)" in logs[0] and "(pulled)" not in logs[1] + logs[2]
    assert f"@{digest}" in logs[1]
    if password:
        assert all(password not in log for log in logs)
    images = ci_server.data_dir / "resource-images"
    assert [p.name for p in images.iterdir()] == [digest.replace(":", "-")]
    assert len(list((ci_server.data_dir / "task-caches").iterdir())) == 2


def test_execute_runs_a_one_off_task_in_its_image_without_keeping_caches(
        ci_server: Server, fly: Fly, stack: devstack.StackInfo, registry_repo: str,
        tmp_path: Path) -> None:
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    username, password = stack.registry.auth or ("", "")
    source = f"{{repository: {stack.registry.host}/{registry_repo}, tag: '1'" + (
        f", username: {username}, password: {password}}}" if password else "}")
    src = tmp_path / "src"
    src.mkdir()
    (src / "input.txt").write_text("uploaded\n")
    task = tmp_path / "task.yml"
    task.write_text(textwrap.dedent(f"""
        platform: linux
        image_resource: {{type: registry-image, source: {source}}}
        inputs: [{{name: src}}]
        caches: [{{path: cache}}]
        run:
          path: sh
          args: [-ec, 'grep ^ID= /etc/os-release; cat src/input.txt;
                       cat cache/seen || echo empty; echo x > cache/seen']
    """))
    for _ in range(2):
        code, out = fly("execute", "-c", str(task), "-i", f"src={src}")
        assert code == 0, out
        assert "ID=hwtest" in out and "uploaded" in out and "empty" in out
    assert not (ci_server.data_dir / "task-caches").exists()
