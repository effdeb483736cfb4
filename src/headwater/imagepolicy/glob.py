"""Tag globs as ryanuber/go-glob v1.0.0 matches them (Flux v1's `glob:` policies).

Only `*` is special (any run of characters, `/` included); `?`, `[...]` and `\\` are
literal, and matching is case-sensitive. The algorithm is go-glob's own: the first part
is a prefix, middle parts are found leftmost in turn, the last part is a suffix of what
is left. That is exact for `*`-only globs, so it agrees with a regex translation; it is
kept literal so the port can be read against glob.go line by line.
"""

from __future__ import annotations

__all__ = ["glob_match"]

GLOB = "*"


def glob_match(pattern: str, subject: str) -> bool:
    """go-glob Glob(pattern, subj)."""
    if pattern == "":
        return subject == ""  # an empty pattern only matches an empty subject
    if pattern == GLOB:
        return True
    parts = pattern.split(GLOB)
    if len(parts) == 1:
        return subject == pattern  # no glob: equality
    leading, trailing = pattern.startswith(GLOB), pattern.endswith(GLOB)
    end = len(parts) - 1
    for i in range(end):
        idx = subject.find(parts[i])
        if i == 0:
            if not leading and idx != 0:
                return False
        elif idx < 0:
            return False
        subject = subject[idx + len(parts[i]) :]  # trim what matched so far
    return trailing or subject.endswith(parts[end])
