"""get and put through the engine, with a Concourse-style script resource (bash + jq)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.plan import Do, Get, Plan, Put, ResourceTypeRef
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh

TYPES = Path(__file__).parents[1] / "resources" / "testdata"

pytestmark = pytest.mark.skipif(shutil.which("jq") is None,
                                reason="the Concourse-style test resource needs jq")


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """The counter's state: the resource's `source.dir`."""
    directory = tmp_path / "service"
    directory.mkdir()
    return directory


async def build(tmp_path: Path, plan: Plan, **ctx: Any) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", types_dir=TYPES, **ctx),
                             delegate=delegate)
    return status, delegate


def counter_put(service: Path, **fields: Any) -> Put:
    defaults: dict[str, Any] = {"id": "put", "name": "counter", "resource": "counter",
                                "type": "counter", "source": {"dir": str(service)},
                                "params": {"file": "next/number"}}
    return Put(**{**defaults, **fields})


def make_number(value: str) -> Plan:
    return sh("make", f"echo {value} > next/number", outputs=[{"name": "next"}])


async def test_put_saves_the_new_version_then_gets_it(tmp_path: Path, service: Path) -> None:
    plan = Do(id="do", steps=[
        make_number("5"),
        counter_put(service, get_params={"prefix": "v"}),
        sh("use", "cat counter/count; cat counter/env", inputs=[{"name": "counter"}]),
    ])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert (service / "count").read_text() == "5\n"

    [(resource, fetched)] = d.outputs
    assert resource == "counter"
    assert fetched.version == {"count": "5"}
    assert d.of("finish-put", "put") == [{
        "origin": {"id": "put"}, "exit_status": 0, "version": {"count": "5"},
        "metadata": [{"name": "pushed_by", "value": "unit"}]}]
    assert "pushed 5\n" in d.log("put", "stderr")

    # the implicit get, under the put's name, with get_params
    assert [t for t in d.types() if t.endswith("-get")] == [
        "initialize-get", "start-get", "finish-get"]
    assert d.of("finish-get", "put/get")[0]["version"] == {"count": "5"}
    lines = d.log("use").splitlines()
    assert lines[0] == "v5"
    assert lines[1:] == [
        "ATC_EXTERNAL_URL=http://ci.example:8080", "BUILD_ID=42", "BUILD_JOB_NAME=unit",
        "BUILD_NAME=7", "BUILD_PIPELINE_NAME=app", "BUILD_TEAM_NAME=main",
        "BUILD_URL=http://ci.example:8080/teams/main/pipelines/app/jobs/unit/builds/7"]


async def test_no_get_skips_the_implicit_get(tmp_path: Path, service: Path) -> None:
    plan = Do(id="do", steps=[make_number("2"), counter_put(service, no_get=True)])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    assert d.of("initialize-get") == []
    assert not (tmp_path / "build" / "counter").exists()


@pytest.mark.parametrize(("inputs", "seen"), [
    ("all", "inputs: next other "),
    ("detect", "inputs: next "),
    (["other", "next"], "inputs: next other "),
])
async def test_put_inputs(tmp_path: Path, service: Path, inputs: Any, seen: str) -> None:
    plan = Do(id="do", steps=[
        make_number("3"), sh("other", "true", outputs=[{"name": "other"}]),
        counter_put(service, inputs=inputs, no_get=True)])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    assert seen + "\n" in d.log("put", "stderr")


async def test_a_put_input_that_does_not_exist_errors(tmp_path: Path, service: Path) -> None:
    status, d = await build(tmp_path, counter_put(service, inputs=["nope"]))
    assert status == "errored"
    assert d.errors() == ["put inputs not found in this build: nope (artifacts: none)"]


async def test_a_failing_put_errors_the_build_with_the_scripts_message(
        tmp_path: Path, service: Path) -> None:
    plan = Do(id="do", steps=[make_number("1"),
                              counter_put(service, params={"fail": True})])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    [message] = d.errors()
    assert message.startswith(
        f"resource 'counter': {TYPES / 'counter' / 'out'} failed with exit status 3")
    assert message.endswith("error: the counter refused the push")
    assert d.outputs == []


async def test_get_without_a_version_fetches_the_latest(tmp_path: Path, service: Path) -> None:
    (service / "count").write_text("8\n")
    plan = Get(id="g", name="latest", resource="counter", type="counter",
               source={"dir": str(service)})
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    assert d.of("finish-get", "g")[0]["version"] == {"count": "8"}
    assert (tmp_path / "build" / "latest" / "count").read_text() == "8\n"


async def test_get_of_a_resource_without_versions_errors(tmp_path: Path,
                                                         service: Path) -> None:
    plan = Get(id="g", name="c", resource="counter", type="counter",
               source={"dir": str(service)})
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors() == ["resource 'counter' has no version to get: its check found none yet"]


@pytest.mark.parametrize(("type_name", "resource_types", "message"), [
    ("nope", [], "unknown resource type 'nope'"),
    ("counter", [ResourceTypeRef(name="counter", type="registry-image",
                                 source={"repository": "me/counter"})],
     "resource type 'counter' is an image (me/counter), and this server has no directory"),
])
async def test_a_type_that_cannot_run_errors_the_get(tmp_path: Path, type_name: str,
                                                     resource_types: list[ResourceTypeRef],
                                                     message: str) -> None:
    plan = Get(id="g", name="c", resource="c", type=type_name, version={"count": "1"},
               resource_types=resource_types)
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith(message)
