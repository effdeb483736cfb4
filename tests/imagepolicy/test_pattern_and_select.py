"""Pattern and selection behaviour beyond the golden table: reasons, errors, limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from headwater.imagepolicy import (
    GoRegexp,
    GoRegexpError,
    PatternKind,
    TagInfo,
    UnsupportedPatternError,
    UnsupportedRegexpError,
    decide,
    parse_pattern,
    rank,
)
from headwater.imagepolicy import select as sel

T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(("text", "kind", "canonical"), [
    ("semver:~1.0", PatternKind.SEMVER, "semver:~1.0"),
    ("regexp:^v", PatternKind.REGEXP, "regexp:^v"),
    ("regex:^v", PatternKind.REGEXP, "regexp:^v"),  # pattern.go String(): one prefix
    ("glob:*", PatternKind.GLOB, "glob:*"),
    ("master-*", PatternKind.GLOB, "glob:master-*"),
    ("", PatternKind.GLOB, "glob:"),
])
def test_prefixes_and_canonical_text(text: str, kind: PatternKind, canonical: str) -> None:
    pattern = parse_pattern(text)
    assert pattern.kind is kind
    assert str(pattern) == canonical
    assert pattern.requires_timestamp is (kind is not PatternKind.SEMVER)


def test_empty_glob_only_admits_the_empty_tag() -> None:
    pattern = parse_pattern("glob:")
    assert pattern.matches("")
    assert not pattern.matches("1.0")


def test_decide_gives_fluxd_reasons() -> None:
    semver = parse_pattern("semver:~1.0")
    glob = parse_pattern("glob:*")
    assert decide(semver, [], "1.0.0").reason == sel.NO_MATCHING_TAG
    assert decide(semver, [TagInfo("1.0.0")], "1.0.0").reason == sel.UP_TO_DATE
    assert decide(glob, [TagInfo("a", T1), TagInfo("b")], "b").reason == sel.ZERO_TIMESTAMP
    decision = decide(glob, [TagInfo("a", T1), TagInfo("b", T2)], "a")
    assert decision.update
    assert decision.latest == TagInfo("b", T2)
    assert decision.reason == sel.NEWER


def test_an_empty_tag_is_never_released() -> None:
    # daemon/images.go: "untagged image in available images" -> skip container.
    decision = decide(parse_pattern("glob:*"), [TagInfo("", T2), TagInfo("a", T1)], "a")
    assert not decision.update
    assert decision.reason == sel.UNTAGGED


def test_created_times_must_say_their_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        TagInfo("a", datetime(2024, 1, 1))


def test_go_zero_time_counts_as_unknown() -> None:
    zero = datetime(1, 1, 1, tzinfo=UTC)
    assert not TagInfo("a", zero).created_known
    # Same instant as an unknown time: the tie goes to the smaller tag.
    ranked = rank(parse_pattern("*"), [TagInfo("b", zero), TagInfo("a")])
    assert [t.tag for t in ranked] == ["a", "b"]


def test_script_classes_are_valid_but_unsupported() -> None:
    # Go 1.17 knows \p{Greek}; headwater has no script tables and says so.
    pattern = parse_pattern(r"regexp:^\p{Greek}+$")
    assert pattern.valid
    with pytest.raises(UnsupportedPatternError, match="Greek"):
        pattern.matches("abc")
    with pytest.raises(GoRegexpError):
        GoRegexp(r"\p{Toto}")  # Unicode 14: unknown to Go 1.17


def test_unicode_categories_are_supported() -> None:
    assert GoRegexp(r"^\p{Lu}\pL+$").search("Abc")
    assert not GoRegexp(r"^\PN+$").search("a1")


def test_deep_nesting_is_reported_not_crashed() -> None:
    assert GoRegexp("(" * 5000 + "a" + ")" * 5000).search("a")  # groups add no depth
    with pytest.raises(UnsupportedRegexpError):
        GoRegexp("(" * 5000 + "a" + ")*" * 5000)  # Go 1.17 accepts it; Python's stack cannot


def test_hostile_policies_stay_fast() -> None:
    # RE2 semantics: linear time, where Python's re would backtrack for minutes.
    start = time.monotonic()
    assert not GoRegexp("^(a+)+$").search("a" * 128 + "b")
    assert not GoRegexp("(x+x+)+y").search("x" * 128)
    assert not parse_pattern("semver:" + "1 " * 300 + "!").valid
    assert time.monotonic() - start < 5
