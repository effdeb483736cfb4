"""The planner: job configs to build plans, and the inputs the scheduler resolves."""

from __future__ import annotations

import pytest

from headwater.ci.config import (
    CompileError,
    PipelineConfig,
    compile_job,
    job_inputs,
    parse_pipeline,
)
from headwater.ci.plan import (
    Across,
    Do,
    Ensure,
    Get,
    InParallel,
    LoadVar,
    OnAbort,
    OnError,
    OnFailure,
    OnSuccess,
    Plan,
    Put,
    Retry,
    SetPipeline,
    Task,
    Timeout,
    Try,
)

PIPELINE = """\
resource_types:
  - name: base-git
    type: registry-image
    source: {repository: concourse/git-resource}
  - name: my-git
    type: base-git
    source: {repository: me/git-resource}
    defaults: {branch: main, depth: 1}
resources:
  - name: src
    type: my-git
    source: {uri: https://example.com/src.git, depth: 5}
  - name: img
    type: registry-image
    source: {repository: example/app}
  - name: notify
    type: time
jobs:
  - name: unit
    plan:
      - get: src
        trigger: true
  - name: unit-race
    plan:
      - get: src
  - name: build
    serial: true
    plan:
      - in_parallel:
          limit: 2
          fail_fast: true
          steps:
            - get: src
              trigger: true
              passed: ["unit*"]
            - get: base
              resource: img
              version: every
      - task: compile
        file: src/ci/compile.yml
        container_limits: {cpu: 2}
        timeout: 1m30s
        attempts: 3
        on_success: {put: notify, no_get: true}
        on_failure: {put: notify}
        ensure:
          try: {load_var: version, file: out/version, format: trim}
      - task: inline
        network: true
        config:
          platform: linux
          run: {path: make}
        container_limits: {memory: 1024}
      - aggregate:
          - do:
              - put: img
                inputs: [out]
                get_params: {skip_download: true}
          - set_pipeline: self
            file: src/ci/pipeline.yml
            vars: {a: 1}
    on_abort: {put: notify}
    on_error: {put: notify}
    ensure: {get: pinned, resource: img, version: {digest: "sha256:1"}}
"""


def _config() -> PipelineConfig:
    return parse_pipeline(PIPELINE)


def _ids(plan: Plan) -> list[str]:
    found = [plan.id]
    for attr in ("step", "hook"):
        child = getattr(plan, attr, None)
        if child is not None:
            found += _ids(child)
    for child in getattr(plan, "steps", []):
        found += _ids(child)
    return found


def _chain(node: Plan) -> list[str]:
    """Class names from `node` down through `.step` (hooks, retry, timeout, try)."""
    names = [type(node).__name__]
    while isinstance(node, Ensure | OnError | OnAbort | OnFailure | OnSuccess | Retry
                     | Timeout):
        node = node.step
        names.append(type(node).__name__)
    return names


def _job_do(plan: Plan) -> Do:
    while not isinstance(plan, Do):
        assert isinstance(plan, Ensure | OnError | OnAbort | OnFailure | OnSuccess)
        plan = plan.step
    return plan


def test_the_job_plan_is_a_do_inside_the_jobs_hooks_in_concourse_order() -> None:
    plan = compile_job(_config(), "build", {})
    assert _chain(plan) == ["Ensure", "OnError", "OnAbort", "Do"]
    assert isinstance(plan, Ensure) and isinstance(plan.hook, Get)
    assert [type(s).__name__ for s in _job_do(plan).steps] == [
        "InParallel", "Ensure", "Task", "InParallel"]


def test_step_hooks_wrap_attempts_which_wrap_the_timeout() -> None:
    step = _job_do(compile_job(_config(), "build", {})).steps[1]
    assert _chain(step) == ["Ensure", "OnFailure", "OnSuccess", "Retry", "Timeout", "Task"]


def test_modifier_and_hook_values_are_carried_into_the_plan() -> None:
    ensure = _job_do(compile_job(_config(), "build", {})).steps[1]
    assert isinstance(ensure, Ensure) and isinstance(ensure.hook, Try)
    assert isinstance(ensure.hook.step, LoadVar) and ensure.hook.step.format == "trim"
    failure = ensure.step
    assert isinstance(failure, OnFailure) and isinstance(failure.hook, Put)
    success = failure.step
    assert isinstance(success, OnSuccess) and isinstance(success.hook, Put)
    assert success.hook.no_get and not failure.hook.no_get
    retry = success.step
    assert isinstance(retry, Retry) and retry.attempts == 3
    assert isinstance(retry.step, Timeout) and retry.step.seconds == 90.0
    task = retry.step.step
    assert isinstance(task, Task) and task.file == "src/ci/compile.yml" and task.config is None


def test_a_steps_ensure_hook_is_outside_its_other_hooks() -> None:
    config = parse_pipeline("""\
resources: [{name: r, type: time}]
jobs:
  - name: j
    plan:
      - get: r
        ensure: {load_var: a, file: r/a}
        on_failure: {load_var: b, file: r/b}
        on_error: {load_var: c, file: r/c}
        on_abort: {load_var: d, file: r/d}
        on_success: {try: {load_var: e, file: r/e}}
""")
    node = _job_do(compile_job(config, "j", {"r": {"time": "t"}})).steps[0]
    assert _chain(node) == ["Ensure", "OnError", "OnAbort", "OnFailure", "OnSuccess", "Get"]
    hooks = []
    while isinstance(node, Ensure | OnError | OnAbort | OnFailure | OnSuccess):
        hook = node.hook.step if isinstance(node.hook, Try) else node.hook
        assert isinstance(hook, LoadVar)
        hooks.append(hook.name)
        node = node.step
    assert hooks == ["a", "c", "d", "b", "e"]
    assert isinstance(node, Get) and node.version == {"time": "t"}


def test_gets_and_puts_carry_type_source_defaults_and_the_type_chain() -> None:
    do = compile_job(_config(), "unit", {"src": {"ref": "abc"}})
    assert isinstance(do, Do)
    get = do.steps[0]
    assert isinstance(get, Get)
    assert (get.type, get.version) == ("my-git", {"ref": "abc"})
    assert get.source == {"uri": "https://example.com/src.git", "depth": 5, "branch": "main"}
    assert [(t.name, t.type) for t in get.resource_types] == [("my-git", "base-git"),
                                                              ("base-git", "registry-image")]


def test_a_get_without_a_chosen_version_fetches_the_latest() -> None:
    do = compile_job(_config(), "unit", {})
    assert isinstance(do, Do) and isinstance(do.steps[0], Get)
    assert do.steps[0].version is None


def test_parallel_steps_aggregate_do_and_set_pipeline_compile() -> None:
    parallel, _, inline, aggregate = _job_do(compile_job(_config(), "build", {})).steps
    assert isinstance(parallel, InParallel)
    assert (parallel.limit, parallel.fail_fast) == (2, True)
    assert [s.name for s in parallel.steps if isinstance(s, Get)] == ["src", "base"]
    assert isinstance(inline, Task) and inline.config is not None
    assert inline.config["container_limits"] == {"memory": 1024}
    assert inline.network
    assert isinstance(aggregate, InParallel) and not aggregate.fail_fast
    put_do, set_pipeline = aggregate.steps
    assert isinstance(put_do, Do) and isinstance(put_do.steps[0], Put)
    assert put_do.steps[0].inputs == ["out"]
    assert put_do.steps[0].get_params == {"skip_download": True}
    assert isinstance(set_pipeline, SetPipeline) and set_pipeline.vars == {"a": 1}


def test_ids_are_unique_and_the_same_on_every_compile() -> None:
    first = compile_job(_config(), "build", {})
    ids = _ids(first)
    assert len(ids) == len(set(ids))
    assert ids == _ids(compile_job(_config(), "build", {}))
    assert ids[0] == "1"


def test_job_inputs_list_every_get_with_globs_expanded() -> None:
    inputs = job_inputs(_config(), "build")
    assert [(i.name, i.resource, i.mode) for i in inputs] == [
        ("src", "src", "latest"), ("base", "img", "every"), ("pinned", "img", "pinned")]
    assert inputs[0].passed == ("unit", "unit-race") and inputs[0].trigger
    assert inputs[2].pinned == {"digest": "sha256:1"}


def test_unknown_jobs_are_compile_errors() -> None:
    with pytest.raises(CompileError, match="unknown job 'nope'"):
        compile_job(_config(), "nope", {})


def test_across_wraps_attempts_inside_the_hooks() -> None:
    config = parse_pipeline("""\
resources: [{name: r, type: time}]
jobs:
  - name: j
    plan:
      - get: r
      - task: t
        file: r/t.yml
        attempts: 2
        across: [{var: v, values: [1, 2], max_in_flight: all}, {var: w, values: [a]}]
        fail_fast: true
        ensure: {task: cleanup, file: r/c.yml}
""")
    plan = compile_job(config, "j", {})
    assert isinstance(plan, Do)
    ensure = plan.steps[1]
    assert isinstance(ensure, Ensure)
    across = ensure.step
    assert isinstance(across, Across) and across.fail_fast
    assert [(v.var, v.values, v.max_in_flight) for v in across.vars] == [
        ("v", [1, 2], None), ("w", ["a"], 1)]
    assert isinstance(across.step, Retry) and isinstance(across.step.step, Task)
