"""Host-side file operations on a build's files that never follow a link out of it.

The threat. A task (or a resource type's `in`/`out`) is other people's code with
write access to its own directory under the build's work dir. Its sandbox shows it
nothing of the host, but it can leave symlinks to host paths where headwater expects
directories or files: an output replaced by a link (`rmdir out && ln -s /home out`),
an output's parent (`rm -rf x && ln -s /etc x` for the output `x/out`), a directory
inside an artifact that a later input is copied into, a file `load_var` reads. What
the server then does *outside* the sandbox (rename outputs into the build, copy
artifacts into the next step, read task and var files, tar outputs for download,
delete what is replaced) would follow those links and read, move, copy or delete
host files on the task's behalf.

The guarantee. Every function takes `Beneath(root, rel)`: `root` a directory the
server made (trusted), `rel` a relative path into it (not trusted). It touches
nothing but `root` and what lies beneath it:

- `rel` is walked one component at a time, each opened with O_NOFOLLOW relative to
  the directory fd of the one before (openat). What is used is what was opened,
  never a path string checked earlier, so a link swapped in meanwhile (by a step of
  the same build running in parallel) makes the open fail: it is never followed.
  `..` and absolute paths are refused.
- These strict walks refuse any symlink on the way. Only `read_file` follows links,
  and only relative ones that resolve beneath its directory: `..` pops a directory fd
  it already holds, never above the one it started from (openat2's RESOLVE_BENEATH,
  done by hand); absolute links and links that climb out are refused.
- Copies and tars recreate symlinks as symlinks (their text unchanged) and never
  read through them, so links *inside* an artifact (git checkouts have them) keep
  working and links out of it lead nowhere on the host. Fifos, sockets and devices
  are skipped (opening a fifo would block).
- Deletion is `shutil.rmtree` relative to a directory fd, which never follows links.

Every function blocks: call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from headwater.errors import HeadwaterError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 40  # as the kernel's own limit on links followed in one lookup
MAX_DEPTH = 512  # directories deep; beyond, a copy or tar is refused


class Refused(HeadwaterError):
    """headwater will not use this path: it is or goes through a symlink, leads out
    of its directory, or is not what it must be. `path` is relative to the walk."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path!r} {reason}" if path else f"it {reason}")
        self.path = path
        self.reason = reason


class TooLarge(Refused):
    """A file over the size it may be read whole at."""


@dataclass(frozen=True)
class Beneath:
    """The path `rel` beneath the trusted directory `root`."""

    root: Path
    rel: str = "."

    def parts(self) -> list[str]:
        parts = [p for p in self.rel.split("/") if p not in ("", ".")]
        if self.rel.startswith("/") or ".." in parts:
            raise Refused(self.rel, "is not a relative path beneath its directory")
        return parts


@contextlib.contextmanager
def open_dir(at: Beneath, *, create: bool = False) -> Iterator[int]:
    """A directory fd for `at`, reached without links (`create`: mkdir what is missing)."""
    fd = _walk(at.root, at.parts(), create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def make_dirs(at: Beneath) -> None:
    """`mkdir -p`, refusing a link anywhere on the way."""
    with open_dir(at, create=True):
        pass


def move_dir(src: Beneath, dst: Beneath, trash: Beneath) -> None:
    """Rename the real directory `src` to `dst`; what was at `dst` goes to `trash` and
    is deleted. Raises FileNotFoundError / NotADirectoryError when `src` is not there,
    `Refused` when it or a directory above it is a link."""
    sfd, sname = _parent(src)
    try:
        checked = _step(sfd, sname, "/".join(src.parts()))
        try:
            identity = _identity(os.fstat(checked))
        finally:
            os.close(checked)
        dfd, dname = _parent(dst, create=True)
        try:
            if _lstat(dfd, dname) is not None:
                tfd, tname = _parent(trash, create=True)
                try:
                    os.rename(dname, tname, src_dir_fd=dfd, dst_dir_fd=tfd)
                    _remove_at(tfd, tname)
                finally:
                    os.close(tfd)
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
            moved = _lstat(dfd, dname)
            if moved is None or _identity(moved) != identity:
                # Swapped between the check and the rename: what was renamed is the
                # name's new entry (a link is moved as a link); drop it.
                _remove_at(dfd, dname)
                raise Refused(src.rel, "changed while it was being moved")
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def remove_tree(at: Beneath) -> None:
    """Delete `at` (a link is unlinked, never followed); nothing there is fine."""
    fd, name = _parent(at)
    try:
        _remove_at(fd, name)
    finally:
        os.close(fd)


def copy_tree(src: Beneath, dst: Beneath) -> None:
    """Copy the directory `src` into `dst` (created, merged into if there): symlinks
    as symlinks, files with their mode and times. A link in the way at the
    destination (left there by an earlier copy) is refused, never written through."""
    with open_dir(src) as sfd, open_dir(dst, create=True) as dfd:
        _copy_dir(sfd, dfd, dst.rel, 0)
        _copy_stat(os.fstat(sfd), dfd)


def read_file(at: Beneath, file: str, *, limit: int) -> bytes:
    """The bytes of `file` in the directory `at`, following only links that stay in
    `at`. Raises FileNotFoundError / NotADirectoryError when it is not there, and
    `Refused` when it leads out, is not a regular file or is over `limit` bytes."""
    with open_dir(at) as base:
        fd = _resolve_beneath(base, file)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused(file, "is not a regular file")
        data = _read_upto(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise TooLarge(file, f"is larger than {limit:,} bytes")
    return data


def is_dir(at: Beneath) -> bool:
    """Is `at` a directory, reached without links?"""
    try:
        with open_dir(at):
            return True
    except (FileNotFoundError, NotADirectoryError, Refused):
        return False


def write_tar(src: Beneath, out: IO[bytes]) -> None:
    """Write the directory `src` to `out` as a .tar.gz (members `./...`), symlinks
    as symlinks. `out` is only written to (a pipe will do); gzip's default level 6."""
    with (open_dir(src) as fd,
          tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar):
        tar.addfile(_member(".", os.fstat(fd), tarfile.DIRTYPE))
        _tar_dir(tar, fd, ".", 0)


# -- walking ------------------------------------------------------------------------


def _walk(root: Path, parts: list[str], *, create: bool) -> int:
    try:
        fd = os.open(root, _DIR)
    except OSError:
        if root.is_symlink():
            raise Refused("", "is a symbolic link") from None
        raise
    try:
        for i, name in enumerate(parts):
            child = _step(fd, name, "/".join(parts[:i + 1]), create=create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _step(dir_fd: int, name: str, where: str, *, create: bool = False) -> int:
    """Open the directory `name` in `dir_fd`; a link there is refused."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=dir_fd)
    try:
        return os.open(name, _DIR, dir_fd=dir_fd)
    except OSError as e:
        found = _lstat(dir_fd, name)
        if e.errno == errno.ELOOP or (found is not None and stat.S_ISLNK(found.st_mode)):
            raise Refused(where, "is a symbolic link") from None
        raise


def _parent(at: Beneath, *, create: bool = False) -> tuple[int, str]:
    """A directory fd holding `at`'s last component, and that name."""
    parts = at.parts()
    if not parts:
        return os.open(at.root.parent, _DIR), at.root.name
    return _walk(at.root, parts[:-1], create=create), parts[-1]


def _resolve_beneath(base: int, rel: str) -> int:
    """Open `rel` in `base`, following relative links while they stay beneath it."""
    if rel.startswith("/"):
        raise Refused(rel, "is an absolute path")
    todo = list(reversed(rel.split("/")))
    stack = [os.dup(base)]
    names: list[str] = []
    links = 0
    try:
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if len(stack) == 1:
                    raise Refused(rel, "leads out of its directory")
                os.close(stack.pop())
                names.pop()
                continue
            last = all(p in ("", ".") for p in todo)
            where = "/".join([*names, name])
            try:
                fd = os.open(name, _FILE if last else _DIR, dir_fd=stack[-1])
            except OSError:
                # O_NOFOLLOW on a link fails with ELOOP, or ENOTDIR with O_DIRECTORY.
                found = _lstat(stack[-1], name)
                if found is None or not stat.S_ISLNK(found.st_mode):
                    raise
                links += 1
                if links > _MAX_LINKS:
                    raise Refused(rel, "has too many levels of symbolic links") from None
                todo.extend(reversed(_link_target(stack[-1], name, where).split("/")))
                continue
            if last:
                return fd
            stack.append(fd)
            names.append(name)
        return os.dup(stack[-1])  # `rel` named a directory
    finally:
        for fd in stack:
            os.close(fd)


def _link_target(dir_fd: int, name: str, where: str) -> str:
    """The text of the link `name`, when it is one that may be followed: relative."""
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        raise Refused(where, "changed while it was being read") from None
    if target.startswith("/"):
        raise Refused(where, f"is a symbolic link to {target!r}, an absolute path: only "
                             "relative links inside are followed")
    return target


def _read_upto(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0 and (chunk := os.read(fd, min(size, 1 << 20))):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _remove_at(dir_fd: int, name: str) -> None:
    found = _lstat(dir_fd, name)
    if found is None:
        return
    if stat.S_ISDIR(found.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)


# -- copying ------------------------------------------------------------------------


def _entries(dir_fd: int) -> list[str]:
    with os.scandir(dir_fd) as it:
        return sorted(entry.name for entry in it)


def _copy_dir(sfd: int, dfd: int, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Refused(where, f"is more than {MAX_DEPTH} directories deep")
    for name in _entries(sfd):
        info = _lstat(sfd, name)
        path = f"{where}/{name}"
        if info is None:
            continue
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(name, dir_fd=sfd)
            _clear(dfd, name, path)
            os.symlink(target, name, dir_fd=dfd)
        elif stat.S_ISDIR(info.st_mode):
            child_src = _step(sfd, name, path)
            try:
                child_dst = _step(dfd, name, path, create=True)
                try:
                    _copy_dir(child_src, child_dst, path, depth + 1)
                    _copy_stat(os.fstat(child_src), child_dst)
                finally:
                    os.close(child_dst)
            finally:
                os.close(child_src)
        elif stat.S_ISREG(info.st_mode):
            _copy_file(sfd, dfd, name, path)


def _copy_file(sfd: int, dfd: int, name: str, path: str) -> None:
    try:
        fin = os.open(name, _FILE, dir_fd=sfd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Refused(path, "changed while it was being copied") from None
        raise
    try:
        info = os.fstat(fin)
        if not stat.S_ISREG(info.st_mode):
            return
        _clear(dfd, name, path)
        fout = os.open(name, _NEW_FILE, 0o600, dir_fd=dfd)
        try:
            _copy_bytes(fin, fout)
            _copy_stat(info, fout)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_bytes(fin: int, fout: int) -> None:
    try:
        while os.sendfile(fout, fin, None, 1 << 30):
            pass
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOSYS) or os.lseek(fout, 0, os.SEEK_CUR):
            raise
        while chunk := os.read(fin, 1 << 20):
            os.write(fout, chunk)


def _clear(dfd: int, name: str, path: str) -> None:
    """Make room at `name` for a file or a link: an old file or link goes."""
    found = _lstat(dfd, name)
    if found is None:
        return
    if stat.S_ISDIR(found.st_mode):
        raise Refused(path, "is a directory at the destination (two inputs overlap): "
                            "it cannot be replaced by a file or a link")
    os.unlink(name, dir_fd=dfd)


def _copy_stat(info: os.stat_result, fd: int) -> None:
    os.fchmod(fd, stat.S_IMODE(info.st_mode))
    os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))


# -- tar ----------------------------------------------------------------------------


def _member(name: str, info: os.stat_result, kind: bytes, *, size: int = 0,
            linkname: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.mode = stat.S_IMODE(info.st_mode)
    member.mtime = int(info.st_mtime)
    member.uid, member.gid = info.st_uid, info.st_gid
    member.size = size
    member.linkname = linkname
    return member


def _tar_dir(tar: tarfile.TarFile, fd: int, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Refused(where, f"is more than {MAX_DEPTH} directories deep")
    for name in _entries(fd):
        info = _lstat(fd, name)
        path = f"{where}/{name}"
        if info is None:
            continue
        if stat.S_ISLNK(info.st_mode):
            tar.addfile(_member(path, info, tarfile.SYMTYPE,
                                linkname=os.readlink(name, dir_fd=fd)))
        elif stat.S_ISDIR(info.st_mode):
            child = _step(fd, name, path)
            try:
                tar.addfile(_member(path, os.fstat(child), tarfile.DIRTYPE))
                _tar_dir(tar, child, path, depth + 1)
            finally:
                os.close(child)
        elif stat.S_ISREG(info.st_mode):
            file_fd = os.open(name, _FILE, dir_fd=fd)
            with os.fdopen(file_fd, "rb") as f:
                opened = os.fstat(file_fd)
                if stat.S_ISREG(opened.st_mode):
                    tar.addfile(_member(path, opened, tarfile.REGTYPE,
                                        size=opened.st_size), f)
