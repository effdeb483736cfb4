"""`((vars))`, `{{vars}}`, vars from flags and files, and redaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.ci.config import PipelineInvalid, parse_pipeline, validate
from headwater.ci.config.model import GetStep, TaskStep
from headwater.ci.vars import (
    KEEP,
    NOT_FOUND,
    REDACTED,
    Redactor,
    Reference,
    UndefinedVarsError,
    Vars,
    VarsError,
    interpolate,
    load_vars,
    parse_reference,
    resolve_old_style,
    secret_texts,
)


@pytest.mark.parametrize(("text", "ref"), [
    ("foo", Reference("", "foo")),
    ("foo.bar.baz", Reference("", "foo", ("bar", "baz"))),
    ("vault:db.password", Reference("vault", "db", ("password",))),
    ('"a.b".c', Reference("", "a.b", ("c",))),
    (".:version", Reference(".", "version")),
    ("path/to//secret", Reference("", "path/to/secret")),
])
def test_references_parse_as_concourse_parses_them(text: str, ref: Reference) -> None:
    assert parse_reference(text) == ref


@pytest.mark.parametrize("text", ['foo"', "foo..bar", "src:"])
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(VarsError):
        parse_reference(text)


def _vars(**values: Any) -> Vars:
    return Vars.of(values)


def test_a_whole_value_var_keeps_its_type_and_a_spliced_one_becomes_text() -> None:
    done = interpolate({"n": "((n))", "m": "((m))", "url": "https://((host)):((port))/x"},
                       _vars(n=3, m={"a": [1]}, host="example.com", port=8080).lookup)
    assert done.value == {"n": 3, "m": {"a": [1]}, "url": "https://example.com:8080/x"}
    assert not done.missing and not done.errors


def test_fields_of_map_vars_are_reached_with_dots() -> None:
    lookup = _vars(git={"uri": "https://x", "deep": {"er": "yes"}}).lookup
    assert interpolate(["((git.uri))", "((git.deep.er))"], lookup).value == ["https://x", "yes"]
    done = interpolate("((git.nope))", lookup)
    assert done.errors == (((), "missing field 'nope' in var: git.nope"),)


def test_every_missing_var_is_listed_once_sorted_with_its_first_use() -> None:
    done = interpolate({"a": "((zeta))", "b": ["((alpha)) and ((zeta))"]}, _vars().lookup)
    assert dict(done.missing) == {"zeta": ("a",), "alpha": ("b", 0)}
    with pytest.raises(UndefinedVarsError, match=r"^undefined vars: alpha, zeta$"):
        done.check()


def test_a_boolean_or_map_cannot_be_spliced_into_a_string() -> None:
    done = interpolate("x-((flag))", _vars(flag=True).lookup)
    assert done.value == "x-((flag))"
    assert "cannot interpolate a boolean value" in done.errors[0][1]


def test_local_vars_are_kept_at_set_time_and_filled_at_run_time() -> None:
    data = {"tag": "((.:version))", "text": "v((.:version))"}
    set_time = interpolate(data, _vars().lookup)
    assert set_time.value == data and not set_time.missing

    def run_time(ref: Reference) -> Any:
        return {"version": "1.2.3"}.get(ref.path, NOT_FOUND) if ref.source == "." else KEEP

    assert interpolate(set_time.value, run_time).value == {"tag": "1.2.3", "text": "v1.2.3"}


def test_map_keys_are_interpolated_and_the_input_is_not_changed() -> None:
    data = {"((k))": "((v))"}
    assert interpolate(data, _vars(k="key", v="value").lookup).value == {"key": "value"}
    assert data == {"((k))": "((v))"}


def test_interpolation_returns_every_string_number_and_boolean_a_var_supplied() -> None:
    done = interpolate(["((a))", "x((b))", "((c))"],
                       _vars(a="alpha", b="beta", c={"user": "u", "pass": "p4ss", "n": 1,
                                                     "on": True}).lookup)
    assert done.secrets == {"alpha", "beta", "u", "p4ss", "1", "true"}


def test_a_named_source_is_given_as_source_colon_name_and_unknown_sources_are_named() -> None:
    lookup = Vars.of({"vault:db": {"password": "pw"}, "plain": "x"}).lookup
    assert interpolate("((vault:db.password))", lookup).value == "pw"
    done = interpolate("((ssm:db))", lookup)
    assert "unknown var source 'ssm' in ((ssm:db))" in done.errors[0][1]


def test_old_style_vars_are_replaced_textually_by_their_json() -> None:
    text = "a: {{s}}\nb: {{m}}\nc: {{n}}\nd: {{missing}}\n"
    key = "-----BEGIN-----\nline \"2\"\n-----END-----\n"
    old = resolve_old_style(text, {"s": key, "m": {"k": [1, "two"]}, "n": 3})
    assert old.text.count("\n") == text.count("\n")  # every line keeps its number
    assert old.missing == (("missing", 4),)
    assert yaml.safe_load(old.text) == {"a": key, "b": {"k": [1, "two"]}, "c": 3, "d": None}
    assert old.secrets == {key, "1", "two", "3"}


@pytest.mark.parametrize("value", ["emoji \U0001f600 here", "line\u2028sep\x85nel", "tab\t\\"])
def test_old_style_values_survive_yaml_whatever_their_characters(value: str) -> None:
    old = resolve_old_style("v: {{x}}\nw: 1\n", {"x": value})
    assert yaml.safe_load(old.text) == {"v": value, "w": 1}
    assert old.text.count("\n") == 2


def test_vars_from_files_flags_and_yaml_flags_override_in_fly_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yml", tmp_path / "b.yml"
    first.write_text("a: from-a\nb: from-a\nc: from-a\nm: {x: 1}\n")
    second.write_text("b: from-b\nc: from-b\n")
    values = load_vars(["c=from-v", "d=5", "m.y=2", "vault:pw=s"], ["d=5", "e: [1]"][:1],
                       [first, second])
    assert values == {"a": "from-a", "b": "from-b", "c": "from-v", "d": 5,
                      "m": {"x": 1, "y": "2"}, "vault:pw": "s"}


@pytest.mark.parametrize(("args", "message"), [
    ((["novalue"], [], []), "-v 'novalue': expected NAME=VALUE"),
    (([], ["x=[1"], []), "-y x=...: not YAML"),
])
def test_bad_var_flags_name_the_flag(args: tuple[list[str], list[str], list[Path]],
                                     message: str) -> None:
    with pytest.raises(VarsError, match=message.replace("[", r"\[")):
        load_vars(*args)


def test_a_vars_file_must_be_a_yaml_map(tmp_path: Path) -> None:
    bad = tmp_path / "vars.yml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(VarsError, match=r"vars\.yml: a vars file must be a YAML map"):
        load_vars([], [], [bad])
    bad.write_text("a: [1\n")
    with pytest.raises(VarsError, match=r"vars.yml: line 2: not YAML"):
        load_vars([], [], [bad])


PIPELINE = """\
var_sources:
  - name: local
    type: dummy
    config:
      vars: {token: ((base))-tok}
resources:
  - name: git
    type: git
    source: {uri: ((git.uri)), private_key: ((key)), token: ((local:token))}
jobs:
  - name: test
    plan:
      - get: git
        attempts: ((n))
      - task: unit
        file: git/unit.yml
        params: {VERSION: ((.:version)), PASSWORD: ((vault:pw))}
"""


def test_set_time_lists_every_undefined_var_at_once() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(PIPELINE, vars={"base": "b", "vault:x": "1"})
    messages = [str(d) for d in caught.value.report.errors]
    assert "line 9: undefined vars: git.uri, key, n, vault:pw" in messages


def test_set_time_interpolates_all_kinds_of_vars_with_their_types() -> None:
    config = parse_pipeline(PIPELINE, vars={"base": "b", "git": {"uri": "https://x"},
                                            "key": "k", "n": 3, "vault:pw": "pw"})
    assert config.resources[0].source == {"uri": "https://x", "private_key": "k",
                                          "token": "b-tok"}
    get, task = config.jobs[0].plan
    assert isinstance(get, GetStep) and get.attempts == 3
    assert isinstance(task, TaskStep)
    assert task.params == {"VERSION": "((.:version))", "PASSWORD": "pw"}


def test_validate_without_vars_accepts_placeholders_anywhere() -> None:
    assert validate(PIPELINE, filename="p.yml").errors == ()


def test_validate_with_vars_checks_the_interpolated_values() -> None:
    report = validate(PIPELINE, filename="p.yml", vars={"n": 0})
    assert [str(d) for d in report.errors] == [
        "line 14: jobs.test.plan.do[0].attempts: must be 1 or more, found 0"]


def test_an_old_style_var_without_a_value_is_unbound_as_old_fly_said() -> None:
    text = "resources:\n- name: r\n  type: time\n  source: {interval: {{every}}}\n" \
           "jobs:\n- name: j\n  plan: [{get: r, params: {a: {{every}}, b: {{other}}}}]\n"
    unbound = ["line 4: unbound variable in template: 'every' (give it a value with -v, -y "
               "or -l; the old double-brace syntax is deprecated: write ((every)))",
               "line 7: unbound variable in template: 'every' (give it a value with -v, -y "
               "or -l; the old double-brace syntax is deprecated: write ((every)))",
               "line 7: unbound variable in template: 'other' (give it a value with -v, -y "
               "or -l; the old double-brace syntax is deprecated: write ((other)))"]
    assert [str(d) for d in validate(text, filename="p.yml").errors] == unbound
    assert [str(d) for d in validate(text, filename="p.yml",
                                     vars={"other": "x"}).errors] == unbound[:2]
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(text, vars={"other": "x"})
    assert [str(d) for d in caught.value.report.errors] == unbound[:2]
    given = validate(text, filename="p.yml", vars={"every": "1h", "other": "x"})
    assert (given.errors, given.warnings) == ((), ())
    config = parse_pipeline(text, vars={"every": "1h", "other": "x"})
    assert config.resources[0].source == {"interval": "1h"}


def test_redaction_replaces_longest_values_first() -> None:
    redact = Redactor(["pass", "password123"])
    assert redact.redact("password123 then pass") == f"{REDACTED} then {REDACTED}"


def test_redaction_skips_values_too_short_to_mean_anything() -> None:
    assert Redactor(["", "1", "no"]).redact("1 no") == "1 no"
    assert not Redactor(["ab"])


def test_multi_line_secrets_are_redacted_whole_line_by_line_and_as_json() -> None:
    key = "-----BEGIN KEY-----\nabcdef\n-----END KEY-----\n"
    redact = Redactor([key])
    assert redact.redact(f"key:\n{key}") == f"key:\n{REDACTED}"
    assert "abcdef" not in redact.redact("line 2 was abcdef")
    assert "abcdef" not in redact.redact('{"key": "-----BEGIN KEY-----\\nabcdef\\n..."}')


def test_redact_obj_redacts_every_string_of_json_data() -> None:
    redact = Redactor(["s3cret"])
    assert redact.redact_obj({"a": ["x s3cret", 1, None], "s3cret": True}) == {
        "a": [f"x {REDACTED}", 1, None], REDACTED: True}


def test_vars_are_plain_json_data_so_they_travel_to_the_server(tmp_path: Path) -> None:
    path = tmp_path / "vars.yml"
    path.write_text("when: 2024-01-02\nblob: !!binary aGVsbG8=\n")
    values = load_vars([], ["at=2024-01-01T00:00:00Z"], [path])
    assert values == {"when": "2024-01-02", "blob": "aGVsbG8=", "at": "2024-01-01T00:00:00Z"}


def test_an_undefined_var_in_a_typed_field_is_reported_once() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline("resources: [{name: r, type: time}]\n"
                       "jobs: [{name: j, plan: [{get: r, attempts: ((n))}]}]\n")
    assert [str(d) for d in caught.value.report.errors] == ["line 2: undefined vars: n"]


def test_a_local_var_where_a_number_goes_is_an_error_at_set_time() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline("resources: [{name: r, type: time}]\n"
                       "jobs: [{name: j, plan: [{get: r, attempts: ((.:n))}]}]\n")
    assert [str(d) for d in caught.value.report.errors] == [
        "line 2: jobs.j.plan.do[0].attempts: must be a whole number, found a string"]


@pytest.mark.parametrize(("value", "texts"), [
    ("s3cret", ["s3cret"]),
    (987654, ["987654"]),
    (12.5, ["12.5"]),
    (True, ["true"]),  # as YAML and JSON write it
    (None, []),
    ({"a": [1234, False, "x"], "b": {"c": 3.0}}, ["1234", "false", "x", "3.0"]),
])
def test_secret_texts_are_the_strings_numbers_and_booleans_of_a_value(value: Any,
                                                             texts: list[str]) -> None:
    assert secret_texts(value) == texts


@pytest.mark.parametrize(("values", "text", "shown"), [
    ([987654], "pin=987654", "pin=((redacted))"),
    ([22], "port 22", "port 22"),  # shorter than MIN_LENGTH: kept, as short strings
    (secret_texts(True), "tls: true", "tls: ((redacted))"),  # booleans too, as text
    (["true"], "tls: true", "tls: ((redacted))"),  # a string var is, whatever it says
])
def test_numbers_are_redacted_as_text_when_long_enough(values: list[Any], text: str,
                                                       shown: str) -> None:
    assert Redactor(values).redact(text) == shown
