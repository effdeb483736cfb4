"""Tag policies (`semver:`, `regexp:`/`regex:`, `glob:`), as Flux v1's pkg/policy/pattern.go.

`parse_pattern` never fails, like Flux's `NewPattern`: a constraint or regexp that does
not compile gives a pattern whose `valid` is False (what `fluxctl policy --tag` refuses)
and which then matches *every* tag a valid one of its kind could see — every semver tag
for `semver:`, every tag for `regexp:` — because that is what fluxd does with a bad
annotation. Prefixes are case-sensitive and checked in Flux's order: `semver:`,
`regexp:`, `regex:`, else a glob with an optional `glob:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from headwater.imagepolicy.glob import glob_match
from headwater.imagepolicy.goregexp import GoRegexp, GoRegexpError, UnsupportedRegexpError
from headwater.imagepolicy.semver import Constraints, InvalidConstraintError, SemverError, Version

__all__ = ["Pattern", "PatternKind", "UnsupportedPatternError", "parse_pattern"]

GLOB_PREFIX = "glob:"
SEMVER_PREFIX = "semver:"
REGEXP_PREFIX = "regexp:"
REGEXP_ALT_PREFIX = "regex:"


class PatternKind(StrEnum):
    SEMVER = "semver"
    GLOB = "glob"
    REGEXP = "regexp"


class UnsupportedPatternError(ValueError):
    """Go accepts this policy but headwater cannot evaluate it like fluxd would."""


@dataclass(frozen=True)
class Pattern:
    """One parsed policy. `body` is the text after the prefix."""

    kind: PatternKind
    body: str
    valid: bool
    _constraints: Constraints | None = field(default=None, repr=False, compare=False)
    _regexp: GoRegexp | None = field(default=None, repr=False, compare=False)
    _unsupported: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        """Flux's String(): the canonical prefix (`regex:` is shown as `regexp:`)."""
        prefix = {PatternKind.SEMVER: SEMVER_PREFIX, PatternKind.GLOB: GLOB_PREFIX,
                  PatternKind.REGEXP: REGEXP_PREFIX}[self.kind]
        return prefix + self.body

    @property
    def requires_timestamp(self) -> bool:
        """Flux's RequiresTimestamp(): glob and regexp order by creation time."""
        return self.kind is not PatternKind.SEMVER

    @property
    def is_latest(self) -> bool:
        """Whether this is Flux's PatternLatest (`latest` or `glob:latest`).

        pkg/update/images.go compares the pattern value to `PatternLatest`; only then
        may a tag spelled `latest` (any case) be picked.
        """
        return self.kind is PatternKind.GLOB and self.body == "latest"

    def matches(self, tag: str) -> bool:
        """Flux's Matches(tag), without the `latest` rule (see select.filter_tags)."""
        if self.kind is PatternKind.GLOB:
            return glob_match(self.body, tag)
        if self.kind is PatternKind.SEMVER:
            try:
                version = Version.parse(tag)
            except SemverError:
                return False
            # Invalid constraints match any version (pattern.go SemverPattern.Matches).
            return self._constraints is None or self._constraints.check(version)
        if self._unsupported is not None:
            raise UnsupportedPatternError(self._unsupported)
        # An invalid regexp matches anything (pattern.go RegexpPattern.Matches).
        return self._regexp is None or self._regexp.search(tag)


def parse_pattern(text: str) -> Pattern:
    """pattern.go NewPattern."""
    if text.startswith(SEMVER_PREFIX):
        body = text.removeprefix(SEMVER_PREFIX)
        try:
            constraints: Constraints | None = Constraints.parse(body)
        except InvalidConstraintError:
            constraints = None
        return Pattern(PatternKind.SEMVER, body, constraints is not None,
                       _constraints=constraints)
    for prefix in (REGEXP_PREFIX, REGEXP_ALT_PREFIX):
        if text.startswith(prefix):
            return _regexp_pattern(text.removeprefix(prefix))
    return Pattern(PatternKind.GLOB, text.removeprefix(GLOB_PREFIX), True)


def _regexp_pattern(body: str) -> Pattern:
    try:
        return Pattern(PatternKind.REGEXP, body, True, _regexp=GoRegexp(body))
    except GoRegexpError:
        return Pattern(PatternKind.REGEXP, body, False)
    except UnsupportedRegexpError as e:
        return Pattern(PatternKind.REGEXP, body, True, _unsupported=str(e))
