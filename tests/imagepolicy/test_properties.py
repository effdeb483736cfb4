"""Properties of the policy rules over generated tags, versions, globs and regexps."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from headwater.imagepolicy import (
    Constraints,
    GoRegexp,
    TagInfo,
    Version,
    filter_tags,
    glob_match,
    is_latest_tag,
    newer_by_created,
    newer_by_semver,
    parse_pattern,
    rank,
    would_update,
)

numbers = st.integers(min_value=0, max_value=12)
prereleases = st.lists(st.sampled_from(["alpha", "beta", "rc", "0", "1", "2", "11", "x-y"]),
                       min_size=1, max_size=3).map(".".join)
versions = st.builds(
    lambda ma, mi, pa, pre, v: f"{'v' if v else ''}{ma}.{mi}.{pa}{'-' + pre if pre else ''}",
    numbers, numbers, numbers, st.none() | prereleases, st.booleans())
release_versions = st.tuples(numbers, numbers, numbers)
tag_text = st.one_of(versions, st.sampled_from(["latest", "LATEST", "dev", "master-1", "1.0",
                                                "1", "1.0.0+b", "v1"]))
times = st.none() | st.integers(min_value=0, max_value=5).map(
    lambda d: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=d))
tag_infos = st.lists(st.builds(TagInfo, tag_text, times), max_size=8,
                     unique_by=lambda t: t.tag)
policies = st.sampled_from(["semver:~1.0", "semver:*", "semver:^1", "semver:>=1.0 <3",
                            "semver:~1.0,,", "glob:*", "latest", "1.*", "regex:^v",
                            "regexp:(", "semver:>=1.0.0-0"])


@given(st.text("ab*.", max_size=6), st.text("ab.", max_size=6))
def test_glob_is_star_only_wildcard_matching(pattern: str, subject: str) -> None:
    # go-glob glob.go: only `*` is special and it matches any run of characters.
    expected = re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), subject, re.DOTALL)
    assert glob_match(pattern, subject) is (expected is not None)


def _regexps() -> st.SearchStrategy[str]:
    atoms = st.sampled_from(["a", "b", ".", "[ab]", "[^a]", "c"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map("|".join),
            inner.map(lambda r: f"(?:{r})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{1,2}", "{0,}"]))
            .map("".join).map(lambda r: f"(?:{r})"),
        )

    return st.tuples(st.sampled_from(["", "^"]), st.recursive(atoms, extend, max_leaves=6),
                     st.sampled_from(["", "$"])).map("".join)


@given(_regexps(), st.text("abc", max_size=8))
def test_go_regexp_agrees_with_python_re_where_their_dialects_meet(pattern: str,
                                                                   subject: str) -> None:
    # Without newlines, Unicode classes or Go/Python-only syntax both engines agree.
    assert GoRegexp(pattern).search(subject) is (re.search(pattern, subject) is not None)


@given(versions, versions)
def test_version_precedence_is_antisymmetric(a: str, b: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    assert va.compare(vb) == -vb.compare(va)
    assert va.compare(Version.parse(str(va))) == 0


@given(release_versions, release_versions)
def test_release_precedence_is_numeric_order(a: tuple[int, int, int],
                                             b: tuple[int, int, int]) -> None:
    cmp = Version.parse(".".join(map(str, a))).compare(Version.parse(".".join(map(str, b))))
    assert cmp == (a > b) - (a < b)


@given(numbers, numbers, release_versions)
def test_tilde_minor_is_the_half_open_range(major: int, minor: int,
                                            v: tuple[int, int, int]) -> None:
    # constraints.go constraintTilde: ~X.Y is >=X.Y.0, <X.(Y+1).0 for release versions.
    version = Version.parse(".".join(map(str, v)))
    tilde = Constraints.parse(f"~{major}.{minor}")
    half_open = Constraints.parse(f">={major}.{minor}.0, <{major}.{minor + 1}.0")
    assert tilde.check(version) is half_open.check(version)


@given(st.integers(min_value=1, max_value=9), numbers, numbers, release_versions)
def test_caret_above_zero_is_same_major(major: int, minor: int, patch: int,
                                        v: tuple[int, int, int]) -> None:
    # constraints.go constraintCaret: ^X.Y.Z with X > 0 is >=X.Y.Z, <(X+1).0.0.
    version = Version.parse(".".join(map(str, v)))
    caret = Constraints.parse(f"^{major}.{minor}.{patch}")
    half_open = Constraints.parse(f">={major}.{minor}.{patch} <{major + 1}.0.0")
    assert caret.check(version) is half_open.check(version)


LONG_S = "\u017f"  # folds with s in Go's simple case folding


@given(st.text("latesLATESx" + LONG_S, max_size=7))
def test_latest_word_is_go_equal_fold(tag: str) -> None:
    # strings.EqualFold(tag, "latest"): ASCII case-insensitive, and long s folds to s.
    assert is_latest_tag(tag) is (tag.replace(LONG_S, "s").lower() == "latest")


@given(policies, tag_infos, st.randoms())
def test_rank_orders_the_admitted_tags_whatever_the_input_order(
        policy: str, tags: list[TagInfo], random: object) -> None:
    pattern = parse_pattern(policy)
    ranked = rank(pattern, tags)
    assert sorted(ranked, key=repr) == sorted(filter_tags(pattern, tags), key=repr)
    newer = newer_by_created if pattern.requires_timestamp else newer_by_semver
    assert not any(newer(b, a) for a, b in itertools.pairwise(ranked))
    shuffled = list(tags)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert rank(pattern, shuffled) == ranked
    assert all(pattern.is_latest or not is_latest_tag(t.tag) for t in ranked)


@given(policies, tag_infos)
def test_never_update_to_the_current_tag(policy: str, tags: list[TagInfo]) -> None:
    pattern = parse_pattern(policy)
    ranked = rank(pattern, tags)
    if ranked:
        assert not would_update(pattern, tags, ranked[0].tag)
    else:
        assert not would_update(pattern, tags, "anything")
