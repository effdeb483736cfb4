"""Where a `semver` resource keeps its version: the file that holds it, in a directory
headwater trusts, read and written without following a link out of it.

Both drivers go through here. The git driver's working copy holds what anyone who can
push to the repository wrote, and a `file` driver's path comes from a pipeline: so
the version file is read with `confine.read_file` (only links that stay inside, at
most `MAX_VERSION_FILE` bytes) and written by renaming a new file into a directory
opened with `confine.open_dir` (a link in the way is replaced, never written through).

The `file` driver is headwater's own (semver-resource has s3, git, swift and gcs):
`path` is relative to a directory the server names (`SemverResource(files_dir=...)`);
without one it is refused, so a pipeline cannot reach the server's files. Its
compare-and-swap is an flock on that directory around read, bump and write.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import posixpath
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.semverbump import Bump, InvalidSemver, first_token, parse_version
from headwater.imagepolicy.semver import Version

MAX_VERSION_FILE = 64 * 1024  # a version is a line; anything bigger is not one


def check_relative(path: str, what: str) -> str:
    """`path`, if it is a relative path that stays beneath its directory."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or path.startswith("/") or ".." in parts:
        raise ResourceError(f"{what} {path!r} must be a relative path inside its directory, "
                            "without '..'")
    return "/".join(parts)


def read_version(root: Path, path: str, where: str) -> Version | None:
    """The version in `root`/`path` (its first word), None when there is no file or
    only blanks in it (semver-resource: then `initial_version` holds)."""
    try:
        data = confine.read_file(Beneath(root), path, limit=MAX_VERSION_FILE)
    except FileNotFoundError:
        return None
    except (NotADirectoryError, confine.Refused) as e:
        raise ResourceError(f"semver: cannot read the version from {where}: {e}") from None
    word = first_token(data.decode(errors="replace"))
    if not word:
        return None
    try:
        return parse_version(word)
    except InvalidSemver as e:
        raise ResourceError(f"semver: {where} does not hold a semantic version: {e}") from None


def write_version(root: Path, path: str, version: Version, where: str) -> None:
    """Replace `root`/`path` with the version and a newline (as semver-resource's git
    driver writes it), creating directories on the way; links are never followed."""
    try:
        _write(root, path, version)
    except (OSError, confine.Refused) as e:
        raise ResourceError(f"semver: cannot write the version to {where}: {e}") from None


def _write(root: Path, path: str, version: Version) -> None:
    parent, name = posixpath.split(path)
    with confine.open_dir(Beneath(root, parent or "."), create=True) as fd:
        temp = f".{name}.{secrets.token_hex(4)}.tmp"
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o644, dir_fd=fd)
        try:
            with os.fdopen(out, "w") as f:
                f.write(f"{version}\n")
            os.rename(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=fd)
            raise


@dataclass(frozen=True)
class FileDriver:
    """`driver: file`: the version in `path` under the server's `files_dir`."""

    files_dir: Path
    path: str
    initial: Version

    @property
    def where(self) -> str:
        return f"file {self.path!r}"

    async def check(self, cursor: Version | None) -> list[Version]:
        del cursor  # a file has no history to go back through
        current = await asyncio.to_thread(read_version, self.files_dir, self.path, self.where)
        return [current or self.initial]

    async def bump(self, bump: Bump) -> Version:
        return await asyncio.to_thread(self._swap, bump, None)

    async def set(self, version: Version) -> Version:
        return await asyncio.to_thread(self._swap, None, version)

    def _swap(self, bump: Bump | None, version: Version | None) -> Version:
        with self._locked():
            if bump is not None:
                current = read_version(self.files_dir, self.path, self.where)
                version = bump.apply(current or self.initial)
            assert version is not None
            write_version(self.files_dir, self.path, version, self.where)
            return version

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        parent = posixpath.dirname(self.path) or "."
        self.files_dir.mkdir(parents=True, exist_ok=True)  # the server's own directory
        try:
            with confine.open_dir(Beneath(self.files_dir, parent), create=True) as fd:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
        except confine.Refused as e:
            raise ResourceError(f"semver: cannot write the version to {self.where}: {e}") from None
