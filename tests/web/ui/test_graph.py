"""The pipeline graph's layout: columns by depth, edges from `passed` and `trigger`."""

from __future__ import annotations

import pytest

from headwater.ci.config import parse_pipeline
from headwater.web.ui.graph import JobInput, JobSpec, jobs_of, layout


def _cols(jobs: list[JobSpec]) -> dict[str, int]:
    return {n.id: n.col for n in layout(jobs).nodes}


def _edges(jobs: list[JobSpec]) -> set[tuple[str, str, bool]]:
    return {(e.source, e.target, e.trigger) for e in layout(jobs).edges}


UNIT = JobSpec("unit", (JobInput("repo", trigger=True),))
BUILD = JobSpec("build", (JobInput("repo", trigger=True, passed=("unit",)),
                          JobInput("version")), ("image", "version"))
DEPLOY = JobSpec("deploy", (JobInput("image", trigger=True, passed=("build",)),))


@pytest.mark.parametrize(("jobs", "cols", "edges"), [
    ([UNIT], {"job:unit": 1, "in:repo": 0}, {("in:repo", "job:unit", True)}),
    # passed: the edge comes from the upstream job; a get and put of one resource
    # (version) are two nodes, no cycle; non-trigger gets are dashed (False)
    ([UNIT, BUILD, DEPLOY],
     {"job:unit": 1, "job:build": 2, "job:deploy": 3, "in:repo": 0, "in:version": 0,
      "out:image": 3, "out:version": 3},
     {("in:repo", "job:unit", True), ("job:unit", "job:build", True),
      ("in:version", "job:build", False), ("job:build", "out:image", True),
      ("job:build", "out:version", True), ("job:build", "job:deploy", True)}),
    # the upstream job is not shown (another group): the resource is the input
    ([BUILD], {"job:build": 1, "in:repo": 0, "in:version": 0, "out:image": 2,
               "out:version": 2},
     {("in:repo", "job:build", True), ("in:version", "job:build", False),
      ("job:build", "out:image", True), ("job:build", "out:version", True)}),
    # a job with no inputs sits in the first column
    ([JobSpec("lonely")], {"job:lonely": 0}, set()),
    # a cycle (validation refuses it) still lays out
    ([JobSpec("a", (JobInput("r", passed=("b",)),)),
      JobSpec("b", (JobInput("r", passed=("a",)),))],
     {"job:a": 1, "job:b": 0}, {("job:b", "job:a", False), ("job:a", "job:b", False)}),
])
def test_layout_columns_and_edges(jobs: list[JobSpec], cols: dict[str, int],
                                  edges: set[tuple[str, str, bool]]) -> None:
    assert _cols(jobs) == cols
    assert _edges(jobs) == edges


def test_rows_follow_what_feeds_them_and_nodes_never_overlap() -> None:
    jobs = [JobSpec("a", (JobInput("r1", trigger=True),)), JobSpec("b", (JobInput("r2"),)),
            JobSpec("c", (JobInput("r2", passed=("b",)),))]
    result = layout(jobs)
    spots = [(n.col, n.row) for n in result.nodes]
    assert len(spots) == len(set(spots))
    rows = {n.id: n.row for n in result.nodes}
    assert rows["job:c"] == rows["job:b"]  # next to what feeds it
    assert result.width > 0 and result.height > 0
    assert all(e.path(result.by_id).startswith("M") for e in result.edges)


def test_jobs_of_reads_gets_puts_and_groups_from_a_pipeline() -> None:
    config = parse_pipeline("""
resources:
- {name: repo, type: git, source: {uri: "https://example.com/r.git"}}
- {name: img, type: registry-image, source: {repository: r}}
jobs:
- name: unit
  plan: [{get: repo, trigger: true}]
- name: build
  plan:
  - in_parallel: [{get: repo, passed: [unit], trigger: true}]
  - put: img
groups:
- {name: test, jobs: [unit]}
- {name: all, jobs: ["*"]}
""", vars={}, filename="p.yml")
    assert jobs_of(config, "test") == [UNIT]
    build = JobSpec("build", (JobInput("repo", trigger=True, passed=("unit",)),), ("img",))
    assert jobs_of(config, "all") == [UNIT, build]
    assert jobs_of(config) == [UNIT, build]
