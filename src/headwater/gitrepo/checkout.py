"""A working copy of one branch of one remote, in a directory this object owns.

`sync()` makes the directory equal to the remote branch, whatever happened to it
before: a full clone the first time (later work rewrites files and pushes, which a
shallow clone makes fragile), then a fetch of that one branch, a forced detached
checkout and `git clean -ffdx`. Tags are never fetched: the sync pointer is a tag
this object moves itself (`move_tag`, like Flux v1's `flux-sync`), and fetching a
tag someone else moved would clobber ours. One lock serialises the commands, so
callers cannot interleave a checkout with a diff.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from headwater.gitrepo.auth import GitAuth, transport
from headwater.gitrepo.errors import GitError, redact_url
from headwater.gitrepo.run import git

# What `git check-ref-format` refuses, minus its rarer corners (git still checks).
_BAD_REF = re.compile(r"^-|^/|/$|\.\.|@\{|//|[\x00-\x20\x7f~^:?*\[\\]|\.lock$|\.$|^@$")


class Checkout:
    """The working copy of `branch` of `url` under `directory`, kept by `sync()`."""

    def __init__(
        self,
        url: str,
        branch: str,
        directory: Path,
        *,
        auth: GitAuth | None = None,
        timeout: float = 20.0,
        user: str = "headwater",
        email: str = "headwater@localhost",
    ) -> None:
        if transport(url) == "file" and "://" not in url:
            url = str(Path(url).absolute())  # git records a plain path as absolute
        self.url = url
        self.branch = _ref_name("branch", branch)
        self._dir = Path(directory)
        self._auth = auth or GitAuth()
        self._timeout = timeout
        self._identity = ("-c", f"user.name={user}", "-c", f"user.email={email}")
        # Host keys learnt on first contact (no known_hosts given) outlive re-clones.
        learned = self._dir.with_name(self._dir.name + ".known_hosts")
        self._env = self._auth.env(url, learned_hosts=learned)
        self._secrets = self._auth.secrets(url)
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        """The working tree: where manifests are read from."""
        return self._dir

    async def sync(self) -> str:
        """Make the working tree equal to the remote branch; return its 40-hex revision."""
        async with self._lock:
            remote_ref = f"refs/remotes/origin/{self.branch}"
            where = f"branch {self.branch!r} of {redact_url(self.url)}"
            if await self._origin() == self.url:
                await self._git(
                    "fetch", "--no-tags", "origin",
                    f"+refs/heads/{self.branch}:{remote_ref}", remote=f"git fetch of {where}",
                )
            else:
                await self._clone(where)
            await self._git("checkout", "--quiet", "--force", "--detach", remote_ref)
            await self._git("clean", "-ffdx", "--quiet")
            return await self._rev_parse("HEAD")

    async def head(self) -> str:
        """The revision checked out now."""
        async with self._lock:
            return await self._rev_parse("HEAD")

    async def changed_paths(self, old: str, new: str) -> list[str]:
        """Files added, modified or deleted between two revisions (a rename counts twice)."""
        async with self._lock:
            out = await self._git(
                "diff", "--name-only", "--no-renames", "-z", "--end-of-options", old, new, "--"
            )
        return [p for p in out.split("\0") if p]

    async def move_tag(self, tag: str, revision: str, *, message: str = "Sync pointer") -> None:
        """Point the annotated tag `tag` at `revision`, here and on the remote (forced)."""
        ref = f"refs/tags/{_ref_name('tag', tag)}"
        async with self._lock:
            await self._git(*self._identity, "tag", "--force", "--annotate", "--message",
                            message, "--end-of-options", tag, revision)
            await self._git("push", "--force", "origin", ref,
                            remote=f"git push of tag {tag!r} to {redact_url(self.url)}")

    async def remote_tag(self, tag: str) -> str | None:
        """The commit the remote's `tag` points to (peeled), or None if it has none.

        Asks the remote through the working copy's `origin`: call `sync()` first.
        """
        ref = f"refs/tags/{_ref_name('tag', tag)}"
        async with self._lock:
            out = await self._git("ls-remote", "origin", ref, f"{ref}^{{}}",
                                  remote=f"git ls-remote of {redact_url(self.url)}")
        found = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            found[name] = sha
        return found.get(f"{ref}^{{}}") or found.get(ref)

    async def commit_and_push(
        self, edit: Callable[[Path], Iterable[str]], *, message: str | Callable[[], str],
        attempts: int = 3,
        author: tuple[str, str] | None = None,
        fetched: bool = False,
    ) -> str | None:
        """Apply `edit` to the working tree at the branch head, commit, push; the new
        revision, or None when the edit changed nothing.

        `edit(path)` changes files under the working tree and returns the paths it
        changed; it runs in a worker thread, off the event loop. `author` (name,
        email) is fluxctl's `--user`, the committer is ours. `message` may be a function,
        called after each edit (a message that names what the edit computed).
        When the push is refused because someone pushed first, the working copy is
        reset to the new head and the edit made again (at most `attempts` times):
        nobody's commit is lost, and ours applies to what is there now. `fetched`: the
        caller just brought the working copy to the branch head (`sync()`), so the first
        attempt edits it as it is, without fetching again.
        """
        for attempt in range(1, attempts + 1):
            if attempt > 1 or not fetched:
                await self.sync()
            async with self._lock:
                # In a thread: edits walk, parse and write files; the loop keeps serving.
                paths = sorted(set(await asyncio.to_thread(lambda: list(edit(self._dir)))))
                if not paths:
                    return None
                await self._git("add", "--all", "--", *paths)
                if not await self._git("status", "--porcelain", "--", *paths):
                    return None
                by = ["--author", f"{author[0]} <{author[1]}>"] if author else []
                text = message() if callable(message) else message
                await self._git(*self._identity, "commit", "--quiet", "--no-verify",
                                *by, "--message", text)
                revision = await self._rev_parse("HEAD")
                try:
                    await self._git("push", "--porcelain", "origin",
                                    f"HEAD:refs/heads/{self.branch}",
                                    remote=f"git push to {redact_url(self.url)}")
                except GitError as e:
                    if attempt < attempts and _rejected(e):
                        continue
                    raise
                return revision
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _clone(self, where: str) -> None:
        if (self._dir / ".git").exists():  # a clone of another remote: ours to replace
            await asyncio.to_thread(shutil.rmtree, self._dir)
        self._dir.parent.mkdir(parents=True, exist_ok=True)
        await self._git(
            "clone", "--quiet", "--branch", self.branch, "--single-branch", "--no-tags",
            "--no-checkout", "--", self.url, str(self._dir),
            cwd=self._dir.parent, remote=f"git clone of {where}",
        )

    async def _origin(self) -> str | None:
        """The URL the directory's clone fetches from, None if it is not a clone."""
        config = self._dir / ".git" / "config"
        if not config.is_file():
            return None
        try:
            out = await self._git("config", "--file", str(config), "--get", "remote.origin.url")
        except GitError:
            return None
        return out.strip()

    async def _rev_parse(self, rev: str) -> str:
        out = await self._git("rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}")
        return out.strip()

    async def _git(self, *args: str, cwd: Path | None = None, remote: str | None = None) -> str:
        """Run git in the working copy; `remote` describes an operation on the remote."""
        return await git(
            *args, cwd=cwd or self._dir, env=self._env, timeout=self._timeout,
            url=self.url if remote else None, what=remote, secrets=self._secrets,
        )


def _rejected(e: GitError) -> bool:
    """Whether a push failed because the remote branch moved (someone pushed first)."""
    words = e.stderr.lower()  # (with --porcelain the "[rejected]" line is on stdout)
    return any(w in words for w in ("updates were rejected", "non-fast-forward",
                                    "fetch first", "cannot lock ref", "stale info"))


def _ref_name(kind: str, name: str) -> str:
    """`name`, if it is a valid branch or tag name; it goes into refspecs and argv."""
    if not name or _BAD_REF.search(name):
        raise GitError(f"{kind} name {name!r} is not a valid git ref name")
    return name
