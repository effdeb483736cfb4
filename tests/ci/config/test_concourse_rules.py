"""Rules taken from Concourse's code where headwater used to judge differently."""

from __future__ import annotations

from headwater.ci.config import parse_pipeline, validate
from headwater.ci.config.model import InParallelStep


def test_a_limit_of_zero_is_no_limit_as_concourse_reads_it() -> None:
    # atc JobConfig.MaxInFlight and exec.InParallel: 0 means no limit, not "never run".
    config = parse_pipeline("resources: [{name: r, type: time}]\n"
                            "jobs:\n- name: j\n  max_in_flight: 0\n  plan:\n"
                            "  - in_parallel: {limit: 0, steps: [{get: r}]}\n")
    job = config.jobs[0]
    assert job.max_in_flight is None and job.effective_max_in_flight is None
    assert job.effective_serial_groups == []
    step = job.plan[0]
    assert isinstance(step, InParallelStep) and step.in_parallel.limit is None


def test_build_logs_to_retain_is_deprecated_as_concourse_warns() -> None:
    report = validate("resources: [{name: r, type: time}]\n"
                      "jobs: [{name: j, build_logs_to_retain: 3, plan: [{get: r}]}]\n",
                      filename="p.yml")
    assert report.errors == ()
    assert [str(w) for w in report.warnings] == [
        "line 2: jobs.j.build_logs_to_retain: build_logs_to_retain is deprecated: use "
        "build_log_retention"]


def test_a_secretsmanager_var_source_is_allowed_in_a_pipeline() -> None:
    report = validate("var_sources: [{name: sm, type: secretsmanager, config: {}}]\n"
                      "resources: [{name: r, type: time, source: {x: ((sm:x))}}]\n"
                      "jobs: [{name: j, plan: [{get: r}]}]\n", filename="p.yml")
    assert report.errors == ()


def test_an_unknown_top_level_key_never_reaches_the_model() -> None:
    config = parse_pipeline("notes: {owner: ops}\nuser_data: [1, 2]\n"
                            "jobs: [{name: j, plan: []}]\n")
    assert [j.name for j in config.jobs] == ["j"]


def test_an_old_style_var_in_a_comment_is_read_as_old_fly_read_it() -> None:
    # Old fly replaced {{name}} anywhere in the text, comments included.
    report = validate("# set {{token}} with -v\njobs: [{name: j, plan: []}]\n",
                      filename="p.yml")
    assert [e.line for e in report.errors] == [1]
    assert "unbound variable in template: 'token'" in report.errors[0].message
