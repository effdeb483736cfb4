"""YAML with lines (positions.py) and Go durations (durations.py)."""

from __future__ import annotations

import pytest

from headwater.ci.config import DurationError, ResourceConfig, parse_duration
from headwater.ci.config.diagnostics import format_path
from headwater.ci.config.positions import YamlSyntaxError, load
from tests.yamlbomb import BOMB, BOMB_LINE

TEXT = """\
base: &base
  type: git
  source: {uri: x}
list:
  - <<: *base
    name: a
    type: svn
  - when: 2024-01-02
    on: yes
    mode: 0755
"""


def test_every_key_and_item_has_its_line_and_merges_keep_where_written() -> None:
    loaded = load(TEXT)
    assert loaded.data["list"][0] == {"name": "a", "type": "svn", "source": {"uri": "x"}}
    assert loaded.lines[("list", 0)] == 5
    assert loaded.lines[("list", 0, "type")] == 7  # the overriding key
    assert loaded.lines[("list", 0, "source")] == 3  # merged: where it is written
    assert loaded.lines[("list", 1, "on")] == 9
    assert ("base",) in loaded.anchored


def test_scalars_resolve_as_yaml_1_1_but_timestamps_stay_strings() -> None:
    assert load(TEXT).data["list"][1] == {"when": "2024-01-02", "on": True, "mode": 493}


def test_duplicate_keys_are_found_with_both_lines() -> None:
    dup = load("a:\n  b: 1\n  c: 2\n  b: 3\n").duplicates
    assert [(d.path, d.line, d.first_line) for d in dup] == [(("a", "b"), 4, 2)]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("a: [1, 2\nb: 3\n", 2, "invalid YAML: did not find expected ','"),
    ("a: b: c\n", 1, "invalid YAML: mapping values are not allowed"),
    ("a: 1\n---\nb: 2\n", 2, "invalid YAML: but found another document"),
    ("? [a]\n: b\n", 1, "a map key must be a plain value"),
    ("a: !custom x\n", 1, "could not determine a constructor for the tag '!custom'"),
    ("a: &x\n  b: *x\n", 2, "an alias refers to a node that contains it"),  # the alias
    (BOMB, BOMB_LINE, "with its aliases expanded, the YAML is more than 1,000,000 nodes"),
    ("a:\n" + "  - " * 300 + "x\n", 2, "the YAML nests deeper than 200 levels"),
    ("a: 1\nb: " + "9" * 5000 + "\n", 2, "a number of 5,000 characters is too long to read"),
    ("a: \ud800\n", None, "invalid YAML: the text has characters that are not Unicode"),
])
def test_yaml_errors_carry_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load(text)
    assert caught.value.line == line
    assert caught.value.message.startswith(message)


def test_paths_print_in_bracket_notation() -> None:
    assert format_path(("jobs", 0, "plan", 2, "put")) == "jobs[0].plan[2].put"
    assert format_path(("resources", 1, "source", "a key")) == 'resources[1].source["a key"]'


@pytest.mark.parametrize(("text", "seconds"), [
    ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("1.5h", 5400.0), ("-2s", -2.0),
    ("0", 0.0), ("+5m", 300.0), ("10us", 1e-5), ("3\u00b5s", 3e-6), ("2h45m0.5s", 9900.5),
    (".5s", 0.5), ("1.s", 1.0),
])
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), [
    ("", "expected a number with a unit"),
    ("5", "missing unit"),
    ("1d", 'unknown unit "d" (units are ns, us, ms, s, m, h): write days as hours, 24h'),
    ("5 minutes", "expected a number with a unit"),
    (".s", "expected a number with a unit"),
    ("-", "expected a number with a unit"),
    ("never", "expected a number with a unit"),
])
def test_bad_durations_say_what_a_duration_looks_like(text: str, message: str) -> None:
    with pytest.raises(DurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_duration(text)


def test_a_resources_check_interval_defaults_to_a_minute_and_never_is_none() -> None:
    assert ResourceConfig(name="r", type="git").check_every_seconds == 60.0
    assert ResourceConfig(name="r", type="git", check_every="1m30s").check_every_seconds == 90
    assert ResourceConfig(name="r", type="git", check_every="never").check_every_seconds is None
