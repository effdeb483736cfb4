"""The git resource's pure decisions: which commits are versions, in which order.

git-resource pipes `git rev-list` through `--grep` filters: commits whose message
matches `[ci skip]`/`[skip ci]` (unless `disable_ci_skip`), `commit_filter.exclude`
patterns, or fails `commit_filter.include` patterns are not versions. git's `--grep`
takes POSIX basic regular expressions, searched in every line of the message,
case-sensitively; `bre_to_python` turns one into Python's syntax so the same
patterns mean the same thing here. The path filters are git pathspecs and stay with
git (`pathspec`); the tag regex is `grep -Ex`, a full match (`tag_matches`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.gitsource import CommitFilter

# git-resource: --grep="\[ci\sskip\]" --grep="\[skip\sci\]" --invert-grep
CI_SKIP = re.compile(r"\[ci\sskip\]|\[skip\sci\]", re.M)

_BRE_ESCAPED = {"(": "(", ")": ")", "|": "|", "{": "{", "}": "}", "+": "+", "?": "?",
                "<": r"\b", ">": r"\b", "`": r"\A", "'": r"\Z"}


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str


def bre_to_python(pattern: str) -> str:
    """A POSIX basic regular expression (GNU flavour, as `git --grep`) in Python syntax."""
    out: list[str] = []
    i, bracket = 0, False
    while i < len(pattern):
        c = pattern[i]
        if bracket:
            if c == "]" and not (out and out[-1] in ("[", "[^")):
                bracket = False
            out.append("\\\\" if c == "\\" else c)
        elif c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(_BRE_ESCAPED.get(nxt, "\\" + nxt))
            i += 1
        elif c == "[":
            bracket = True
            if pattern[i + 1:i + 2] == "^":
                out.append("[^")
                i += 1
            else:
                out.append("[")
        elif c in "()|{}+?":
            out.append("\\" + c)
        elif c == "*" and (not out or out[-1] in ("(", "^", "|")):
            out.append(r"\*")  # a leading * is literal in a BRE
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(bre_to_python(pattern), re.M)
    except re.error as e:
        raise ResourceError(f"git resource: {where}: {pattern!r} is not a valid regular "
                            f"expression: {e}") from None


def _matches(message: str, patterns: Sequence[re.Pattern[str]], all_match: bool) -> bool:
    found = (p.search(message) is not None for p in patterns)
    return all(found) if all_match else any(found)


class MessageFilter:
    """Is a commit (by its message) a version, as git-resource's `--grep` pipeline says?"""

    def __init__(self, commit_filter: CommitFilter, *, disable_ci_skip: bool) -> None:
        self._include = [_compile(p, "source.commit_filter.include")
                         for p in commit_filter.include]
        self._exclude = [_compile(p, "source.commit_filter.exclude")
                         for p in commit_filter.exclude]
        self._filter = commit_filter
        self._ci_skip = not disable_ci_skip

    def keeps(self, message: str) -> bool:
        f = self._filter
        if self._include and not _matches(message, self._include, f.include_all_match):
            return False
        if self._exclude and _matches(message, self._exclude, f.exclude_all_match):
            return False
        return not (self._ci_skip and CI_SKIP.search(message))


def pathspec(paths: Sequence[str], ignore_paths: Sequence[str]) -> list[str]:
    """The pathspec arguments of `git rev-list` (git-resource: `-- $paths :!$ignore`)."""
    if (not paths or list(paths) == ["."]) and not ignore_paths:
        return []
    return ["--", *(paths or ["."]), *(f":!{p}" for p in ignore_paths)]


def select_versions(newest_first: Sequence[str], *, since_version: bool,
                    depth: int) -> list[str]:
    """The check's answer, oldest first: everything since the last version (which
    the list includes when it still exists), or without one the `depth` newest."""
    if since_version:
        return list(reversed(newest_first))
    return list(reversed(newest_first[:depth]))


def tag_matches(tag: str, tag_regex: str) -> bool:
    """`grep -Ex`: the whole tag name matches the extended regular expression."""
    return re.fullmatch(tag_regex, tag) is not None


def short_ref(ref: str, short_ref_format: str) -> str:
    """git-resource's `.git/short_ref`: `printf $short_ref_format <first 7 chars>`."""
    first = [True]

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        if first[0]:
            first[0] = False
            return ref[:7]
        return ""

    return re.sub(r"%%|%s", sub, short_ref_format)


_ORIGIN = re.compile(r"^(https?://|ssh://git@|git@)([^/]+)/(.*)$")


def commit_url(origin: str, commit: str) -> str:
    """The web page of `commit` on GitHub/Gogs, GitLab or Bitbucket, else ''."""
    m = _ORIGIN.match(origin)
    if not m:
        return ""
    scheme, host, repo = m.group(1), m.group(2), m.group(3).removesuffix(".git")
    if scheme == "git@" and ":" in host:
        host, _, owner = host.partition(":")
        repo = f"{owner}/{repo}"
    host = host.rpartition("@")[2]
    if "github" in host or "gogs" in host:
        return f"https://{host}/{repo}/commit/{commit}"
    if "gitlab" in host:
        return f"https://{host}/{repo}/-/commit/{commit}"
    if "bitbucket" in host:
        return f"https://{host}/{repo}/commits/{commit}"
    return ""


def hint(error: str, *, has_password: bool, has_key: bool, has_known_hosts: bool) -> str:
    """What to do about a remote's refusal, said in the source's terms ('' if unknown)."""
    if "could not read Username" in error or "Authentication failed" in error:
        return (" (the server refused source.username/source.password)" if has_password
                else " (the server asks for credentials: set source.username and "
                     "source.password)")
    if "Permission denied (publickey" in error:
        return (" (the server refused source.private_key)" if has_key
                else " (the server wants an ssh key: set source.private_key)")
    if "Host key verification failed" in error:
        return (" (the server's host key is not one of source.known_hosts)" if has_known_hosts
                else " (the server's host key changed since it was first seen; if that is "
                     "expected, set source.known_hosts)")
    if "SSL certificate problem" in error or ("certificate" in error and "verif" in error):
        return " (an untrusted TLS certificate: fix it, or set skip_ssl_verification: true)"
    return ""


def push_rejected(output: str) -> bool:
    """Did a push fail because the branch moved (git-resource then rebases or merges
    again): `[rejected]`, or `[remote rejected]` for `cannot lock ref`, which git 2.39
    says on a line of its own (`remote: error: cannot lock ref ...`)."""
    return "[rejected]" in output or ("[remote rejected]" in output
                                      and "cannot lock ref" in output)
