"""Artifacts never lead out of the build: each attack performed by a real task.

The tasks run in bwrap, with a fresh /tmp: the host directory a link names (under
tmp_path) is not even visible to them. The link is only a trap for the server,
which works on outputs, inputs, fetched directories and var files on the host after
the task ends. Every test checks the host directory and its canary are exactly as
they were: not moved, not deleted, not copied into a later step, not written to.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.plan import Do, Get, InParallel, LoadVar, Plan, Put, Task
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


def untouched(host: Path) -> bool:
    return (sorted(str(p.relative_to(host)) for p in host.rglob("*")) ==
            ["canary", "out", "out/canary"] and
            (host / "canary").read_text() == "host secret\n" and
            (host / "out" / "canary").read_text() == "host secret\n")


def present(path: Path) -> bool:
    """Is there anything at `path` (a link counts, even to nowhere)?"""
    return path.is_symlink() or path.exists()


async def build(tmp_path: Path, plan: Plan, **ctx: Any) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", **ctx), delegate=delegate)
    return status, delegate


def reader(name: str = "use") -> Task:
    """A later step that would show the host's canary if it were copied in."""
    return sh(name, "cat out/canary out/out/canary 2>&1 || true", inputs=[{"name": "out"}])


@pytest.mark.parametrize("exit_status", [0, 1])
async def test_an_output_replaced_by_a_link_errors_naming_it(
        tmp_path: Path, host: Path, exit_status: int) -> None:
    plan = Do(id="do", steps=[
        sh("evil", f"rmdir out && ln -s {host} out; exit {exit_status}",
           outputs=[{"name": "out"}]),
        reader()])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    [error] = d.errors()
    assert error.startswith("task 'evil': output 'out' (path out): 'out' is a symbolic link;")
    assert d.of("start-task", "use") == []
    assert not present(tmp_path / "build" / "out")
    assert untouched(host)


async def test_an_output_whose_parent_was_replaced_by_a_link_errors_naming_it(
        tmp_path: Path, host: Path) -> None:
    # Without the check, x/out resolved to host/out and the server *moved* it into
    # the build (and deleted it with the build).
    plan = Do(id="do", steps=[
        sh("evil", f"rm -rf x && ln -s {host} x", outputs=[{"name": "out", "path": "x/out"}]),
        reader()])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith(
        "task 'evil': output 'out' (path x/out): 'x' is a symbolic link;")
    assert d.of("start-task", "use") == []
    assert untouched(host)


def plant_link(host: Path) -> Task:
    """An artifact `a` holding `y -> host` (a link out, legal to keep as a link)."""
    return sh("plant", f"ln -s {host} a/y", outputs=[{"name": "a"}])


async def test_an_input_copied_through_a_link_of_another_input_errors(
        tmp_path: Path, host: Path) -> None:
    # a is copied to x (bringing x/y -> host), then b would be copied into x/y.
    plan = Do(id="do", steps=[
        plant_link(host),
        sh("b", "echo planted > b/planted", outputs=[{"name": "b"}]),
        sh("overlap", "true", inputs=[{"name": "a", "path": "x"},
                                      {"name": "b", "path": "x/y"}])])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith(
        "task 'overlap': input 'b' (path x/y): 'x/y' is a symbolic link;")
    assert untouched(host)


async def test_an_output_made_through_a_link_of_an_input_errors(tmp_path: Path,
                                                               host: Path) -> None:
    plan = Do(id="do", steps=[
        plant_link(host),
        sh("made", "true", inputs=[{"name": "a", "path": "x"}],
           outputs=[{"name": "o", "path": "x/y/made"}])])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith(
        "task 'made': output 'o' (path x/y/made): cannot make it a directory: "
        "'x/y' is a symbolic link")
    assert untouched(host)


async def test_links_out_of_an_artifact_travel_as_links_and_lead_nowhere(
        tmp_path: Path, host: Path) -> None:
    plan = Do(id="do", steps=[
        sh("plant", f"ln -s {host} a/y; ln -s {host}/canary a/secret",
           outputs=[{"name": "a"}]),
        sh("use", "readlink a/y; cat a/secret 2>/dev/null || echo unreadable",
           inputs=[{"name": "a"}])])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert d.log("use") == f"{host}\nunreadable\n"
    assert os.readlink(tmp_path / "build" / "a" / "y") == str(host)
    assert untouched(host)


async def test_links_inside_an_artifact_keep_working_across_steps(tmp_path: Path) -> None:
    make = sh("make", "\n".join([
        "mkdir -p repo/releases/1 repo/ci repo/vars",
        "echo 'from release 1' > repo/releases/1/data",
        "printf 'platform: linux\\ninputs: [{name: repo}]\\n"
        "run: {path: cat, args: [repo/current/data]}\\n' "
        "> repo/releases/1/task.yml",
        "echo '{\"k\": \"through a link\"}' > repo/releases/1/v.json",
        "ln -s releases/1 repo/current",
        "ln -s ../current/task.yml repo/ci/task.yml",
        "ln -s ../releases/1/v.json repo/vars/v.json"]), outputs=[{"name": "repo"}])
    plan = Do(id="do", steps=[
        make,
        Task(id="file", name="file", file="repo/ci/task.yml"),
        LoadVar(id="var", name="v", file="repo/vars/v.json", reveal=True),
        sh("use", "echo ((.:v.k)); readlink repo/current; cat repo/current/data",
           inputs=[{"name": "repo"}])])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert d.log("file") == "from release 1\n"
    assert d.log("use") == "through a link\nreleases/1\nfrom release 1\n"


@pytest.mark.parametrize(("link", "problem"), [
    ("{host}/canary", "'v' is a symbolic link to '{host}/canary', an absolute path"),
    ("{relative}", "leads out of its directory"),
])
async def test_a_load_var_file_linked_out_of_the_artifact_is_refused(
        tmp_path: Path, host: Path, link: str, problem: str) -> None:
    relative = os.path.relpath(host / "canary", tmp_path / "build" / "vars")  # noqa: ASYNC240
    target = link.format(host=host, relative=relative)
    plan = Do(id="do", steps=[
        sh("plant", f"ln -s {target} vars/v", outputs=[{"name": "vars"}]),
        LoadVar(id="var", name="v", file="vars/v", reveal=True),
        sh("use", "echo '((.:v))'")])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    [error] = d.errors()
    assert error.startswith("load_var file 'vars/v': ")
    assert problem.format(host=host) in error
    assert "host secret" not in error
    assert d.of("start-task", "use") == []
    assert untouched(host)


async def test_a_task_file_linked_out_of_the_artifact_is_refused(tmp_path: Path,
                                                                 host: Path) -> None:
    (host / "out" / "canary").write_text("platform: linux\nrun: {path: 'true'}\n")
    plan = Do(id="do", steps=[
        sh("plant", f"ln -s {host}/out/canary ci/task.yml", outputs=[{"name": "ci"}]),
        Task(id="run", name="run", file="ci/task.yml")])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith("task file 'ci/task.yml': 'task.yml' is a symbolic "
                                    f"link to '{host}/out/canary'")
    assert d.of("start-task", "run") == []


def evil_type(types: Path, host: Path) -> None:
    """A script resource type whose `in` swaps the directory it fetches into for a link
    to the host (as a hostile `in` of an image type could), and whose `out` reports
    how it sees the links of its inputs."""
    directory = types / "evil"
    directory.mkdir(parents=True)
    scripts = {
        "check": 'echo \'[{"v": "1"}]\'',
        "in": f'exec 3>&1 1>&2\nrmdir "$1" && ln -s {host} "$1"\n'
              'echo \'{"version": {"v": "1"}}\' >&3',
        "out": 'exec 3>&1 1>&2\ntest -L "$1/a/y" && echo "still a link: $(readlink "$1/a/y")"\n'
               'echo \'{"version": {"v": "2"}}\' >&3',
    }
    for name, text in scripts.items():
        (directory / name).write_text("#!/bin/sh\nset -e\ncat > /dev/null\n" + text + "\n")
        (directory / name).chmod(0o755)


async def test_a_get_whose_directory_became_a_link_errors(tmp_path: Path,
                                                          host: Path) -> None:
    evil_type(tmp_path / "types", host)
    plan = Do(id="do", steps=[
        Get(id="get", name="out", resource="evil", type="evil", version={"v": "1"}),
        reader()])
    status, d = await build(tmp_path, plan, types_dir=tmp_path / "types")
    assert status == "errored"
    assert d.errors()[0].startswith("get 'out': the directory its resource fetched into: "
                                    "it is a symbolic link;")
    assert d.of("start-task", "use") == []
    assert not present(tmp_path / "build" / "out")
    assert untouched(host)


async def test_a_put_sees_links_of_its_inputs_as_links(tmp_path: Path, host: Path) -> None:
    evil_type(tmp_path / "types", host)
    plan = Do(id="do", steps=[
        plant_link(host),
        Put(id="put", name="evil", resource="evil", type="evil", inputs=["a"],
            no_get=True)])
    status, d = await build(tmp_path, plan, types_dir=tmp_path / "types")
    assert status == "succeeded", d.errors()
    assert f"still a link: {host}\n" in d.log("put", "stderr")
    assert untouched(host)


async def test_an_output_link_in_a_parallel_step_errors_and_its_sibling_is_kept(
        tmp_path: Path, host: Path) -> None:
    plan = InParallel(id="par", steps=[
        sh("evil", f"rm -rf x && ln -s {host} x", outputs=[{"name": "out", "path": "x/out"}]),
        sh("good", "echo fine > ok/file", outputs=[{"name": "ok"}])])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith("task 'evil': output 'out' (path x/out): 'x' is a "
                                    "symbolic link;")
    assert (tmp_path / "build" / "ok" / "file").read_text() == "fine\n"
    assert untouched(host)
