"""The golden cases of golden.yaml: each names the Flux / Masterminds / go-glob rule it pins."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.imagepolicy import (
    Constraints,
    GoRegexp,
    GoRegexpError,
    SemverError,
    TagInfo,
    Trigger,
    Version,
    decide,
    glob_match,
    latest,
    parse_pattern,
    rank,
    would_update,
)

GOLDEN: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "golden.yaml").read_text(encoding="utf-8"))


def _cases(section: str) -> list[Any]:
    return [pytest.param(c, id=c.get("name") or c["rule"]) for c in GOLDEN[section]]


def test_there_are_at_least_forty_golden_cases_each_naming_its_rule() -> None:
    cases = [c for section in GOLDEN.values() for c in section]
    assert len(cases) >= 40
    assert all(c["rule"].split()[0] in {"Flux", "semver", "go-glob", "Go"} for c in cases)


@pytest.mark.parametrize("case", _cases("versions"))
def test_version_parsing(case: dict[str, Any]) -> None:
    if case["str"] is None:
        with pytest.raises(SemverError):
            Version.parse(case["in"])
    else:
        v = Version.parse(case["in"])
        assert str(v) == case["str"]
        assert v.original == case["in"]


@pytest.mark.parametrize("case", _cases("compare"))
def test_version_precedence(case: dict[str, Any]) -> None:
    a, b = Version.parse(case["a"]), Version.parse(case["b"])
    assert a.compare(b) == case["cmp"]
    assert b.compare(a) == -case["cmp"]


@pytest.mark.parametrize("case", _cases("constraints"))
def test_constraint_check(case: dict[str, Any]) -> None:
    if case["ok"] is None:
        with pytest.raises(SemverError):
            Constraints.parse(case["c"])
    else:
        assert Constraints.parse(case["c"]).check(Version.parse(case["v"])) is case["ok"]


@pytest.mark.parametrize("case", _cases("globs"))
def test_glob(case: dict[str, Any]) -> None:
    assert glob_match(case["p"], case["s"]) is case["ok"]


@pytest.mark.parametrize("case", _cases("regexps"))
def test_go_regexp(case: dict[str, Any]) -> None:
    if case["ok"] is None:
        with pytest.raises(GoRegexpError):
            GoRegexp(case["p"])
        pattern = parse_pattern("regexp:" + case["p"])
        assert not pattern.valid
        assert pattern.matches("anything")  # pattern.go: an invalid regexp matches anything
    else:
        assert GoRegexp(case["p"]).search(case["s"]) is case["ok"]


def _tag(text: str) -> TagInfo:
    tag, _, created = text.partition("@")
    return TagInfo(tag, datetime.fromisoformat(created) if created else None)


@pytest.mark.parametrize("case", _cases("policies"))
def test_policy(case: dict[str, Any]) -> None:
    pattern = parse_pattern(case["policy"])
    tags = [_tag(t) for t in case["tags"]]
    assert pattern.kind.value == case["kind"]
    assert pattern.valid is case["valid"]
    assert [t.tag for t in rank(pattern, tags)] == case["ranked"]
    best = latest(pattern, tags)
    assert (best.tag if best else None) == (case["ranked"][0] if case["ranked"] else None)
    if "current" in case:
        assert would_update(pattern, tags, case["current"]) is case["would_update"]
    # Flux sorts with sort.Sort (not stable): the order must not depend on the input's.
    assert [t.tag for t in rank(pattern, list(reversed(tags)))] == case["ranked"]


@pytest.mark.parametrize("case", _cases("triggers"))
def test_automation_and_release_differ_only_on_unknown_creation_times(
        case: dict[str, Any]) -> None:
    pattern = parse_pattern(case["policy"])
    tags = [_tag(t) for t in case["tags"]]
    automated = decide(pattern, tags, case["current"], trigger=Trigger.AUTOMATED)
    release = decide(pattern, tags, case["current"], trigger=Trigger.RELEASE)
    assert automated.update is case["automated"]
    assert release.update is case["release"]
    assert automated.latest == release.latest  # the same tag is ranked first either way
    assert would_update(pattern, tags, case["current"]) is case["automated"]
