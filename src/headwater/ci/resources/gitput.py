"""The git resource's `out`: push a repository the build made, as git-resource does.

The threat. `params.repository` is a directory a task wrote: other people's code.
git-resource runs git inside it, in its own container; headwater's resource runs on
the server, where git inside that directory would obey its `.git/config`
(`core.fsmonitor`, `core.sshCommand`, hooks, filters: programs run on the host) and
follow its links (`.git` or `objects/` pointing at another repository of the host,
`objects/info/alternates`). So:

- the directory is reached with `confine` (no link on the way out of the put's
  work dir), and its `.git` must be a plain directory with no symlink anywhere in
  it and no alternates (`_checked_repository`); the put's work dir is the server's
  own copy of the artifact, which no task writes to any more;
- git never runs in it: its commits and tags are fetched into a fresh repository of
  ours, which serves `git upload-pack`, the one git command meant to be safe in
  an untrusted repository; the tag, rebase, merge and push happen in ours;
- the tag and annotation files are read with `confine.read_file`.

Strategies, as git-resource: plain (tag, `push --tags HEAD:<refs_prefix>/<branch>`),
`only_tag` (tag, push tags), `rebase` (fetch, rebase with merges kept, push; again
while the push is rejected because the branch moved), `merge` (the same with a merge
commit; `returning: unmerged` answers the commit of the repository instead).
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath, Refused
from headwater.ci.resources.base import Fetched, ResourceError
from headwater.ci.resources.gitcheck import Git
from headwater.ci.resources.gitfilter import push_rejected
from headwater.ci.resources.gitget import metadata
from headwater.ci.resources.gitsource import GitSource, PutParams
from headwater.gitrepo.errors import GitError

ATTEMPTS = 10
TAG_FILE_LIMIT = 4096
ANNOTATION_LIMIT = 1 << 20
MAX_GIT_ENTRIES = 2_000_000
_FORBIDDEN = ("objects/info/alternates", "objects/info/http-alternates", "commondir")
_TARGET = "push-target"


def _checked_repository(at: Beneath) -> Path:
    """The repository directory `at`, if git may read it without leaving it."""
    try:
        with confine.open_dir(at):
            pass
    except (FileNotFoundError, NotADirectoryError):
        raise ResourceError(f"git resource: params.repository {at.rel!r} is not a directory "
                            "of the put's inputs") from None
    except Refused as e:
        raise ResourceError(f"git resource: params.repository {at.rel!r} is refused: "
                            f"{e}") from None
    path = at.root.joinpath(*at.parts())
    git_dir = path / ".git"
    try:
        info = os.lstat(git_dir)
    except FileNotFoundError:
        raise ResourceError(f"git resource: params.repository {at.rel!r} is not a git "
                            "repository (it has no .git directory)") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ResourceError(f"git resource: params.repository {at.rel!r}: .git is not a "
                            "directory (a link, or a worktree's .git file): refused")
    seen = 0
    for root, dirs, files in os.walk(git_dir):
        for name in (*dirs, *files):
            seen += 1
            full = os.path.join(root, name)
            rel = os.path.relpath(full, git_dir)
            if os.path.islink(full):
                raise ResourceError(f"git resource: params.repository {at.rel!r}: .git/{rel} "
                                    "is a symbolic link: refused")
            if rel in _FORBIDDEN:
                raise ResourceError(f"git resource: params.repository {at.rel!r}: .git/{rel} "
                                    "points git at other object stores: refused")
        if seen > MAX_GIT_ENTRIES:
            raise ResourceError(f"git resource: params.repository {at.rel!r}: .git has more "
                                f"than {MAX_GIT_ENTRIES:,} entries")
    return path


def _read(workdir: Path, name: str, what: str, limit: int) -> str:
    try:
        return confine.read_file(Beneath(workdir), name, limit=limit).decode()
    except (FileNotFoundError, NotADirectoryError):
        raise ResourceError(f"git resource: {what} file {name!r} does not exist") from None
    except Refused as e:
        raise ResourceError(f"git resource: {what} file {name!r} is refused: {e}") from None
    except UnicodeDecodeError:
        raise ResourceError(f"git resource: {what} file {name!r} is not UTF-8 text") from None


async def _ref_ok(run: Git, ref: str, cwd: Path, what: str) -> None:
    try:
        await run("check-ref-format", ref, cwd=cwd)
    except GitError:
        raise ResourceError(f"git resource: {what} {ref.split('/', 2)[-1]!r} is not a valid "
                            "git ref name") from None


class _Push:
    def __init__(self, run: Git, src: GitSource, params: PutParams, work: Path, *,
                 tag: str, annotation: Path | None) -> None:
        self.run, self.src, self.params, self.work = run, src, params, work
        self.tag, self.annotation = tag, annotation
        self.branch = params.branch or src.branch
        self.remote = [(f"remote.{_TARGET}.url", src.uri)]

    async def git(self, *args: str, remote: str | None = None) -> str:
        return await self.run(*args, cwd=self.work, remote=remote, config=self.remote)

    async def make_tag(self) -> None:
        if not self.tag:
            return
        annotate = ["--annotate", "--file", str(self.annotation)] if self.annotation else []
        await self.git("tag", "--force", *annotate, "--end-of-options",
                       self.params.tag_prefix + self.tag, "HEAD")

    def _flags(self) -> list[str]:
        flags = ["--force"] if self.params.force else []
        for option in self.params.push_options:
            flags += ["--push-option", option]
        return flags

    async def push(self) -> None:
        await self.git("push", "--quiet", "--tags", *self._flags(), _TARGET,
                       f"HEAD:{self.params.refs_prefix}/{self.branch}",
                       remote="git push to")

    async def push_tags(self) -> None:
        await self.git("push", "--quiet", "--tags", *self._flags(), _TARGET,
                       remote="git push of tags to")

    async def integrate(self, commit: str) -> None:
        """Put `commit` on top of (rebase) or together with (merge) the remote branch."""
        await self.git("fetch", "--quiet", "--no-tags", _TARGET,
                       f"+refs/heads/{self.branch}:refs/remotes/{_TARGET}/{self.branch}",
                       remote="git fetch of")
        upstream = f"refs/remotes/{_TARGET}/{self.branch}"
        try:
            if self.params.merge:
                await self.git("reset", "--hard", "--quiet", commit)
                await self.git("merge", "--no-edit", "--quiet", upstream)
            else:
                await self.git("rebase", "--rebase-merges", "--quiet", upstream)
        except GitError as e:
            how = "merge" if self.params.merge else "rebase"
            raise ResourceError(
                f"git resource: the {how} of the repository onto branch {self.branch!r} of "
                f"{self.run.access.where()} failed (a conflict?): {e.stderr[-400:]}") from None

    async def retrying(self, commit: str) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            await self.integrate(commit)
            await self.make_tag()
            try:
                await self.push()
            except GitError as e:
                if attempt == ATTEMPTS or not push_rejected(e.stderr):
                    raise
            else:
                return
        raise AssertionError("unreachable")


async def put(run: Git, src: GitSource, params: PutParams, workdir: Path,
              scratch: Path) -> Fetched:
    repository = await asyncio.to_thread(_checked_repository,
                                         Beneath(workdir, params.repository))
    tag = ""
    if params.tag:
        tag = (await asyncio.to_thread(_read, workdir, params.tag, "tag",
                                       TAG_FILE_LIMIT)).strip()
    annotation = None
    if params.annotate:
        text = await asyncio.to_thread(_read, workdir, params.annotate, "annotation",
                                       ANNOTATION_LIMIT)
        annotation = scratch / "annotation"
        await asyncio.to_thread(annotation.write_text, text)
    work = scratch / "repo"
    work.mkdir()
    await run("init", "--quiet", cwd=work)
    branch = params.branch or src.branch
    local = branch or "headwater-put"
    await _ref_ok(run, f"refs/heads/{local}", work, "branch")
    if tag:
        await _ref_ok(run, f"refs/tags/{params.tag_prefix}{tag}", work, "tag")
    try:
        await run("fetch", "--quiet", "--no-tags", "--update-shallow", str(repository),
                  f"+HEAD:refs/heads/{local}", "+refs/tags/*:refs/tags/*", cwd=work)
    except GitError as e:
        raise ResourceError(f"git resource: params.repository {params.repository!r} could "
                            f"not be read as a git repository: {e.stderr[-300:]}") from None
    await run("checkout", "--quiet", "--force", local, cwd=work)
    commit = (await run("rev-parse", "HEAD", cwd=work)).strip()
    push = _Push(run, src, params, work, tag=tag, annotation=annotation)
    try:
        if params.only_tag:
            await push.make_tag()
            await push.push_tags()
        elif params.merge or params.rebase:
            await push.retrying(commit)
        else:
            await push.make_tag()
            await push.push()
    except GitError as e:
        hint = " (the branch moved: set rebase: true or merge: true to integrate it)" \
            if push_rejected(e.stderr) and not (params.merge or params.rebase) else ""
        raise ResourceError(f"git resource: push refused by {run.access.where()}: "
                            f"{e.stderr or e}{hint}") from None
    ref = commit if params.merge and params.returning == "unmerged" else \
        (await run("rev-parse", "HEAD", cwd=work)).strip()
    version = {"branch": params.branch, "ref": ref} if params.branch else {"ref": ref}
    return Fetched(version=version, metadata=await metadata(run, work))
