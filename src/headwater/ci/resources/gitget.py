"""The git resource's `in`: a clone at the version, git-resource's files and metadata.

As git-resource: the branch (or the version's own `branch`, set by a put with
`params.branch`) is cloned, `--depth` deepened until the version is there, the
version checked out (`-f`), untracked files cleaned, submodules updated; then
`.git/ref`, `short_ref`, `commit_message`, `committer`, `committer_name`,
`commit_timestamp`, `describe_ref`, `metadata.json`, `commit`, `author`,
`author_date`, `committer_date`, `branch`, `tags` and `url` are written. The clone
is made with `git init` + `fetch`, the remote's URL written into `.git/config` by
us, so that it never reaches an argv.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from headwater.ci.resources.base import Fetched, MetadataField, ResourceError, Version
from headwater.ci.resources.gitcheck import Git, origin
from headwater.ci.resources.gitfilter import commit_url, short_ref
from headwater.ci.resources.gitsource import GetParams, GitSource
from headwater.gitrepo.errors import GitError

MAX_FIELD = 16 * 1024 * 1024  # one `git log -1` field (a message a pusher made huge)

MESSAGE_LIMIT = 10240
_DEEPEN_ATTEMPTS = 6


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _origin_config(uri: str, branch: str, single: bool) -> str:
    fetch = f"+refs/heads/{branch}:refs/remotes/origin/{branch}" if single \
        else "+refs/heads/*:refs/remotes/origin/*"
    return (f'[remote "origin"]\n\turl = {_quote(uri)}\n\tfetch = {_quote(fetch)}\n'
            f'[branch {_quote(branch)}]\n\tremote = origin\n\tmerge = '
            f'{_quote("refs/heads/" + branch)}\n')


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


async def _default_branch(run: Git, src: GitSource, dest: Path) -> str:
    out = await run("ls-remote", "--symref", "origin", "HEAD", cwd=dest,
                    remote="git ls-remote of", config=origin(src.uri))
    for line in out.splitlines():
        if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
            return line[len("ref: refs/heads/"):-len("\tHEAD")]
    raise ResourceError("git resource: the remote has no default branch: set source.branch")


async def clone(run: Git, src: GitSource, params: GetParams, version: Version,
                dest: Path) -> str:
    """Clone the source into `dest` at `version`; the revision checked out."""
    ref = version.get("ref") or "HEAD"
    if ref.startswith("-"):
        raise ResourceError(f"git resource: version ref {ref!r} is not a git revision")
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    await run("init", "--quiet", cwd=dest)
    branch = version.get("branch") or src.branch or await _default_branch(run, src, dest)
    if branch.startswith("-"):
        raise ResourceError(f"git resource: version branch {branch!r} is not a branch name")
    await asyncio.to_thread(_append, dest / ".git" / "config",
                            _origin_config(src.uri, branch, not params.all_branches))
    fetch_tags = params.fetch_tags if params.fetch_tags is not None else src.fetch_tags
    tags = ["--no-tags"] if fetch_tags is False else \
        ["--tags"] if (src.tagged or fetch_tags) else []
    depth = [f"--depth={params.depth}"] if params.depth > 0 else []
    await run("fetch", "--quiet", *depth, *tags, "origin", cwd=dest, remote="git fetch of")
    await run("update-ref", f"refs/heads/{branch}", f"refs/remotes/origin/{branch}", cwd=dest)
    await run("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=dest)
    if ref != "HEAD" and params.depth > 0:
        await _deepen(run, dest, ref, params.depth, tags)
    target = branch if ref == "HEAD" else ref
    try:
        await run("checkout", "--force", "--quiet", target, "--", cwd=dest)
    except GitError as e:
        raise ResourceError(f"git resource: version {ref} is not in branch {branch!r} of "
                            f"{run.access.where()} (was it force-pushed away?): "
                            f"{e.stderr[-300:]}") from None
    await run("clean", "--force", "--force", "-d", "--quiet", cwd=dest)
    await _submodules(run, params, dest)
    for name in params.fetch:
        await run("fetch", "--quiet", "origin", f"refs/heads/{name}:refs/heads/{name}",
                  cwd=dest, remote="git fetch of")
    return (await run("rev-parse", "HEAD", cwd=dest)).strip()


async def _deepen(run: Git, dest: Path, ref: str, depth: int, tags: list[str]) -> None:
    for _ in range(_DEEPEN_ATTEMPTS):
        try:
            await run("cat-file", "-e", "--end-of-options", f"{ref}^{{commit}}", cwd=dest)
        except GitError:
            depth *= 2
        else:
            return
        await run("fetch", "--quiet", f"--deepen={depth}", *tags, "origin", cwd=dest,
                      remote="git fetch of")
    await run("fetch", "--quiet", "--unshallow", *tags, "origin", cwd=dest,
              remote="git fetch of")


async def _submodules(run: Git, params: GetParams, dest: Path) -> None:
    if params.submodules == "none" or not (dest / ".gitmodules").is_file():
        return
    options = [f"--depth={params.depth}"] if params.depth > 0 else []
    if params.submodule_recursive:
        options.append("--recursive")
    if params.submodule_remote:
        options.append("--remote")
    paths = [] if params.submodules == "all" else list(params.submodules)
    await run("submodule", "sync", "--quiet", cwd=dest)
    await run("submodule", "update", "--init", "--quiet", *options, "--", *paths, cwd=dest,
              remote="git submodule update of")


async def _log(run: Git, dest: Path, fmt: str) -> str:
    return await run("log", "-1", f"--format=format:{fmt}", cwd=dest, max_output=MAX_FIELD)


async def metadata(run: Git, dest: Path) -> list[MetadataField]:
    """git-resource's `git_metadata` of HEAD in `dest`."""
    commit = (await run("rev-parse", "HEAD", cwd=dest)).strip()
    author, author_date = await _log(run, dest, "%an"), await _log(run, dest, "%ai")
    committer, committer_date = await _log(run, dest, "%cn"), await _log(run, dest, "%ci")
    fields = [MetadataField("commit", commit), MetadataField("author", author),
              MetadataField("author_date", author_date)]
    if author == committer and author_date == committer_date:  # as git-resource does
        fields += [MetadataField("committer", committer),
                   MetadataField("committer_date", committer_date)]
    heads = (await run("for-each-ref", f"--points-at={commit}", "--format=%(refname:short)",
                       "refs/heads", cwd=dest)).split()
    if heads:
        fields.append(MetadataField("branch", ",".join(heads)))
    tags = (await run("tag", f"--points-at={commit}", cwd=dest)).split()
    if tags:
        fields.append(MetadataField("tags", ",".join(tags)))
    message = (await _log(run, dest, "%B")).encode()[:MESSAGE_LIMIT].decode(errors="ignore")
    fields.append(MetadataField("message", message))
    try:
        origin = (await run("remote", "get-url", "origin", cwd=dest)).strip()
    except GitError:
        origin = ""
    if url := commit_url(origin, commit):
        fields.append(MetadataField("url", url))
    return fields


def _write_files(git_dir: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (git_dir / name).write_text(text)


async def write_files(run: Git, params: GetParams, dest: Path, ref: str,
                      fields: list[MetadataField]) -> None:
    values = {f.name: f.value for f in fields}
    try:
        describe = (await run("describe", *params.describe_ref_options, cwd=dest)).strip()
    except GitError:
        describe = ""
    files = {
        "committer": await _log(run, dest, "%ae"),
        "committer_name": await _log(run, dest, "%an"),
        "ref": ref + "\n",
        "metadata.json": json.dumps([{"name": f.name, "value": f.value} for f in fields],
                                    indent=2) + "\n",
        "short_ref": short_ref(ref, params.short_ref_format),
        "commit": values["commit"] + "\n",
        "author": values["author"] + "\n",
        "author_date": values["author_date"] + "\n",
        "branch": values.get("branch", "") + "\n",
        "tags": values.get("tags", "") + "\n",
        "url": values.get("url", "") + "\n",
        "committer_date": values.get("committer_date", "") + "\n",
        "commit_message": await _log(run, dest, "%B"),
        "commit_timestamp": (await run("log", "-1", "--format=%cd",
                                       f"--date={params.timestamp_format}",
                                       cwd=dest)).strip() + "\n",
        "describe_ref": describe + "\n",
    }
    await asyncio.to_thread(_write_files, dest / ".git", files)


async def get(run: Git, src: GitSource, params: GetParams, version: Version,
              dest: Path) -> Fetched:
    head = await clone(run, src, params, version, dest)
    ref = version.get("ref") or head
    if ref == "HEAD":
        ref = head
    fields = await metadata(run, dest)
    await write_files(run, params, dest, ref, fields)
    if params.clean_tags:
        tags = (await run("tag", cwd=dest)).split()
        if tags:
            await run("tag", "-d", "--", *tags, cwd=dest)
    return Fetched(version={"ref": ref}, metadata=fields)
