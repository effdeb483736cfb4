"""load_var (build-local vars, redaction) and set_pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.plan import Do, LoadVar, Plan, SetPipeline
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh


async def build(tmp_path: Path, plan: Plan, **ctx: Any) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", **ctx), delegate=delegate)
    return status, delegate


def files(**contents: str) -> Plan:
    """A task whose output `files` holds the given files."""
    script = "".join(f"cat > files/{name.replace('_', '.')} <<'EOF'\n{text}\nEOF\n"
                     for name, text in contents.items())
    return sh("files", script, outputs=[{"name": "files"}])


@pytest.mark.parametrize(("file", "fmt", "expected"), [
    ("files/v.json", None, '{"tag":"1.2.3","n":4}'),
    ("files/v.yml", None, '{"tag":"1.2.3","n":4}'),
    ("files/v.txt", None, "1.2.3"),
    ("files/v.txt", "raw", "  1.2.3\n\n"),
    ("files/v.json", "trim", '{"tag": "1.2.3", "n": 4}'),
])
async def test_load_var_formats(tmp_path: Path, file: str, fmt: str | None,
                                expected: str) -> None:
    plan = Do(id="do", steps=[
        files(v_json='{"tag": "1.2.3", "n": 4}', v_yml="tag: 1.2.3\nn: 4", v_txt="  1.2.3\n"),
        LoadVar(id="lv", name="v", file=file, format=fmt, reveal=True),
        sh("show", "printf '%s' \"$V\"", params={"V": "((.:v))"}),
    ])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert d.log("show") == expected
    assert d.log("lv") == "var v fetched.\nadded var v to build.\n"
    assert [t for t in d.types() if t in ("initialize", "start", "finish")] == [
        "initialize", "start", "finish"]


async def test_local_vars_in_fields_and_inside_strings(tmp_path: Path) -> None:
    plan = Do(id="do", steps=[
        files(v_json='{"tag": "1.2.3", "n": 4}'),
        LoadVar(id="lv", name="v", file="files/v.json", reveal=True),
        sh("show", 'echo "$TAG $N $LABEL"',
           params={"TAG": "((.:v.tag))", "N": "((.:v.n))", "LABEL": "release-((.:v.tag))"}),
    ])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert d.log("show") == "1.2.3 4 release-1.2.3\n"


async def test_secret_local_vars_are_redacted(tmp_path: Path) -> None:
    plan = Do(id="do", steps=[
        files(token_txt="s3cr3t-token"),
        LoadVar(id="lv", name="token", file="files/token.txt"),
        sh("leak", 'echo "token is $TOKEN"; echo "$TOKEN" >&2',
           params={"TOKEN": "((.:token))"}),
    ])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded"
    assert d.log("leak", "stdout") == "token is ((redacted))\n"
    assert d.log("leak", "stderr") == "((redacted))\n"
    assert d.secrets == ["s3cr3t-token"]


async def test_an_undefined_local_var_errors_the_step(tmp_path: Path) -> None:
    status, d = await build(tmp_path, sh("t", "true", params={"X": "((.:nope))"}))
    assert status == "errored"
    assert d.errors()[0].startswith("undefined vars in the config of task 't': .:nope")


async def test_a_load_var_file_that_does_not_parse(tmp_path: Path) -> None:
    plan = Do(id="do", steps=[files(v_json="{oops"),
                              LoadVar(id="lv", name="v", file="files/v.json")])
    status, d = await build(tmp_path, plan)
    assert status == "errored"
    assert d.errors()[0].startswith("load_var: failed to parse files/v.json as json")


async def test_set_pipeline_reads_the_file_and_vars_from_artifacts(tmp_path: Path) -> None:
    plan = Do(id="do", steps=[
        files(pipeline_yml="jobs: []", vars_yml="env: staging\nreplicas: 2"),
        SetPipeline(id="sp", name="self", file="files/pipeline.yml",
                    var_files=["files/vars.yml"], vars={"replicas": 3}),
        SetPipeline(id="sp2", name="other", file="files/pipeline.yml", team="ops"),
    ])
    status, d = await build(tmp_path, plan)
    assert status == "succeeded", d.errors()
    assert d.pipelines == [("app", None, "jobs: []\n", {"env": "staging", "replicas": 3}),
                           ("other", "ops", "jobs: []\n", {})]
    assert d.log("sp") == "setting pipeline: app\ndone\n"


async def test_set_pipeline_self_needs_a_pipeline(tmp_path: Path) -> None:
    plan = Do(id="do", steps=[files(p_yml="jobs: []"),
                              SetPipeline(id="sp", name="self", file="files/p.yml")])
    status, d = await build(tmp_path, plan, job=None, pipeline=None)
    assert status == "errored"
    assert d.errors()[0].startswith("set_pipeline: self only means something")
