"""Bounded YAML (yamlload.py): what a stream expands to, and the limits that refuse it.

The counting is a pure function of the text (`measure`), tested on a table; the
limits are tested by loading just over and just under them; every YAML file of the
test suite and the seed pipeline load exactly as PyYAML's C safe loader loads them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from headwater import yamlload
from headwater.yamlload import Limits, YamlLimitError
from tests.yamlbomb import BOMB, BOMB_LINE

TESTS = Path(__file__).parent


@pytest.mark.parametrize(("text", "nodes", "chars"), [
    ("", 0, 0),
    ("a: 1\n", 3, 2),                                   # the map, its key, its value
    ("- x\n- x\n", 3, 2),
    ("--- 1\n--- 2\n", 2, 2),                           # a stream: every document counts
    ("a: &x [1, 2]\nb: *x\n", 9, 6),                    # the alias adds [1, 2] again: 3, 2
    ("base: &b {x: 1}\nc: {<<: *b, y: 2}\n", 13, 13),   # a merge key is an alias too
    ("a: &x [&y [1], *y]\nb: *x\n", 13, 6),             # aliases inside an aliased node
    ("a: hello\n", 3, 6),
    (BOMB, 490_329_064, 435_848_058),                   # 9 levels of 9: measured, not walked
])
def test_measure_counts_each_alias_as_the_nodes_it_repeats(text: str, nodes: int,
                                                           chars: int) -> None:
    assert yamlload.measure(text) == (nodes, chars)


def test_a_limit_is_inclusive_and_the_alias_that_passes_it_is_named_by_its_line() -> None:
    text = "a: &x [1, 2]\nb: *x\n"  # 9 nodes
    assert yamlload.load(text, limits=Limits(max_nodes=9)) == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(YamlLimitError) as e:
        yamlload.load(text, filename="f.yml", limits=Limits(max_nodes=8))
    assert e.value.line == 2
    assert str(e.value) == ("f.yml:2: with its aliases expanded, the YAML is more than 8 nodes "
                            "(an alias bomb?): refused (--yaml-max-nodes raises the limit)")


def test_the_bomb_is_refused_at_its_line_in_well_under_a_second() -> None:
    started = time.monotonic()
    with pytest.raises(YamlLimitError) as e:
        yamlload.load(BOMB, filename="bomb.yml")
    assert time.monotonic() - started < 1
    assert str(e.value).startswith(f"bomb.yml:{BOMB_LINE}: with its aliases expanded, the "
                                   "YAML is more than 1,000,000 nodes")


def test_a_few_long_strings_repeated_by_aliases_are_refused_for_their_characters() -> None:
    text = f"a: &a {'x' * 1000}\nb: [{', '.join(['*a'] * 200)}]\n"  # 200 KB expanded
    assert len(yamlload.load(text, limits=Limits(max_bytes=21_000))["b"]) == 200
    with pytest.raises(YamlLimitError) as e:
        yamlload.load(text, filename="f.yml", limits=Limits(max_bytes=10_000))
    assert e.value.line == 2
    assert "values are more than 100,000 characters" in e.value.message


@pytest.mark.parametrize(("text", "line", "message"), [
    ("a:\n" + "  - " * 201 + "x\n", 2, "the YAML nests deeper than 200 levels: refused"),
    ("a: &x\n  b: *x\n", 2, "an alias refers to a node that contains it (*x is inside &x)"),
    ("a: " + "1" * 5000 + "\n", 1, "a number of 5,000 characters is too long to read"),
])
def test_shapes_nothing_downstream_survives_are_errors_at_their_line(
        text: str, line: int, message: str) -> None:
    with pytest.raises(yaml.MarkedYAMLError) as e:
        yamlload.load(text)
    assert e.value.problem_mark is not None
    assert e.value.problem_mark.line + 1 == line
    assert (e.value.problem or "").startswith(message)


def test_nesting_up_to_the_limit_loads() -> None:
    data = yamlload.load("[" * 200 + "]" * 200)
    for _ in range(199):
        data = data[0]
    assert data == []


def test_input_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    limits = Limits(max_bytes=100)
    with pytest.raises(YamlLimitError) as e:
        yamlload.load("a: " + "x" * 100, filename="big.yml", limits=limits)
    assert str(e.value) == ("big.yml: the YAML is larger than 100 bytes: refused before "
                            "parsing (--yaml-max-bytes raises the limit)")
    path = tmp_path / "big.yml"
    path.write_bytes(b"a: " + b"x" * 10_000_000)
    with pytest.raises(YamlLimitError) as e:
        yamlload.read_bytes(path, limits=limits)
    assert e.value.line is None
    path.write_text("a: 1\n")
    assert yamlload.read_text(path, limits=limits) == "a: 1\n"


def _yaml_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*") if p.suffix in (".yml", ".yaml")
                  and ".venv" not in p.parts)


def test_every_yaml_file_of_the_tests_loads_as_the_c_safe_loader_loads_it() -> None:
    files = _yaml_files()
    assert len(files) > 100
    assert TESTS / "ci" / "config" / "testdata" / "seed-pipeline.yml" in files
    compared = 0
    for path in files:
        text = path.read_bytes()
        try:
            expected = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
        except yaml.YAMLError as e:  # a test of broken YAML: broken the same way
            with pytest.raises(yaml.YAMLError) as got:
                yamlload.load_all(text)
            assert getattr(got.value, "problem", None) == getattr(e, "problem", None), path
            continue
        assert yamlload.load_all(text, filename=str(path)) == expected, path
        compared += 1
    assert compared > 100


def test_compose_keeps_lines_and_gives_one_node_per_document() -> None:
    node = yamlload.compose("a:\n  - b\n")
    assert node is not None
    assert node.value[0][1].value[0].start_mark.line == 1
    assert [n.value for n in yamlload.compose_all("--- 1\n--- 2\n")] == ["1", "2"]
    assert yamlload.compose("") is None
