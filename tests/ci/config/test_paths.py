"""Diagnostics name their place as Concourse's validation does (`atc/step_validator.go`)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from headwater.ci.config import validate
from headwater.ci.config.paths import concourse_path
from headwater.ci.vars import Location

PIPELINE = yaml.safe_load("""
resources:
- {name: repo, type: git}
- {name: dup, type: git}
- {name: dup, type: git}
- {type: git}
- {name: "Docker Image", type: registry-image}
resource_types:
- {name: x, type: registry-image}
groups:
- {name: ci, jobs: [build]}
var_sources:
- {name: vault, type: vault}
jobs:
- name: build
  plan:
  - get: repo
    passed: [other]
  - do:
    - put: repo
    - task: compile
      config: {run: {path: make}}
      timeout: 1m
      on_failure: {put: slack}
  - in_parallel:
    - get: a
    - try: {get: b}
  - in_parallel: {steps: [{load_var: v, file: f}], limit: 2}
  - set_pipeline: self
    file: p.yml
    across: [{var: x, values: [1]}]
  on_success: {task: notify}
  ensure: {do: [{get: c}]}
- {plan: []}
""")

CASES: list[tuple[Location, str]] = [
    ((), ""),
    (("display", "background_image"), "display.background_image"),
    (("resources", 0), "resources.repo"),
    (("resources", 0, "source", "uri"), "resources.repo.source.uri"),
    (("resources", 2, "name"), "resources[2].name"),  # a shared name: by index
    (("resources", 3), "resources[3]"),  # no name
    (("resources", 4), "resources.Docker Image"),  # as Concourse prints it
    (("resource_types", 0, "type"), "resource_types.x.type"),
    (("groups", 0, "jobs", 0), "groups.ci.jobs[0]"),
    (("var_sources", 0, "type"), "var_sources.vault.type"),
    (("jobs", 0), "jobs.build"),
    (("jobs", 0, "plan"), "jobs.build.plan"),
    (("jobs", 0, "plan", 0), "jobs.build.plan.do[0]"),
    (("jobs", 0, "plan", 0, "get"), "jobs.build.plan.do[0].get(repo)"),
    (("jobs", 0, "plan", 0, "passed", 0), "jobs.build.plan.do[0].get(repo).passed[0]"),
    (("jobs", 0, "plan", 1, "do", 1, "task"), "jobs.build.plan.do[1].do[1].task(compile)"),
    (("jobs", 0, "plan", 1, "do", 1, "config", "run", "path"),
     "jobs.build.plan.do[1].do[1].task(compile).config.run.path"),
    # modifiers and hooks hang off the step's place, as Concourse's visitor puts them
    (("jobs", 0, "plan", 1, "do", 1, "timeout"), "jobs.build.plan.do[1].do[1].timeout"),
    (("jobs", 0, "plan", 1, "do", 1, "on_failure", "put"),
     "jobs.build.plan.do[1].do[1].on_failure.put(slack)"),
    (("jobs", 0, "plan", 2, "in_parallel", 1, "try", "get"),
     "jobs.build.plan.do[2].in_parallel.steps[1].try.get(b)"),
    (("jobs", 0, "plan", 3, "in_parallel", "steps", 0, "load_var"),
     "jobs.build.plan.do[3].in_parallel.steps[0].load_var(v)"),
    (("jobs", 0, "plan", 3, "in_parallel", "limit"), "jobs.build.plan.do[3].in_parallel.limit"),
    (("jobs", 0, "plan", 4, "across", 0, "var"), "jobs.build.plan.do[4].across[0].var"),
    (("jobs", 0, "plan", 4, "file"), "jobs.build.plan.do[4].set_pipeline(self).file"),
    # a job's own hooks hang off its plan, as Concourse's JobConfig.StepConfig wraps it
    (("jobs", 0, "on_success", "task"), "jobs.build.plan.on_success.task(notify)"),
    (("jobs", 0, "ensure", "do", 0, "get"), "jobs.build.plan.ensure.do[0].get(c)"),
    (("jobs", 1, "plan"), "jobs[1].plan"),
    (("jobs", 9, "plan", 0), "jobs[9].plan.do[0]"),  # past the end: by index, no crash
]


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[c[1] or "root" for c in CASES])
def test_a_place_is_named_as_concourse_names_it(path: Location, expected: str) -> None:
    assert concourse_path(path, PIPELINE) == expected


@pytest.mark.parametrize("data", [None, [], "text", {"jobs": "x"}, {"jobs": [{"plan": 5}]}])
def test_malformed_data_still_gets_a_name(data: Any) -> None:
    assert concourse_path(("jobs", 0, "plan", 0, "get"), data).startswith("jobs")


def test_a_name_that_came_from_a_var_is_shown_as_written_not_as_its_value() -> None:
    text = ("resources: [{name: ((secret-name)), type: git}]\n"
            "jobs: [{name: j, plan: [{get: ((secret-name)), attempts: 0}]}]\n")
    report = validate(text, filename="p.yml", vars={"secret-name": "s3cr3t-value"})
    assert [str(e) for e in report.errors] == [
        "line 2: jobs.j.plan.do[0].attempts: must be 1 or more, found 0"]
    report = validate(text.replace("attempts: 0", "foo: 1"), filename="p.yml",
                      vars={"secret-name": "s3cr3t-value"})
    assert [e.path for e in report.errors] == ["jobs.j.plan.do[0].get(((secret-name))).foo"]
