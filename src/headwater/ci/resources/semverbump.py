"""The version logic of the `semver` resource, exactly as concourse/semver-resource.

semver-resource reads versions with blang/semver v3.5.1 `semver.Parse`, which is strict
Semantic Versioning 2.0: `MAJOR.MINOR.PATCH`, no `v` prefix, no leading zeros in numbers
or numeric prerelease identifiers, no empty identifiers. That is stricter than the
Masterminds parser Flux uses (`headwater.imagepolicy.semver`), so parsing is here;
the value type, its precedence and its canonical text are imagepolicy's `Version`.

A bump is the list of `version/*_bump.go` steps `BumpFromParams` builds, applied in
order: `major|minor|patch|final` (each drops the prerelease, keeps build metadata),
then `pre` (same name and a number after it: the number + 1; otherwise `name.1`, or
just `name` with `pre_without_version`), then `build` (the same rules on the metadata).
`versions_since` is the git driver's `getOldVersions` (check from a cursor), on a
history already read. Everything is a plain function on plain data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from headwater.ci.resources.base import ResourceError
from headwater.imagepolicy.semver import Version

__all__ = ["BUMPS", "Bump", "InvalidSemver", "bump_from_params", "first_token", "flag",
           "parse_version", "versions_since"]

BUMPS = ("major", "minor", "patch", "final")
_MAX_UINT64 = 2**64 - 1
_ALNUM = re.compile(r"[0-9A-Za-z-]*")
_DIGITS = re.compile(r"[0-9]*")
_ATOI = re.compile(r"[+-]?[0-9]+")


class InvalidSemver(ResourceError, ValueError):
    """Text that blang/semver's strict `Parse` refuses; the message says why."""


def parse_version(text: str) -> Version:
    """blang/semver v3.5.1 `Parse`: strict Semantic Versioning 2.0."""
    if not text:
        raise InvalidSemver("the version is empty")
    parts = text.split(".", 2)
    if len(parts) != 3:
        raise InvalidSemver(f"{_show(text)} has no MAJOR.MINOR.PATCH")
    rest = parts[2]
    build: list[str] = []
    pre: list[str] = []
    if "+" in rest:
        rest, _, meta = rest.partition("+")
        build = meta.split(".")
    if "-" in rest:
        rest, _, pre_text = rest.partition("-")
        pre = pre_text.split(".")
    major = _number(parts[0], "major", text)
    minor = _number(parts[1], "minor", text)
    patch = _number(rest, "patch", text)
    for identifier in pre:
        _prerelease_identifier(identifier, text)
    for identifier in build:
        if not identifier:
            raise InvalidSemver(f"{_show(text)}: build metadata is empty")
        if not _ALNUM.fullmatch(identifier):
            raise InvalidSemver(f"{_show(text)}: invalid character(s) in build metadata "
                                f"{identifier!r}")
    return Version(major, minor, patch, ".".join(pre), ".".join(build), text)


def _number(digits: str, which: str, text: str) -> int:
    if not digits or not _DIGITS.fullmatch(digits):
        raise InvalidSemver(f"{_show(text)}: invalid {which} number {digits!r}")
    if len(digits) > 1 and digits[0] == "0":
        raise InvalidSemver(f"{_show(text)}: the {which} number {digits!r} has a leading zero")
    value = int(digits)
    if value > _MAX_UINT64:
        raise InvalidSemver(f"{_show(text)}: the {which} number is too large")
    return value


def _prerelease_identifier(identifier: str, text: str) -> None:
    if not identifier:
        raise InvalidSemver(f"{_show(text)}: a prerelease identifier is empty")
    if _DIGITS.fullmatch(identifier):
        if len(identifier) > 1 and identifier[0] == "0":
            raise InvalidSemver(f"{_show(text)}: the prerelease number {identifier!r} has a "
                                "leading zero")
        if int(identifier) > _MAX_UINT64:
            raise InvalidSemver(f"{_show(text)}: the prerelease number is too large")
    elif not _ALNUM.fullmatch(identifier):
        raise InvalidSemver(f"{_show(text)}: invalid character(s) in prerelease "
                            f"{identifier!r}")


def _show(text: str) -> str:
    """`text` quoted, cut short: it may come from a file anyone could write."""
    return repr(text if len(text) <= 80 else text[:80] + "...")


def first_token(text: str) -> str:
    """What Go's `fmt.Fscanf(file, "%s", &s)` reads: the first run of non-space
    characters ("" for a file of blanks)."""
    words = text.split(maxsplit=1)
    return words[0] if words else ""


@dataclass(frozen=True)
class Bump:
    """`BumpFromParams`: a semantic bump, then a prerelease bump, then a build bump."""

    bump: str | None = None  # major, minor, patch or final
    pre: str | None = None
    pre_without_version: bool = False
    build: str | None = None
    build_without_version: bool = False

    @property
    def empty(self) -> bool:
        return self.bump is None and not self.pre and not self.build

    def apply(self, version: Version) -> Version:
        v = replace(version, original="")
        if self.bump == "major":
            v = replace(v, major=v.major + 1, minor=0, patch=0, pre="")
        elif self.bump == "minor":
            v = replace(v, minor=v.minor + 1, patch=0, pre="")
        elif self.bump == "patch":
            v = replace(v, patch=v.patch + 1, pre="")
        elif self.bump == "final":
            v = replace(v, pre="")
        if self.pre:
            v = replace(v, pre=_pre_bump(v.pre, self.pre, self.pre_without_version))
        if self.build:
            v = replace(v, metadata=_build_bump(v.metadata, self.build,
                                                self.build_without_version))
        # `pre`/`build` values are pasted in as they are: what comes out must parse.
        try:
            return parse_version(str(v))
        except InvalidSemver as e:
            raise InvalidSemver(f"the bump (pre {self.pre!r}, build {self.build!r}) makes "
                                f"an invalid version: {e}") from None


def _pre_bump(current: str, name: str, without_version: bool) -> str:
    """pre_bump.go: `name.N+1` after `name.N`, else `name.1` (or `name` alone)."""
    if without_version:
        return name
    ids = current.split(".") if current else []
    # Go compares Pre[0].VersionStr, which is "" for a numeric identifier.
    if len(ids) < 2 or ids[0].isdigit() or ids[0] != name:
        return f"{name}.1"
    number = int(ids[1]) if ids[1].isdigit() else 0  # VersionNum, 0 for a word
    return f"{name}.{number + 1}"


def _build_bump(current: str, name: str, without_version: bool) -> str:
    """build_bump.go: the same rules on the build metadata, numbers read by Atoi."""
    if without_version:
        return name
    ids = current.split(".") if current else []
    if len(ids) < 2 or ids[0] != name:
        return f"{name}.1"
    number = int(ids[1]) if _ATOI.fullmatch(ids[1]) and abs(int(ids[1])) < 2**63 else 0
    return f"{name}.{number + 1}"


def bump_from_params(params: Mapping[str, Any]) -> Bump:
    """The bump a get's or put's params ask for. semver-resource silently ignores an
    unknown `bump`; headwater refuses it, so a typo cannot skip the bump."""
    bump = _string(params, "bump")
    if bump is not None and bump not in BUMPS:
        raise ResourceError(f"params.bump is {bump!r}: use one of {', '.join(BUMPS)}")
    return Bump(bump=bump or None, pre=_string(params, "pre") or None,
                pre_without_version=flag(params, "pre_without_version"),
                build=_string(params, "build") or None,
                build_without_version=flag(params, "build_without_version"))


def _string(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ResourceError(f"params.{key} must be a string, not {type(value).__name__}")
    return value


def flag(values: Mapping[str, Any], key: str, where: str = "params") -> bool:
    """A boolean param or source field (Go's JSON: no "true" strings), default false."""
    value = values.get(key, False)
    if not isinstance(value, bool):
        raise ResourceError(f"{where}.{key} must be true or false, not {value!r}")
    return value


def versions_since(cursor: Version | None, newest_first: Iterable[Version]) -> list[Version]:
    """A check's answer from the file's history, current version first: with no
    cursor, the current one; else every version back to the first one older than the
    cursor, oldest first (git.go `getOldVersions`, for `fly check-resource --from`)."""
    history = iter(newest_first)
    current = next(history)
    if cursor is None or cursor.compare(current) >= 0:
        return [current]
    found = [current]
    for previous in history:
        if cursor.compare(previous) > 0:
            break
        found.append(previous)
    return found[::-1]
