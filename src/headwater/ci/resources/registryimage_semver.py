"""registry-image's check without `tag` nor `tag_regex`: the repository's semver tags.

A port of `checkRepository` (registry-image-resource commands/check.go), in two pure
halves around the HEAD of each tag:

- `candidates`: the tags worth a HEAD. A tag is a version when Masterminds/semver
  parses it (`1`, `1.2`, `v1.2.3`: imagepolicy's parser is that library's); with
  `variant`, only tags ending in `-<variant>` (the suffix removed before parsing);
  `semver_constraint` filters; prereleases are skipped unless `pre_releases`, and then
  only those starting with alpha, beta, rc or one of `pre_release_prefixes` (anything
  else is a variant). The bare tag (`latest`, or the variant itself) is kept too.
  Given the last version, tags not newer than it are skipped (as upstream's cursor);
- `versions`: each digest once, under its most specific tag (a final version over a
  prerelease, `1.2.3` over `1.2`), sorted by version; then the bare tag's digest
  when no version tag has it and there is no constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from headwater.imagepolicy import Constraints, SemverError, Version

_PRE_PREFIXES = ("alpha", "beta", "rc")


@dataclass(frozen=True)
class SemverMode:
    variant: str = ""
    pre_releases: bool = False
    pre_release_prefixes: tuple[str, ...] = ()
    constraint: Constraints | None = None

    @property
    def bare_tag(self) -> str:
        return self.variant or "latest"


def _version(tag: str, mode: SemverMode) -> Version | None:
    text = tag
    if mode.variant:
        if not tag.endswith(f"-{mode.variant}"):
            return None
        text = tag[:-len(mode.variant) - 1]
    try:
        ver = Version.parse(text)
    except SemverError:
        return None
    if mode.constraint is not None and not mode.constraint.check(ver):
        return None
    if ver.pre:
        if not mode.pre_releases:
            return None
        if not mode.pre_release_prefixes and "-" in ver.pre:
            return None  # an extra variant, not a prerelease
        prefixes = _PRE_PREFIXES + mode.pre_release_prefixes
        if not ver.pre.startswith(prefixes):
            return None
    return ver


def candidates(tags: Sequence[str], mode: SemverMode,
               cursor: Version | None = None) -> list[tuple[str, Version | None]]:
    """The tags to look up, each with its version (None for the bare tag)."""
    found: list[tuple[str, Version | None]] = []
    for tag in tags:
        if tag == mode.bare_tag:
            found.append((tag, None))
            continue
        ver = _version(tag, mode)
        if ver is None:
            continue
        if cursor is not None and ver.compare(cursor) < 0:
            continue
        found.append((tag, ver))
    return found


def _better(new: Version, old: Version) -> bool:
    if not old.pre and new.pre:
        return False
    if old.pre and not new.pre:
        return True
    return new.original.count(".") > old.original.count(".")


def versions(looked_up: Sequence[tuple[str, Version | None, str]],
             mode: SemverMode) -> list[dict[str, str]]:
    """The check's answer from (tag, version, digest) of the tags found."""
    best: dict[str, tuple[str, Version]] = {}
    bare_digest = None
    for tag, ver, digest in looked_up:
        if ver is None:
            bare_digest = digest
            continue
        held = best.get(digest)
        if held is None or _better(ver, held[1]):
            best[digest] = (tag, ver)
    ordered = sorted(best.items(), key=_SortKey.of)
    answer = [{"tag": tag, "digest": digest} for digest, (tag, _) in ordered]
    if bare_digest is not None and bare_digest not in best and mode.constraint is None:
        answer.append({"tag": mode.bare_tag, "digest": bare_digest})
    return answer


class _SortKey:
    def __init__(self, ver: Version) -> None:
        self.ver = ver

    def __lt__(self, other: _SortKey) -> bool:
        return self.ver.compare(other.ver) < 0

    @classmethod
    def of(cls, item: tuple[str, tuple[str, Version]]) -> _SortKey:
        return cls(item[1][1])
