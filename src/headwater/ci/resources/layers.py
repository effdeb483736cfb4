"""Image layers applied to a root directory, never following the image out of it.

An image is hostile input: a layer may hold `etc -> ../../..` or `etc -> /` and then
`etc/passwd`, a symlink made by one layer with files under it in the next, or a hard
link to a symlink that points at a host file. So no host path is ever used to create
anything. Every operation starts from an open file descriptor of the root and walks
one component at a time with `O_NOFOLLOW`, relative to the directory fd reached so
far (openat-style, as `mkdirat`, `openat`, `symlinkat`, `linkat`, `unlinkat`):

- a symlink met on the way is resolved as if the root were `/` (chroot-like, as
  container runtimes do): its target's components are walked again from the root or
  from the directory reached, `..` never climbs above the root, and more than 40 links
  is an error. A directory a path needs and that is missing is created; a file in its
  way is replaced;
- the last component is created in the directory reached with `O_CREAT|O_EXCL|
  O_NOFOLLOW` (files), `mkdirat`, `symlinkat`, `mkfifoat`, after whatever was there
  is removed (`unlinkat`, or an fd-based rmtree for a directory);
- a hard link is made with `linkat` without following: to the named entry itself,
  found by the same walk, so a link to a symlink is a link to the symlink;
- OCI whiteouts (`.wh.<name>` removes a path, `.wh..wh..opq` empties a directory)
  are applied in the directory reached by the walk;
- entries naming `..` are refused, device nodes skipped (the sandbox has its own
  /dev), and file contents and entries are charged to a `Budget` (bytes unpacked and
  entries made per image: empty files cost inodes, not bytes).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from headwater.ci.resources.base import ResourceError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_MAX_LINKS = 40
_CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ImageTooLarge(ResourceError):
    """The image unpacks to more than its budget; `of` is "bytes" or "entries"."""

    def __init__(self, message: str, *, of: str) -> None:
        super().__init__(message)
        self.of = of


@dataclass
class Budget:
    """Bytes of file content and entries an image may unpack to; `used` and `entries`
    so far."""

    limit: int
    max_entries: int | None = None
    used: int = 0
    entries: int = 0

    def charge(self, size: int, name: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise ImageTooLarge(f"unpacking {name} takes the image over its limit of "
                           f"{self.limit} bytes unpacked", of="bytes")

    def count(self, name: str) -> None:
        self.entries += 1
        if self.max_entries is not None and self.entries > self.max_entries:
            raise ImageTooLarge(f"unpacking {name} takes the image over its limit of "
                           f"{self.max_entries} entries", of="entries")


def unpack_layer(tar: tarfile.TarFile, root: Path, *, budget: Budget | None = None) -> None:
    """Apply one layer to the directory `root` (see the module doc)."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        for member in tar:
            parts = entry_parts(member.name)
            if not parts:
                continue
            if budget is not None:
                budget.count(member.name)
            with _directory(root_fd, parts[:-1], create=True) as parent:
                name = parts[-1]
                if name == OPAQUE:
                    for child in os.listdir(parent):
                        _remove(parent, child)
                elif name.startswith(WHITEOUT):
                    _remove(parent, name[len(WHITEOUT):])
                else:
                    _write(tar, member, parent, name, root_fd=root_fd, budget=budget)
    finally:
        os.close(root_fd)


def ensure_dir(root: Path, name: str) -> None:
    """`root/name` is a directory (a symlink there is resolved inside the root)."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        with _directory(root_fd, entry_parts(name), create=True):
            pass
    finally:
        os.close(root_fd)


def ensure_file(root: Path, name: str) -> None:
    """`root/name` exists: an empty file is created if nothing (not even a symlink,
    left as the image made it) is there."""
    parts = entry_parts(name)
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        with _directory(root_fd, parts[:-1], create=True) as parent:
            if _lstat(parent, parts[-1]) is None:
                os.close(os.open(parts[-1], _NEW_FILE, 0o644, dir_fd=parent))
    finally:
        os.close(root_fd)


def entry_parts(name: str) -> list[str]:
    """The components of a layer entry's name; `..` anywhere is refused."""
    parts = [p for p in PurePosixPath(name).parts if p not in ("/", ".", "")]
    if ".." in parts:
        raise ResourceError(f"image layer entry {name!r} leaves the root filesystem")
    return parts


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str, *,
           root_fd: int, budget: Budget | None) -> None:
    existing = _lstat(parent, name)
    if member.isdir():
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            _remove(parent, name)
            existing = None
        if existing is None:
            os.mkdir(name, 0o755, dir_fd=parent)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        try:
            # Owner-writable, so later layers can add to it; the sandbox maps us to root.
            os.fchmod(fd, (member.mode & 0o7777 & ~0o6000) | 0o700)
        finally:
            os.close(fd)
        return
    if not (member.isfile() or member.islnk() or member.issym() or member.isfifo()):
        return  # character and block devices: /dev is the sandbox's own
    if existing is not None:
        _remove(parent, name)
    if member.isfile():
        if budget is not None:
            budget.charge(member.size, member.name)
        source = tar.extractfile(member)
        assert source is not None
        fd = os.open(name, _NEW_FILE, 0o600, dir_fd=parent)
        with source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
            os.fchmod(out.fileno(), (member.mode & 0o777) | 0o600)
    elif member.issym():
        os.symlink(member.linkname, name, dir_fd=parent)
    elif member.islnk():
        _hard_link(member, root_fd, parent, name)
    else:
        os.mkfifo(name, dir_fd=parent)


def _hard_link(member: tarfile.TarInfo, root_fd: int, parent: int, name: str) -> None:
    target = entry_parts(member.linkname)
    missing = ResourceError(f"hard link {member.name} to {member.linkname}: no such file "
                            "in the image")
    if not target:
        raise missing
    try:
        with _directory(root_fd, target[:-1], create=False) as source:
            found = _lstat(source, target[-1])
            if found is None or stat.S_ISDIR(found.st_mode):
                raise missing
            # Not following: a link to a symlink links the symlink, never its target.
            os.link(target[-1], name, src_dir_fd=source, dst_dir_fd=parent,
                    follow_symlinks=False)
    except FileNotFoundError:
        raise missing from None


@contextmanager
def _directory(root_fd: int, parts: list[str], *, create: bool) -> Iterator[int]:
    """An fd of the directory `parts` under the root, symlinks resolved inside the root;
    missing directories are created (`create`) or FileNotFoundError."""
    fd = _walk(root_fd, parts, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def _walk(root_fd: int, parts: list[str], *, create: bool) -> int:
    todo = list(parts)
    at: list[str] = []  # where `fd` is, from the root: real directories only
    fd = os.dup(root_fd)
    links = 0
    try:
        while todo:
            part = todo.pop(0)
            if part == "..":  # only from a symlink's target: climb, never above the root
                at = at[:-1]
                os.close(fd)
                fd = -1
                fd = _walk(root_fd, at, create=False)
                continue
            link = _symlink(fd, part)
            if link is not None:
                links = _one_more_link(links, parts)
                if link.startswith("/"):
                    at = []
                    os.close(fd)
                    fd = -1
                    fd = os.dup(root_fd)
                todo = [p for p in PurePosixPath(link).parts if p not in ("/", ".", "")] + todo
                continue
            step = _enter(fd, part, create=create)
            os.close(fd)
            fd = step
            at.append(part)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return fd


def _symlink(dir_fd: int, name: str) -> str | None:
    found = _lstat(dir_fd, name)
    return os.readlink(name, dir_fd=dir_fd) if found and stat.S_ISLNK(found.st_mode) else None


def _one_more_link(links: int, parts: list[str]) -> int:
    if links >= _MAX_LINKS:
        raise ResourceError(f"too many levels of symbolic links in /{'/'.join(parts)} of "
                            "the image")
    return links + 1


def _enter(dir_fd: int, name: str, *, create: bool) -> int:
    """An fd of the directory `name` in `dir_fd` (not a symlink: the caller resolved
    those), made if missing and `create`, replacing a file in the way."""
    found = _lstat(dir_fd, name)
    if found is not None and not stat.S_ISDIR(found.st_mode):
        if not create:
            raise FileNotFoundError(name)
        _remove(dir_fd, name)
        found = None
    if found is None:
        if not create:
            raise FileNotFoundError(name)
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(dir_fd: int, name: str) -> None:
    found = _lstat(dir_fd, name)
    if found is None:
        return
    if stat.S_ISDIR(found.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)  # fd-based: never follows a link inside
    else:
        os.unlink(name, dir_fd=dir_fd)
