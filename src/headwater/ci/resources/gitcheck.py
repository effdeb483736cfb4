"""The git resource's `check`: one fetch into a cached bare repository, then local git.

The cache is a bare repository per source under the server's cache directory, named
by a hash of what decides its contents (uri, branch, whether tags are versions), so
a check that finds something new costs one `git fetch` of what is new. The remote URL reaches
git through the environment (`remote.origin.url`), never argv or the cache's config.

A check from a version first asks the remote for its tip (`git ls-remote`): when it
is still that version, the answer is that version, without a fetch.

Versions follow git-resource's `check`: with a last version still in the history,
every commit of the branch's first-parent line from it (included) to the tip,
oldest first; without one, the newest `version_depth` commits. Both honour `paths`,
`ignore_paths` (git pathspecs), `commit_filter` and `[ci skip]` (gitfilter.py).
With `tag_filter`/`tag_regex` the versions are tags `{ref: <tag>, commit: <sha>}`
ordered by creation, whose commits pass the same filters, the newest
`version_depth` of them. At most `MAX_COMMITS` commits are read per check.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from headwater.ci.resources.base import Version
from headwater.ci.resources.gitaccess import Access, config_env
from headwater.ci.resources.gitfilter import MessageFilter, pathspec, select_versions, tag_matches
from headwater.ci.resources.gitsource import GitSource
from headwater.gitrepo import git
from headwater.gitrepo.errors import GitError

MAX_COMMITS = 10_000
MAX_LOG_BYTES = 64 * 1024 * 1024  # their messages: a pusher's to make huge
_RECORD = "\x1e"


@dataclass(frozen=True)
class Git:
    """git with this operation's access and deadline."""

    access: Access
    timeout: float

    async def __call__(self, *args: str, cwd: Path, remote: str | None = None,
                       config: Sequence[tuple[str, str]] = (),
                       max_output: int | None = None) -> str:
        return await git(*args, cwd=cwd, env=config_env(self.access.env, config),
                         timeout=self.timeout, max_output=max_output,
                         url=self.access.uri if remote else None,
                         what=f"{remote} {self.access.where()}" if remote else None,
                         secrets=self.access.secrets)


def cache_key(src: GitSource) -> str:
    """The cached repository's name: what decides what it holds."""
    text = json.dumps([src.uri, src.branch, src.tagged])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def origin(uri: str) -> list[tuple[str, str]]:
    """The remote `origin` at `uri`, as configuration (passed in the environment)."""
    return [("remote.origin.url", uri)]


def _tip(src: GitSource) -> str:
    return f"refs/heads/{src.branch}" if src.branch else "refs/remotes/origin/HEAD"


def _refspecs(src: GitSource) -> list[str]:
    specs = []
    if src.tagged:
        specs.append("+refs/heads/*:refs/heads/*")
    elif src.branch:
        specs.append(f"+refs/heads/{src.branch}:refs/heads/{src.branch}")
    if not src.branch:
        specs.append("+HEAD:refs/remotes/origin/HEAD")
    return specs


# What a fetch into a cache says when the cache itself is broken (a git killed at its
# deadline leaves lock files; a disk filled up leaves bad objects): start it afresh.
_BROKEN_CACHE = (".lock': File exists", "not a git repository", "bad object",
                 "corrupt", "unable to read", "fatal: bad config")


async def update_cache(run: Git, src: GitSource, repo: Path) -> None:
    """Make `repo` hold the remote's refs; a cache broken by an interrupted command is
    removed and made again, once."""
    try:
        await _update(run, src, repo)
    except GitError as e:
        broken = any(words in e.stderr for words in _BROKEN_CACHE)
        if not (broken and await asyncio.to_thread(repo.exists)):
            raise
        await asyncio.to_thread(shutil.rmtree, repo, True)
        await _update(run, src, repo)


async def _update(run: Git, src: GitSource, repo: Path) -> None:
    fresh = not (repo / "HEAD").exists()
    work = repo.with_name(repo.name + ".new") if fresh else repo
    if fresh:
        await asyncio.to_thread(shutil.rmtree, work, True)
        work.mkdir(parents=True)
        await run("init", "--bare", "--quiet", cwd=work)
    tags = "--tags" if src.tagged else "--no-tags"
    await run("fetch", "--quiet", "--force", tags, "origin", *_refspecs(src), cwd=work,
              remote="git fetch of", config=origin(src.uri))
    if fresh:
        await asyncio.to_thread(os.rename, work, repo)


async def _exists(run: Git, repo: Path, ref: str) -> bool:
    try:
        await run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}",
                  cwd=repo)
    except GitError:
        return False
    return True


async def _commits(run: Git, src: GitSource, repo: Path, revs: list[str], *,
                   all_refs: bool = False) -> list[str]:
    """Commits (newest first) of the first-parent line of `revs` that are versions."""
    out = await run("log", "--first-parent", f"--max-count={MAX_COMMITS}",
                    f"--format=%H%x00%B{_RECORD}", *(["--all"] if all_refs else []),
                    "--end-of-options", *revs,
                    *(pathspec(src.paths, src.ignore_paths) or ["--"]), cwd=repo,
                    max_output=MAX_LOG_BYTES)
    keep = MessageFilter(src.commit_filter, disable_ci_skip=src.disable_ci_skip)
    found = []
    for record in out.split(_RECORD):
        sha, _, message = record.strip("\n").partition("\0")
        if sha and keep.keeps(message):
            found.append(sha)
    return found


async def _since(run: Git, repo: Path, ref: str) -> list[str]:
    """git-resource's `ref~1..`: the exclusion, none when `ref` is a root commit
    (asked of `ref` itself, not by listing the roots of the whole history)."""
    try:
        parent = await run("rev-parse", "--verify", "--quiet", "--end-of-options",
                           f"{ref}~1^{{commit}}", cwd=repo)
    except GitError:
        return []
    return [f"^{parent.strip()}"]


async def _remote_tip(run: Git, src: GitSource, cwd: Path) -> str:
    """The commit the remote's branch (or HEAD) points at now: one round trip."""
    want = f"refs/heads/{src.branch}" if src.branch else "HEAD"
    out = await run("ls-remote", "origin", want, cwd=cwd, remote="git ls-remote of",
                    config=origin(src.uri))
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == want:
            return sha
    return ""


async def check(run: Git, src: GitSource, version: Version | None, repo: Path) -> list[Version]:
    ref = (version or {}).get("ref", "")
    if ref and not src.tagged:
        # Nothing new (the common case of polling): one ls-remote, no fetch. The last
        # version passed the filters when it was found; it is the answer again.
        await asyncio.to_thread(repo.parent.mkdir, parents=True, exist_ok=True)
        if await _remote_tip(run, src, repo.parent) == ref:
            return [{"ref": ref}]
    await update_cache(run, src, repo)
    tip = _tip(src)
    since = bool(ref) and not ref.startswith("-") and await _exists(run, repo, ref)
    if src.tagged:
        return await _check_tags(run, src, repo, ref if since else "")
    revs = [*(await _since(run, repo, ref)), tip] if since else [tip]
    commits = await _commits(run, src, repo, revs)
    return [{"ref": sha} for sha in
            select_versions(commits, since_version=since, depth=src.version_depth)]


async def _check_tags(run: Git, src: GitSource, repo: Path, ref: str) -> list[Version]:
    listing = ["--list", src.tag_filter] if src.tag_filter else []
    if ref and src.branch:
        tags = (await run("tag", "--sort=creatordate", f"--contains={ref}",
                          f"--merged=refs/heads/{src.branch}", *listing, cwd=repo)).split()
    else:
        merged = [f"--merged=refs/heads/{src.branch}"] if src.branch else []
        tags = (await run("tag", "--sort=creatordate", *merged, *listing, cwd=repo)).split()
    if src.tag_regex:
        tags = [t for t in tags if tag_matches(t, src.tag_regex)]
    if ref and not src.branch:  # git-resource: the tags listed from the last version on
        tags = tags[tags.index(ref):] if ref in tags else tags
    if not tags:
        return []
    negative = await _since(run, repo, ref) if ref else []
    allowed = set(await _commits(run, src, repo, negative, all_refs=True))
    found: list[Version] = []
    for tag in tags:
        sha = (await run("rev-list", "-n", "1", "--end-of-options", f"refs/tags/{tag}",
                         cwd=repo)).strip()
        if sha in allowed:
            found.append({"ref": tag, "commit": sha})
    return found[-src.version_depth:]
