"""The semver resource's version logic, table by table from concourse/semver-resource:
its README's examples, `version/*_bump_test.go`, `bump_from_params_test.go`, the git
driver's check from a cursor (`test/check.sh`), and blang/semver's strict parser."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.semverbump import (
    Bump,
    InvalidSemver,
    bump_from_params,
    first_token,
    parse_version,
    versions_since,
)


def bumped(version: str, **params: Any) -> str:
    return str(bump_from_params(params).apply(parse_version(version)))


@pytest.mark.parametrize(("version", "params", "expected"), [
    # README, "Version Bumping Semantics"
    ("1.0.0", {"bump": "major"}, "2.0.0"),
    ("0.1.0", {"bump": "minor"}, "0.2.0"),
    ("0.0.1", {"bump": "patch"}, "0.0.2"),
    ("1.0.0-rc.1", {"bump": "final"}, "1.0.0"),
    # README, pre_without_version examples (1.2.4-SNAPSHOT)
    ("1.2.4-SNAPSHOT", {"bump": "major"}, "2.0.0"),
    ("1.2.4-SNAPSHOT", {"bump": "minor"}, "1.3.0"),
    ("1.2.4-SNAPSHOT", {"bump": "final"}, "1.2.4"),
    # README, `pre`: same type bumps its number, another type restarts at 1
    ("1.0.0-alpha.1", {"pre": "alpha"}, "1.0.0-alpha.2"),
    ("1.0.0-alpha.7", {"pre": "beta"}, "1.0.0-beta.1"),
    ("1.0.0", {"pre": "rc"}, "1.0.0-rc.1"),
    ("1.0.0", {"pre": "my-preferred-naming-convention"},
     "1.0.0-my-preferred-naming-convention.1"),
    # README, `build`, alone and with `pre`
    ("1.0.0", {"build": "foo"}, "1.0.0+foo.1"),
    ("1.0.0", {"pre": "alpha", "build": "test"}, "1.0.0-alpha.1+test.1"),
    # test/put.sh: minor + pre + build over nothing and over 1.2.3
    ("0.0.0", {"bump": "minor", "pre": "alpha", "build": "build"}, "0.1.0-alpha.1+build.1"),
    ("1.2.3", {"bump": "minor", "pre": "alpha", "build": "build"}, "1.3.0-alpha.1+build.1"),
    # major/minor/patch_bump_test.go: each drops the prerelease and zeroes what follows
    ("1.2.3-beta.1", {"bump": "major"}, "2.0.0"),
    ("1.2.3-beta.1", {"bump": "minor"}, "1.3.0"),
    ("1.2.3-beta.1", {"bump": "patch"}, "1.2.4"),
    ("1.2.3-beta.1", {"bump": "final"}, "1.2.3"),
    # pre_bump_test.go
    ("1.2.3", {"pre": "omega", "pre_without_version": True}, "1.2.3-omega"),
    ("1.2.3-alpha", {"pre": "omega", "pre_without_version": True}, "1.2.3-omega"),
    ("1.2.3-omega.1", {"pre": "omega", "pre_without_version": True}, "1.2.3-omega"),
    ("1.2.3-alpha.1", {"pre": "alpha"}, "1.2.3-alpha.2"),
    ("1.2.3-alpha.1", {"pre": "beta"}, "1.2.3-beta.1"),
    ("1.2.3", {"pre": "beta"}, "1.2.3-beta.1"),
    # build_bump_test.go
    ("1.2.3", {"build": "omega", "build_without_version": True}, "1.2.3+omega"),
    ("1.2.3+alpha", {"build": "omega", "build_without_version": True}, "1.2.3+omega"),
    ("1.2.3+omega.1", {"build": "omega", "build_without_version": True}, "1.2.3+omega"),
    ("1.2.3+alpha.1", {"build": "alpha"}, "1.2.3+alpha.2"),
    ("1.2.3+alpha.1", {"build": "beta"}, "1.2.3+beta.1"),
    # the semantic bumps keep build metadata (they only clear Pre)
    ("1.2.3+b.4", {"bump": "patch"}, "1.2.4+b.4"),
    # corners of pre_bump.go: a word where the number goes counts as 0, identifiers
    # after the number are dropped, a numeric first identifier never matches
    ("1.2.3-rc.beta", {"pre": "rc"}, "1.2.3-rc.1"),
    ("1.2.3-rc.4.9", {"pre": "rc"}, "1.2.3-rc.5"),
    ("1.2.3-rc", {"pre": "rc"}, "1.2.3-rc.1"),
    ("1.2.3-1.2", {"pre": "1"}, "1.2.3-1.1"),
    ("1.2.3+b.x", {"build": "b"}, "1.2.3+b.1"),
    ("1.2.3+b.007", {"build": "b"}, "1.2.3+b.8"),
])
def test_a_bump_gives_semver_resources_version(version: str, params: dict[str, Any],
                                                expected: str) -> None:
    assert bumped(version, **params) == expected


# bump_from_params_test.go: each semantic bump, alone and followed by `pre: rc`,
# from 1.2.3, from 1.2.3-rc.1 and from 1.2.3-different-type.1.
@pytest.mark.parametrize(("start", "pre", "bump", "expected"), [
    ("1.2.3", None, None, "1.2.3"),
    ("1.2.3", None, "final", "1.2.3"),
    ("1.2.3", None, "patch", "1.2.4"),
    ("1.2.3", None, "minor", "1.3.0"),
    ("1.2.3", None, "major", "2.0.0"),
    ("1.2.3", "rc", None, "1.2.3-rc.1"),
    ("1.2.3", "rc", "final", "1.2.3-rc.1"),
    ("1.2.3", "rc", "patch", "1.2.4-rc.1"),
    ("1.2.3", "rc", "minor", "1.3.0-rc.1"),
    ("1.2.3", "rc", "major", "2.0.0-rc.1"),
    ("1.2.3-rc.1", "rc", None, "1.2.3-rc.2"),
    ("1.2.3-rc.1", "rc", "final", "1.2.3-rc.1"),
    ("1.2.3-rc.1", "rc", "patch", "1.2.4-rc.1"),
    ("1.2.3-rc.1", "rc", "minor", "1.3.0-rc.1"),
    ("1.2.3-rc.1", "rc", "major", "2.0.0-rc.1"),
    ("1.2.3-different-type.1", "rc", None, "1.2.3-rc.1"),
    ("1.2.3-different-type.1", "rc", "final", "1.2.3-rc.1"),
    ("1.2.3-different-type.1", "rc", "patch", "1.2.4-rc.1"),
    ("1.2.3-different-type.1", "rc", "minor", "1.3.0-rc.1"),
    ("1.2.3-different-type.1", "rc", "major", "2.0.0-rc.1"),
    ("1.2.3-rc.1", None, None, "1.2.3-rc.1"),
    ("1.2.3-rc.1", None, "final", "1.2.3"),
    ("1.2.3-rc.1", None, "patch", "1.2.4"),
    ("1.2.3-rc.1", None, "minor", "1.3.0"),
    ("1.2.3-rc.1", None, "major", "2.0.0"),
])
def test_bump_from_params_applies_the_bump_then_the_prerelease(
        start: str, pre: str | None, bump: str | None, expected: str) -> None:
    params = {k: v for k, v in (("bump", bump), ("pre", pre)) if v is not None}
    assert bumped(start, **params) == expected


def test_many_bumps_apply_in_order_as_multi_bump() -> None:
    # multi_bump_test.go: major, minor, patch x3, pre beta (no version), pre beta
    v = parse_version("1.2.3")
    for step in [Bump(bump="major"), Bump(bump="minor"), Bump(bump="patch"),
                 Bump(bump="patch"), Bump(bump="patch"),
                 Bump(pre="beta", pre_without_version=True), Bump(pre="beta")]:
        v = step.apply(v)
    assert str(v) == "2.1.3-beta.1"


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("1.2", "no MAJOR.MINOR.PATCH"),
    ("v1.2.3", "invalid major number"),
    ("01.2.3", "leading zero"),
    ("1.02.3", "leading zero"),
    ("1.2.03", "leading zero"),
    ("1.2.3.4", "invalid patch number"),
    ("1.2.3-", "prerelease identifier is empty"),
    ("1.2.3-rc..1", "prerelease identifier is empty"),
    ("1.2.3-rc.01", "leading zero"),
    ("1.2.3-rc_1", "invalid character"),
    ("1.2.3+", "build metadata is empty"),
    ("1.2.3+a_b", "invalid character"),
    ("1.2.x", "invalid patch number"),
    ("1.2.3 ", "invalid patch number"),
    ("18446744073709551616.0.0", "too large"),
])
def test_the_parser_is_blang_semvers_strict_one(text: str, why: str) -> None:
    with pytest.raises(InvalidSemver, match=why):
        parse_version(text)


@pytest.mark.parametrize("text", ["0.0.0", "1.2.3-rc.1", "1.2.3+b.007", "1.2.3-0.a-b+x-y",
                                  "10.20.30-alpha.10.beta+20130313144700"])
def test_a_valid_version_reads_back_as_written(text: str) -> None:
    assert str(parse_version(text)) == text


@pytest.mark.parametrize(("params", "message"), [
    ({"bump": "patc"}, "params.bump is 'patc': use one of major, minor, patch, final"),
    ({"bump": 1}, "params.bump must be a string, not int"),
    ({"pre": "rc", "pre_without_version": "yes"}, "params.pre_without_version must be true"),
])
def test_bad_params_are_refused_with_what_to_write(params: dict[str, Any],
                                                   message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        bump_from_params(params)


@pytest.mark.parametrize("params", [{"pre": "r c"}, {"pre": "rc", "build": "a+b"},
                                    {"pre": "rc_1"}])
def test_a_pre_or_build_that_makes_an_invalid_version_is_refused(
        params: dict[str, Any]) -> None:
    with pytest.raises(InvalidSemver, match="makes an invalid version"):
        bumped("1.0.0", **params)


@pytest.mark.parametrize(("text", "word"), [
    ("1.2.3\n", "1.2.3"), ("  1.2.3  trailing words\n", "1.2.3"), ("\n\n", ""), ("", ""),
])
def test_the_version_is_the_first_word_of_a_file(text: str, word: str) -> None:
    assert first_token(text) == word


# test/check.sh it_can_check_from_a_version: history 1.2.3, then 1.2.5, then 2.0.0.
@pytest.mark.parametrize(("history", "cursor", "expected"), [
    (["1.2.3"], None, ["1.2.3"]),
    (["1.2.3"], "1.2.3", ["1.2.3"]),
    (["1.2.3"], "1.2.4", ["1.2.3"]),
    (["1.2.5", "1.2.3"], "1.2.4", ["1.2.5"]),
    (["2.0.0", "1.2.5", "1.2.3"], "1.2.4", ["1.2.5", "2.0.0"]),
    (["2.0.0", "1.2.5", "1.2.3"], "1.2.3", ["1.2.3", "1.2.5", "2.0.0"]),
    (["2.0.0", "1.2.5", "1.2.3"], "0.1.0", ["1.2.3", "1.2.5", "2.0.0"]),
])
def test_a_check_from_a_cursor_answers_the_versions_since_oldest_first(
        history: list[str], cursor: str | None, expected: list[str]) -> None:
    since = versions_since(parse_version(cursor) if cursor else None,
                           [parse_version(v) for v in history])
    assert [str(v) for v in since] == expected
