"""Semantic versions and ranges exactly as Masterminds/semver v3.1.1 reads them.

Flux v1 (`pkg/policy/pattern.go`) parses tags with `semver.NewVersion` and `semver:`
policies with `semver.NewConstraint` from that library, so its quirks are Flux's
behaviour and ours: `v1`, `1.2` and `01.002.3` are versions (missing parts are 0,
leading zeros allowed outside the prerelease); a prerelease only satisfies a comparator
that itself names a prerelease (except `!=`, which never looks); `~0.0.0` accepts
everything; `^0.0.3` only pins the patch. Each function below names the Go function it
ports (version.go, constraints.go of v3.1.1). The regexps are Go's, with `\\s` spelled
as Go's ASCII class and `^...$` as `fullmatch`; the one that could backtrack
exponentially (`validConstraintRegex`) runs on the linear-time Go regexp engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from headwater.imagepolicy.goregexp import GoRegexp

__all__ = [
    "Constraint",
    "Constraints",
    "InvalidConstraintError",
    "InvalidVersionError",
    "SemverError",
    "Version",
]

_MAX_UINT64 = 2**64 - 1
_WS = r"[\t\n\f\r ]"  # Go's \s is ASCII; Python's str \s is Unicode and also \v, \x1c..
_ALNUM = r"[0-9A-Za-z\-]+"
_SEMVER = (
    rf"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-({_ALNUM}(\.{_ALNUM})*))?(\+({_ALNUM}(\.{_ALNUM})*))?"
)
_VERSION_RE = re.compile(_SEMVER)  # versionRegex, used with fullmatch (Go: ^...$)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    rf"(-({_ALNUM}(\.{_ALNUM})*))?(\+({_ALNUM}(\.{_ALNUM})*))?"
)
_CONSTRAINT_RE = re.compile(rf"{_WS}*({_OPS}){_WS}*({_CV}){_WS}*")  # fullmatch
_RANGE_RE = re.compile(rf"{_WS}*({_CV}){_WS}+-{_WS}+({_CV}){_WS}*")
_RANGE_HINT = re.compile(rf"{_WS}-{_WS}")  # what every range has: skips a quadratic scan
_FIND_RE = re.compile(rf"({_OPS}){_WS}*({_CV})")
_VALID_RE = GoRegexp(rf"^(\s*({_OPS})\s*({_CV})\s*\,?)+$")  # Go syntax, Go semantics


class SemverError(ValueError):
    """A version or constraint that Masterminds/semver v3.1.1 refuses."""


class InvalidVersionError(SemverError):
    """`semver.NewVersion` returns an error for this text."""


class InvalidConstraintError(SemverError):
    """`semver.NewConstraint` returns an error for this text."""


def _parse_uint(digits: str) -> int | None:
    """strconv.ParseUint(s, 10, 64): ASCII digits only, at most 2**64-1."""
    if not digits or not all("0" <= d <= "9" for d in digits):
        return None
    n = int(digits)
    return n if n <= _MAX_UINT64 else None


def _validate_prerelease(pre: str) -> None:
    """version.go validatePrerelease: numeric identifiers have no leading zero."""
    for part in pre.split("."):
        if part.isdigit() and part.isascii() and len(part) > 1 and part[0] == "0":
            raise InvalidVersionError("Version segment starts with 0")


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed version; `original` keeps the text (Flux breaks ties on it)."""

    major: int
    minor: int
    patch: int
    pre: str = ""
    metadata: str = ""
    original: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """version.go NewVersion: lenient, `v` prefix and missing minor/patch allowed."""
        m = _VERSION_RE.fullmatch(text)
        if m is None:
            raise InvalidVersionError(f"Invalid Semantic Version: {text!r}")
        numbers: list[int] = []
        for group in (m.group(1), m.group(2), m.group(3)):
            value = _parse_uint(group.lstrip(".")) if group else 0
            if value is None:
                raise InvalidVersionError(f"Error parsing version segment of {text!r}")
            numbers.append(value)
        pre = m.group(5) or ""
        if pre:
            _validate_prerelease(pre)
        return cls(numbers[0], numbers[1], numbers[2], pre, m.group(8) or "", text)

    def compare(self, other: Version) -> int:
        """version.go Compare: -1, 0 or 1; build metadata ignored, prerelease lower."""
        for a, b in ((self.major, other.major), (self.minor, other.minor),
                     (self.patch, other.patch)):
            if a != b:
                return -1 if a < b else 1
        if self.pre == other.pre == "":
            return 0
        if not self.pre:
            return 1
        if not other.pre:
            return -1
        return _compare_prerelease(self.pre, other.pre)

    def __str__(self) -> str:
        """version.go String: canonical form, without the `v`."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += f"-{self.pre}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text


def _compare_prerelease(a: str, b: str) -> int:
    """version.go comparePrerelease: identifier by identifier, missing ones lower."""
    sparts, oparts = a.split("."), b.split(".")
    for i in range(max(len(sparts), len(oparts))):
        s = sparts[i] if i < len(sparts) else ""
        o = oparts[i] if i < len(oparts) else ""
        d = _compare_pre_part(s, o)
        if d:
            return d
    return 0


def _compare_pre_part(s: str, o: str) -> int:
    """version.go comparePrePart: numbers below words; a number too big for uint64 is a word."""
    if s == o:
        return 0
    if not s:
        return -1
    if not o:
        return 1
    si, oi = _parse_uint(s), _parse_uint(o)
    if si is None and oi is None:
        return 1 if s > o else -1
    if oi is None:
        return -1
    if si is None:
        return 1
    return 1 if si > oi else -1


@dataclass(frozen=True, slots=True)
class Constraint:
    """constraints.go constraint: one comparator such as `>=1.2` or `~1.x`."""

    con: Version
    orig: str
    op: str
    minor_dirty: bool = False
    dirty: bool = False
    patch_dirty: bool = False

    def check(self, v: Version) -> bool:
        return _OPS_TABLE[self.op](v, self)

    def __str__(self) -> str:
        return self.op + self.orig


def _is_x(text: str) -> bool:
    return text in ("x", "X", "*")


def _parse_constraint(text: str) -> Constraint:
    """constraints.go parseConstraint (the empty-string branch is unreachable here)."""
    m = _CONSTRAINT_RE.fullmatch(text)
    if m is None:
        raise InvalidConstraintError(f"improper constraint: {text}")
    g = [m.group(i) or "" for i in range(12)]
    ver, minor_dirty, patch_dirty, dirty = g[2], False, False, False
    if _is_x(g[3]) or not g[3]:
        ver, dirty = "0.0.0", True
    elif _is_x(g[4].removeprefix(".")) or not g[4]:
        minor_dirty = dirty = True
        ver = f"{g[3]}.0.0{g[6]}"
    elif _is_x(g[5].removeprefix(".")) or not g[5]:
        dirty = patch_dirty = True
        ver = f"{g[3]}{g[4]}.0{g[6]}"
    try:
        con = Version.parse(ver)
    except InvalidVersionError:
        raise InvalidConstraintError("constraint Parser Error") from None
    return Constraint(con, g[2], g[1], minor_dirty, dirty, patch_dirty)


def _rewrite_range(text: str) -> str:
    """constraints.go rewriteRange: `1.2 - 1.4.5` becomes `>= 1.2, <= 1.4.5`."""
    out = text
    if not _RANGE_HINT.search(text):
        return out
    for m in _RANGE_RE.finditer(text):
        out = out.replace(m.group(0), f">= {m.group(1)}, <= {m.group(11)}", 1)
    return out


@dataclass(frozen=True, slots=True)
class Constraints:
    """constraints.go Constraints: OR (`||`) of ANDs (comma or space separated)."""

    groups: tuple[tuple[Constraint, ...], ...]
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Constraints:
        """constraints.go NewConstraint; raises InvalidConstraintError as it errs."""
        rewritten = _rewrite_range(text)
        groups: list[tuple[Constraint, ...]] = []
        for part in rewritten.split("||"):
            if not _VALID_RE.search(part):
                raise InvalidConstraintError(f"improper constraint: {part}")
            found = [m.group(0) for m in _FIND_RE.finditer(part)] or [part]
            groups.append(tuple(_parse_constraint(s) for s in found))
        return cls(tuple(groups), text)

    def check(self, v: Version) -> bool:
        """constraints.go Check: some OR group whose every comparator accepts `v`."""
        return any(all(c.check(v) for c in group) for group in self.groups)

    def __str__(self) -> str:
        return " || ".join(" ".join(str(c) for c in group) for group in self.groups)


# --- constraints.go constraint functions, one for one -------------------------------


def _pre_excluded(v: Version, c: Constraint) -> bool:
    """Issue 21's rule: a prerelease only satisfies a comparator naming a prerelease."""
    return bool(v.pre) and not c.con.pre


def _not_equal(v: Version, c: Constraint) -> bool:
    if c.dirty:
        if _pre_excluded(v, c):
            return False
        if c.con.major != v.major:
            return True
        if c.con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if c.con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            if v.pre or c.con.pre:
                return _compare_prerelease(v.pre, c.con.pre) != 0
            return False
    return v.compare(c.con) != 0


def _greater_than(v: Version, c: Constraint) -> bool:
    if _pre_excluded(v, c):
        return False
    if not c.dirty:
        return v.compare(c.con) == 1
    if v.major != c.con.major:
        return v.major > c.con.major
    if c.minor_dirty:
        return False  # >11 wants 12 or more: 11.1.0 is not greater
    if c.patch_dirty:
        return v.minor > c.con.minor
    return v.compare(c.con) == 1


def _less_than(v: Version, c: Constraint) -> bool:
    return not _pre_excluded(v, c) and v.compare(c.con) < 0


def _greater_than_equal(v: Version, c: Constraint) -> bool:
    return not _pre_excluded(v, c) and v.compare(c.con) >= 0


def _less_than_equal(v: Version, c: Constraint) -> bool:
    if _pre_excluded(v, c):
        return False
    if not c.dirty:
        return v.compare(c.con) <= 0
    if v.major > c.con.major:
        return False
    return not (v.major == c.con.major and v.minor > c.con.minor and not c.minor_dirty)


def _tilde(v: Version, c: Constraint) -> bool:
    if _pre_excluded(v, c) or v.compare(c.con) < 0:
        return False
    con = c.con
    if con.major == con.minor == con.patch == 0 and not c.minor_dirty and not c.patch_dirty:
        return True  # ~0.0.0 is >= 0.0.0
    if v.major != con.major:
        return False
    return not (v.minor != con.minor and not c.minor_dirty)


def _tilde_or_equal(v: Version, c: Constraint) -> bool:
    if _pre_excluded(v, c):
        return False
    if c.dirty:
        return _tilde(v, c)
    return v.compare(c.con) == 0


def _caret(v: Version, c: Constraint) -> bool:
    if _pre_excluded(v, c) or v.compare(c.con) < 0:
        return False
    con = c.con
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    return v.patch == con.patch  # major and minor 0: only the patch is compared


_OPS_TABLE: dict[str, Callable[[Version, Constraint], bool]] = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater_than,
    "<": _less_than,
    ">=": _greater_than_equal,
    "=>": _greater_than_equal,
    "<=": _less_than_equal,
    "=<": _less_than_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}
