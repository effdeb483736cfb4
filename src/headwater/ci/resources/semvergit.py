"""The `semver` resource's git driver: the version is a file on a branch of a repository.

As semver-resource's `driver/git.go`: every operation starts from a fresh clone of the
branch (in a temporary directory, removed after); check reads the file (no file:
`initial_version`; with a cursor, its history back to the cursor); a put writes the
file, commits (`bump to <version>` unless `commit_message` says otherwise, `%version%`
and `%file%` replaced) and pushes. The push is the compare-and-swap: when it is
refused because the branch moved, the clone is reset to the new head, the bump applied
again to what is there now and pushed again, at most `ATTEMPTS` times (git.go's
`RetriesOnErrorWriteVersion`). A version equal to the file's is not committed.

Credentials are `headwater.gitrepo`'s: the private key goes to a 0600 file in the
temporary directory (never argv, never a log), username/password become a header in
git's environment. Host keys are learnt on first contact, as semver-resource's
`StrictHostKeyChecking=no` does (the learnt file dies with the directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.semverbump import (
    Bump,
    InvalidSemver,
    first_token,
    parse_version,
    versions_since,
)
from headwater.ci.resources.semverfile import MAX_VERSION_FILE, read_version, write_version
from headwater.gitrepo import Checkout, GitAuth, GitError, git, redact_url
from headwater.imagepolicy.semver import Version

ATTEMPTS = 3  # git.go RetriesOnErrorWriteVersion
MAX_HISTORY = 1000  # commits walked back for a check from an old version
DEFAULT_MESSAGE = "bump to %version%"  # git.go: "bump to " + version
DEFAULT_USER = ("git", "git@localhost")  # the semver-resource image's git config


@dataclass(frozen=True)
class GitSource:
    uri: str
    branch: str
    file: str
    private_key: str | None = None
    username: str | None = None
    password: str | None = None
    git_user: str | None = None
    commit_message: str | None = None
    skip_ssl_verification: bool = False


def identity(git_user: str | None) -> tuple[str, str]:
    """`git_user` ("Gogh Fir <gf@example.com>" or "gf@example.com") as (name, email);
    without a name, the default name stays (git.go only sets user.email then)."""
    if not git_user:
        return DEFAULT_USER
    name, email = parseaddr(git_user)
    if "@" not in email or any(c in email for c in "<> \t\n"):
        raise ResourceError(f"git_user {git_user!r} is not an address: write "
                            "'Name <user@example.com>' or 'user@example.com'")
    return name or DEFAULT_USER[0], email


def commit_message(template: str | None, version: str, file: str) -> str:
    return (template or DEFAULT_MESSAGE).replace("%version%", version).replace("%file%", file)


def check_private_key(text: str) -> bytes:
    """The key as ssh reads it (one trailing newline), if it is an unencrypted private
    key; the error never quotes it."""
    data = (text.rstrip("\n") + "\n").encode()
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            serialization.load_ssh_private_key(data, password=None)
        else:
            serialization.load_pem_private_key(data, password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise ResourceError("private_key: private keys with passphrases are not "
                            "supported") from None
    except Exception:  # ValueError, UnsupportedAlgorithm: both quote nothing useful
        raise ResourceError("private_key is not a private key ssh can use: give the whole "
                            "OpenSSH or PEM private key, BEGIN and END lines "
                            "included") from None
    return data


@contextlib.contextmanager
def key_file(directory: Path, key: bytes) -> Iterator[Path]:
    """`key` in a new 0600 file in `directory`, removed on the way out."""
    path = directory / "private-key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class GitDriver:
    def __init__(self, src: GitSource, initial_version: str, *, timeout: float = 60.0,
                 scratch: Path | None = None) -> None:
        self.src = src
        self.initial = parse_version(initial_version)
        self._timeout = timeout
        self._scratch = scratch
        self._key = check_private_key(src.private_key) if src.private_key else None
        self._user = identity(src.git_user)

    @property
    def where(self) -> str:
        return (f"file {self.src.file!r} on branch {self.src.branch!r} of "
                f"{redact_url(self.src.uri)}")

    async def check(self, cursor: Version | None) -> list[Version]:
        async with self._clone() as checkout:
            await self._sync(checkout)
            current = await asyncio.to_thread(read_version, checkout.path, self.src.file,
                                              self.where)
            if current is None:
                return [self.initial]
            if cursor is None or cursor.compare(current) >= 0:
                return [current]
            return versions_since(cursor, [current, *await self._history(checkout, cursor)])

    async def bump(self, bump: Bump) -> Version:
        return await self._write(lambda current: bump.apply(current or self.initial))

    async def set(self, version: Version) -> Version:
        return await self._write(lambda current: version)

    # -- the steps --------------------------------------------------------------------

    async def _write(self, change: Callable[[Version | None], Version]) -> Version:
        written: list[Version] = []

        def edit(root: Path) -> list[str]:
            new = change(read_version(root, self.src.file, self.where))
            write_version(root, self.src.file, new, self.where)
            written.append(new)
            return [self.src.file]

        def message() -> str:
            return commit_message(self.src.commit_message, str(written[-1]), self.src.file)

        async with self._clone() as checkout:
            try:
                await checkout.commit_and_push(edit, message=message, attempts=ATTEMPTS)
            except GitError as e:
                raise self._error(e, "push") from None
        return written[-1]

    async def _history(self, checkout: Checkout, cursor: Version) -> list[Version]:
        """The versions the file held before the current one, newest first, back to
        the first one older than `cursor` (one commit at a time, as git.go)."""
        log = await self._git(checkout, "log", f"--max-count={MAX_HISTORY}", "--format=%H",
                              "--", self.src.file)
        found: list[Version] = []
        for commit in log.split()[1:]:
            blob = f"{commit}:{self.src.file}"
            try:
                if int(await self._git(checkout, "cat-file", "-s", blob)) > MAX_VERSION_FILE:
                    break
                text = await self._git(checkout, "cat-file", "blob", blob)
                previous = parse_version(first_token(text))
            except (GitError, InvalidSemver, ValueError):
                break  # deleted or not a version there: history ends for a check
            found.append(previous)
            if cursor.compare(previous) > 0:
                break
        return found

    async def _sync(self, checkout: Checkout) -> None:
        try:
            await checkout.sync()
        except GitError as e:
            raise self._error(e, "clone") from None

    async def _git(self, checkout: Checkout, *args: str) -> str:
        return await git(*args, cwd=checkout.path, timeout=self._timeout)

    def _error(self, e: GitError, doing: str) -> ResourceError:
        if "not found in upstream" in e.stderr:
            return ResourceError(
                f"semver: branch {self.src.branch!r} does not exist in "
                f"{redact_url(self.src.uri)}: create it with the version file first "
                f"(e.g. git push origin <commit>:refs/heads/{self.src.branch})")
        verb = "could not write the version to" if doing == "push" else "could not read"
        return ResourceError(f"semver: {verb} {self.where}: {e}")

    @contextlib.asynccontextmanager
    async def _clone(self) -> AsyncIterator[Checkout]:
        directory = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="semver-",
                                                 dir=self._scratch))
        try:
            with contextlib.ExitStack() as stack:
                key = stack.enter_context(key_file(directory, self._key)) if self._key \
                    else None
                auth = GitAuth(ssh_key=key, username=self.src.username,
                               password=self.src.password,
                               skip_tls_verify=self.src.skip_ssl_verification)
                try:
                    checkout = Checkout(self.src.uri, self.src.branch, directory / "repo",
                                        auth=auth, timeout=self._timeout,
                                        user=self._user[0], email=self._user[1])
                except GitError as e:  # a branch name git refuses
                    raise ResourceError(f"semver: {e}") from None
                yield checkout
        finally:
            await asyncio.to_thread(shutil.rmtree, directory, True)
