"""The engine's pure parts: task config validation, params as env, interpolation, URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.errors import StepError
from headwater.ci.build.interpolate import interpolate
from headwater.ci.build.steps.put import detect_inputs
from headwater.ci.build.taskconfig import param_env, parse_task_config
from tests.ci.builds.helpers import make_ctx


def test_a_full_task_config_parses() -> None:
    config = parse_task_config({
        "platform": "linux",
        "image_resource": {"type": "registry-image", "source": {"repository": "alpine"}},
        "inputs": [{"name": "repo"}, {"name": "version", "path": "v", "optional": True}],
        "outputs": [{"name": "dist", "path": "out/dist"}],
        "caches": [{"path": ".cache"}],
        "params": {"A": 1},
        "run": {"path": "make", "args": ["all"], "dir": "repo", "user": "root"},
        "container_limits": {"cpu": 2, "memory": "1GB"},
    }, "task.yml")
    assert [i.dir for i in config.inputs] == ["repo", "v"]
    assert config.outputs[0].dir == "out/dist"
    assert config.run.args == ["all"]


@pytest.mark.parametrize(("data", "problem"), [
    ([], "expected a mapping with platform and run, got list"),
    ({"platform": "linux", "run": {"path": "x", "args": [1]}}, "run.args.0: Input should be "
                                                               "a valid string"),
    ({"platform": "linux", "run": {"path": "x", "dir": "/etc"}},
     "run.dir: '/etc' must be a relative path"),
    ({"platform": "linux", "run": {"path": "x"}, "caches": [{"path": "a/../../b"}]},
     "caches.0.path: 'a/../../b' must be a relative path"),
    ({"platform": "linux", "run": {"path": "x"}, "inputs": [{"path": "a"}]},
     "inputs.0.name: missing"),
    ({"platform": "linux", "run": {"path": "x"}, "inputs": [{"name": "a"}, {"name": "a"}]},
     "input names must be unique: a appears more than once"),
])
def test_invalid_task_configs(data: Any, problem: str) -> None:
    with pytest.raises(StepError) as failure:
        parse_task_config(data, "ci/task.yml")
    assert str(failure.value).startswith("invalid task config in ci/task.yml")
    assert problem in str(failure.value)


def test_params_become_env_as_concourse_coerces_them() -> None:
    assert param_env({"S": "text", "I": 3, "F": 1.5, "B": False, "N": None,
                      "L": ["a", 1], "M": {"k": "v"}}) == {
        "S": "text", "I": "3", "F": "1.5", "B": "false", "N": "", "L": '["a",1]',
        "M": '{"k":"v"}'}


@pytest.mark.parametrize(("value", "expected"), [
    ("((.:v))", {"a": [1], "b": 2}),
    ("x-((.:v.b))-y", "x-2-y"),
    ("((.:s)) and ((.:s))", "text and text"),
    ({"k": ["((.:s))", 2]}, {"k": ["text", 2]}),
    ("((plain)) ((vault:secret))", "((plain)) ((vault:secret))"),  # not the engine's
])
def test_local_vars(value: Any, expected: Any) -> None:
    assert interpolate(value, {"v": {"a": [1], "b": 2}, "s": "text"}) == expected


def test_a_list_inside_a_string_is_refused_as_concourse_does() -> None:
    with pytest.raises(StepError, match="cannot interpolate a list"):
        interpolate("x-((.:v.a))-y", {"v": {"a": [1]}})


def test_task_file_vars_and_missing_ones() -> None:
    assert interpolate("((a)) ((b.c))", {}, vars={"a": 1, "b": {"c": "d"}}) == "1 d"
    with pytest.raises(StepError,
                       match=r"undefined vars in task\.yml: x, \.:y .*missing field 'z'"):
        interpolate(["((x))", "((.:y))", "((b.z))", "((x))"], {}, vars={"b": {}},
                    what="task.yml")


def test_detect_inputs_from_params() -> None:
    artifacts = {"repo": 1, "version": 2, "unused": 3}
    params = {"file": "version/number", "build": {"context": "repo"}, "tags": ["repo/x"],
              "other": "elsewhere/x", "n": 3}
    assert detect_inputs(params, artifacts) == ["version", "repo"]


def test_build_urls(tmp_path: Path) -> None:
    job = make_ctx(tmp_path, job="Docker Build", external_url="https://ci/")
    assert job.build_url == "https://ci/teams/main/pipelines/app/jobs/Docker%20Build/builds/7"
    one_off = make_ctx(tmp_path, job=None, pipeline=None)
    assert one_off.build_url == "http://ci.example:8080/builds/42"
    assert "BUILD_JOB_NAME" not in one_off.env()
