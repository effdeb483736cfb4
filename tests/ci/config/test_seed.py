"""The seed's pipeline (testdata/seed-pipeline.yml, from the blog post, `{{var}}` and all)."""

from __future__ import annotations

import json
from pathlib import Path

from headwater.ci.config import compile_job, job_inputs, load_pipeline, validate
from headwater.ci.plan import PLAN
from headwater.ci.vars import REDACTED, Redactor, load_vars

DATA = Path(__file__).parent / "testdata"
SEED = (DATA / "seed-pipeline.yml").read_text(encoding="utf-8")
IDENTIFIER = ('line 22: jobs.Docker Build.name: "Docker Build" is not a valid identifier: '
              'must start with a lowercase letter (names are lowercase letters, digits, "-", '
              '"_" and ".")')


def _vars() -> dict[str, object]:
    return load_vars([], [], [DATA / "seed-vars.yml"])


def test_the_seed_validates_with_its_vars_with_only_the_identifier_warning() -> None:
    report = validate(SEED, filename="seed.yml", vars=_vars())
    assert report.errors == ()
    assert [str(w) for w in report.warnings] == [IDENTIFIER]


def test_the_seed_without_its_vars_fails_with_each_unbound_old_style_var() -> None:
    report = validate(SEED, filename="seed.yml")
    assert [str(e) for e in report.errors] == [
        "line 14: unbound variable in template: 'rguichard_pkey' (give it a value with -v, "
        "-y or -l; the old double-brace syntax is deprecated: write ((rguichard_pkey)))",
        "line 20: unbound variable in template: 'dh-rguichard-passwd' (give it a value with "
        "-v, -y or -l; the old double-brace syntax is deprecated: write ((dh-rguichard-passwd)))"]
    assert [str(w) for w in report.warnings] == [IDENTIFIER]


def test_the_seeds_multi_line_key_is_substituted_whole_as_old_fly_did() -> None:
    # Old fly put the JSON of the value in place of {{rguichard_pkey}}: a double-quoted
    # YAML scalar whose \n escapes are the key's line breaks; lines keep their numbers.
    values = _vars()
    config = load_pipeline(SEED, vars=values).config
    version = config.resource("version")
    assert version is not None and version.source["private_key"] == values["rguichard_pkey"]
    assert str(values["rguichard_pkey"]).count("\n") >= 3
    image = config.resource("image-helloworld")
    assert image is not None and image.source["password"] == values["dh-rguichard-passwd"]
    assert validate(SEED, filename="seed.yml", vars=values).errors == ()


def test_the_seed_compiles_to_the_expected_plan() -> None:
    loaded = load_pipeline(SEED, vars=_vars(), filename="seed.yml")
    plan = compile_job(loaded.config, "Docker Build",
                       {"version": {"number": "1.0.1"}, "git": {"ref": "2b8a9c1e"}})
    expected = json.loads((DATA / "seed-plan.json").read_text(encoding="utf-8"))
    assert PLAN.dump_python(plan, mode="json") == expected
    assert PLAN.validate_json(PLAN.dump_json(plan)) == plan


def test_the_seed_job_triggers_on_git_and_takes_the_latest_version() -> None:
    config = load_pipeline(SEED, vars=_vars()).config
    inputs = {i.name: i for i in job_inputs(config, "Docker Build")}
    assert list(inputs) == ["version", "git"]
    assert inputs["git"].trigger and not inputs["version"].trigger
    assert inputs["version"].mode == "latest" and inputs["version"].params == {"bump": "patch"}


def test_the_seeds_secrets_are_redacted_from_what_a_build_prints() -> None:
    loaded = load_pipeline(SEED, vars=_vars())
    redact = Redactor(loaded.redact)
    plan_json = PLAN.dump_json(compile_job(loaded.config, "Docker Build", {})).decode()
    shown = redact.redact(plan_json)
    assert "hunter2-but-longer" not in shown and "b3BlbnNzaC1rZXkt" not in shown
    assert shown.count(REDACTED) == 3  # the key (get and put of version), the password


def test_the_stored_config_reads_back_the_same() -> None:
    config = load_pipeline(SEED, vars=_vars()).config
    assert type(config).model_validate(config.to_data()) == config
    assert type(config).model_validate_json(json.dumps(config.to_data())) == config


def test_a_plain_model_dump_reads_back_too() -> None:
    config = load_pipeline("resources: [{name: r, type: time}]\njobs:\n- name: j\n  plan:\n"
                           "  - try: {get: r}\n").config
    assert type(config).model_validate(config.model_dump()) == config
