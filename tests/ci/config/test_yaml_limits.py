"""Vars cannot do what aliases may not: a `((var))` used many times stands for its whole
value at each use, and a `{{var}}` is pasted as text, so both are counted against the
same limits as the YAML (`--yaml-max-nodes`, `--yaml-max-bytes`) before any check walks
the pipeline."""

from __future__ import annotations

import time

import pytest

from headwater import yamlload
from headwater.ci.config import PipelineInvalid, load_pipeline, validate
from headwater.ci.vars import resolve_old_style


def _uses(n: int, ref: str) -> str:
    keys = "\n".join(f"      k{i}: {ref}" for i in range(n))
    return (f"resources:\n- name: r\n  type: mock\n  source:\n    deep:\n{keys}\n"
            "jobs:\n- name: j\n  plan:\n  - get: r\n")


def test_a_big_var_used_many_times_is_refused_where_it_passes_the_limit() -> None:
    text = _uses(2000, "((big))")
    started = time.monotonic()
    with pytest.raises(PipelineInvalid) as e:
        load_pipeline(text, vars={"big": list(range(1000))}, filename="p.yml")
    assert time.monotonic() - started < 5
    [error] = e.value.report.errors
    assert error.message == ("with its ((vars)) in place, the pipeline is more than "
                             "1,000,000 nodes: refused (--yaml-max-nodes raises the limit)")
    assert error.path.startswith("resources.r.source.deep.k998")
    assert error.line == 6 + 998
    # The same uses of a small value are fine.
    assert load_pipeline(text, vars={"big": [1]}).config.resources[0].source["deep"]["k0"] == [1]


def test_validate_with_vars_counts_them_too() -> None:
    report = validate(_uses(30, "((big))"), filename="p.yml", vars={"big": list(range(10))},
                      limits=yamlload.Limits(max_nodes=200))
    assert [d.message.split(":")[0] for d in report.errors] == [
        "with its ((vars)) in place, the pipeline is more than 200 nodes"]


def test_old_style_vars_may_not_grow_the_text_past_the_size_limit() -> None:
    text = _uses(1000, "{{big}}")
    with pytest.raises(PipelineInvalid) as e:
        load_pipeline(text, vars={"big": "x" * 20_000}, filename="p.yml")
    [error] = e.value.report.errors
    assert error.line == 6 + 523  # the 524th use of 20,000 characters passes 10 MiB
    assert error.message == ("with its {{vars}} in place, the pipeline is larger than "
                             "10,485,760 characters: refused (--yaml-max-bytes raises the limit)")


def test_old_style_lines_are_counted_in_linear_time() -> None:
    text = "a: {{x}}\n" * 200_000  # each missing var's line, without rescanning the text
    started = time.monotonic()
    old = resolve_old_style(text, {})
    assert time.monotonic() - started < 5
    assert old.missing[-1] == ("x", 200_000)
    assert old.missing[:2] == (("x", 1), ("x", 2))
