"""Image tag policies, decided exactly as Flux v1 (fluxd 1.25.4) decides them.

The bottom layer of headwater: pure functions on plain data, importing nothing else of
ours. `parse_pattern` reads a policy (`semver:~1.0`, `glob:master-*`, `regex:^v\\d+$`);
`rank` orders the tags it admits newest first, `latest` picks the first, and
`would_update`/`decide` say whether fluxd would release it over the current tag. The
semver rules are Masterminds/semver v3.1.1's (`semver`), globs are ryanuber/go-glob
v1.0.0's (`glob`), regexps are Go's RE2 syntax (`goregexp`).
"""

from headwater.imagepolicy.glob import glob_match
from headwater.imagepolicy.goregexp import GoRegexp, GoRegexpError, UnsupportedRegexpError
from headwater.imagepolicy.pattern import (
    Pattern,
    PatternKind,
    UnsupportedPatternError,
    parse_pattern,
)
from headwater.imagepolicy.select import (
    Decision,
    TagInfo,
    Trigger,
    decide,
    filter_tags,
    is_latest_tag,
    latest,
    newer_by_created,
    newer_by_semver,
    rank,
    would_update,
)
from headwater.imagepolicy.semver import (
    Constraint,
    Constraints,
    InvalidConstraintError,
    InvalidVersionError,
    SemverError,
    Version,
)

__all__ = [
    "Constraint",
    "Constraints",
    "Decision",
    "GoRegexp",
    "GoRegexpError",
    "InvalidConstraintError",
    "InvalidVersionError",
    "Pattern",
    "PatternKind",
    "SemverError",
    "TagInfo",
    "Trigger",
    "UnsupportedPatternError",
    "UnsupportedRegexpError",
    "Version",
    "decide",
    "filter_tags",
    "glob_match",
    "is_latest_tag",
    "latest",
    "newer_by_created",
    "newer_by_semver",
    "parse_pattern",
    "rank",
    "would_update",
]
