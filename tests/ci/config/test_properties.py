"""Properties over generated input: valid pipelines pass, secrets never leak, vars round-trip."""

from __future__ import annotations

import itertools
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.ci.config import compile_job, load_pipeline, parse_duration, validate
from headwater.ci.plan import PLAN
from headwater.ci.vars import (
    REDACTED,
    Redactor,
    StreamRedactor,
    Vars,
    interpolate,
    resolve_old_style,
)

NAMES = st.from_regex(r"[a-z][a-z0-9_.-]{0,8}", fullmatch=True)


@st.composite
def pipelines(draw: st.DrawFn) -> dict[str, Any]:
    """A valid pipeline: every resource used, `passed` only to earlier jobs (no loop)."""
    resources = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    jobs = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    uses: dict[str, list[str]] = {}
    job_configs = []
    for j, job in enumerate(jobs):
        gets = draw(st.lists(st.sampled_from(resources), max_size=3, unique=True))
        if j == len(jobs) - 1:  # the last job uses every resource: none is unused
            gets = resources
        plan: list[dict[str, Any]] = []
        for resource in gets:
            step: dict[str, Any] = {"get": resource, "trigger": draw(st.booleans())}
            upstream = [u for u in jobs[:j] if resource in uses.get(u, [])]
            use_passed: bool = draw(st.booleans())
            if upstream and use_passed:
                step["passed"] = draw(st.lists(st.sampled_from(upstream), min_size=1,
                                               unique=True))
            if draw(st.booleans()):
                step["attempts"] = draw(st.integers(1, 5))
            if draw(st.booleans()):
                step["timeout"] = f"{draw(st.integers(1, 120))}m"
            plan.append(step)
        uses[job] = list(gets)
        if draw(st.booleans()):
            plan.append({"task": "test", "config": {"platform": "linux",
                                                    "run": {"path": "true"}}})
        parallel: bool = draw(st.booleans())
        if plan and parallel:
            plan = [{"in_parallel": {"steps": plan, "fail_fast": draw(st.booleans())}}]
        job_configs.append({"name": job, "plan": plan})
    return {"resources": [{"name": r, "type": "time", "source": {"interval": "1h"}}
                          for r in resources],
            "jobs": job_configs}


@settings(max_examples=60, deadline=None)
@given(pipelines())
def test_valid_pipelines_give_no_errors_nor_warnings_and_compile(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    report = validate(text, filename="p.yml")
    assert (report.errors, report.warnings) == ((), ())
    config = load_pipeline(text).config
    assert type(config).model_validate(config.to_data()) == config
    for job in config.jobs:
        plan = compile_job(config, job.name, {})
        assert PLAN.validate_json(PLAN.dump_json(plan)) == plan


SECRET_ALPHABET = st.sampled_from("0123456789XYZxyz-_/+=@!")


@settings(max_examples=200)
@given(st.lists(st.text(SECRET_ALPHABET, min_size=3, max_size=12), min_size=1, max_size=4),
       st.lists(st.text(st.sampled_from("abc XYZ\n0123"), max_size=10), max_size=6))
def test_redaction_never_leaves_a_secret(secrets: list[str], noise: list[str]) -> None:
    # The secrets share no character with the marker, so no secret can be made of it.
    text = "".join(n + s for n, s in zip(noise + [""] * len(secrets), secrets, strict=False))
    redacted = Redactor(secrets).redact(text)
    for secret in secrets:
        assert secret not in redacted
    assert redacted.count(REDACTED) >= 1


@settings(max_examples=300)
@given(st.lists(st.text(SECRET_ALPHABET, min_size=3, max_size=12), min_size=1, max_size=3),
       st.text(st.sampled_from("abcXYZ\n0123-"), max_size=30),
       st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_output_cut_anywhere_redacts_as_if_whole(secrets: list[str], noise: str,
                                                 cuts: list[int]) -> None:
    # A secret in the middle of the output, chunked at arbitrary places (a task's
    # stdout as the pipe delivers it): the shown text is the whole text redacted.
    text = noise[: len(noise) // 2] + secrets[0] + noise[len(noise) // 2:] + secrets[-1]
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    stream = StreamRedactor(Redactor(secrets))
    shown = "".join(stream.feed("out", text[a:b]) for a, b in itertools.pairwise(bounds))
    shown += "".join(stream.flush(lambda _: True).values())
    assert shown == Redactor(secrets).redact(text)
    for secret in secrets:
        assert secret not in shown


def test_only_what_could_begin_a_secret_is_held_back() -> None:
    stream = StreamRedactor(Redactor(["hunter2"]))
    assert stream.feed("out", "password: hun") == "password: "
    assert stream.feed("err", "no secret here\n") == "no secret here\n"
    assert stream.feed("out", "ter2 and more h") == "((redacted)) and more "
    assert stream.flush(lambda k: k == "out") == {"out": "h"}
    assert stream.flush(lambda _: True) == {}


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=10)


@given(JSONISH)
def test_data_without_vars_comes_back_unchanged(data: Any) -> None:
    done = interpolate(data, Vars().lookup)
    if "((" not in repr(data):
        assert done.value == data and not done.missing and not done.errors


@given(JSONISH)
def test_old_style_values_read_back_identical_on_the_same_line(value: Any) -> None:
    old = resolve_old_style("x: 1\na: {{v}}\nb: 2\n", {"v": value})
    assert old.text.count("\n") == 3
    assert yaml.safe_load(old.text) == {"x": 1, "a": value, "b": 2}


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["h", "m", "s", "ms"])),
                min_size=1, max_size=4))
def test_durations_add_up_their_parts(parts: list[tuple[int, str]]) -> None:
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert abs(parse_duration(text) - sum(n * scale[u] for n, u in parts)) < 1e-6
