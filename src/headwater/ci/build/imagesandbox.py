"""A task in its image: bubblewrap over the image's root filesystem, no daemon.

What the task sees (Concourse's container, as far as bubblewrap allows):

- `/` is the image, writable: an overlayfs whose lower layer is the image (shared by
  every task of that digest, never written) and whose upper layer is the task's own,
  deleted after it (overlay_helper.py mounts it; needs the server to run as root).
  Where the server cannot mount (not root), `/` is the image read-only with fresh
  tmpfs at `/tmp`, `/root`, `/home`, `/var/tmp`, `/run` and the user's home;
- the task's directory (inputs, outputs, caches at their paths) at Concourse's
  `/tmp/build/<8 hex of sha256(task name)>`, the working directory being `run.dir`
  inside it; `/proc` and `/dev` its own; `/etc/hosts` the host's (read-only);
- nothing of the host's filesystem: the host is not mounted, so the host view's
  masks (hostview.py) have nothing to mask;
- its user: `--uid/--gid` of the user from the image's /etc/passwd, inside a user
  namespace mapped to the server's uid: every file of the image appears owned by
  that user (one uid is mapped: ownership in the image is not kept);
- capabilities dropped unless the step is `privileged`; namespaces unshared; the
  network and the limits as for every task (netns.py, cgroups.py).

bubblewrap creates missing mount destinations by following symlinks from its own
root, where the host's root is still reachable (`/oldroot`): an image whose `/tmp`
is a link to `/oldroot/etc` would make it create directories on the host. So every
destination's path in the image is checked first (`check_mount_points`): a symlink
on the way refuses the image. Pulled images have real directories there
(rootfs.real_mount_points); artifacts and raw root filesystems are checked as they are.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath
from headwater.ci.build.errors import StepError
from headwater.ci.build.executor import ProcessSpec
from headwater.ci.build.taskimage import ImageRoot, User

HELPER = Path(__file__).with_name("overlay_helper.py")
_TMPFS = ("/tmp", "/root", "/home", "/var/tmp", "/run")  # noqa: S108 - in the image
_HOST_FILES = ("/etc/hosts",)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def working_directory(task_name: str) -> str:
    """Concourse's working directory of a task (atc/engine/step_factory.go)."""
    return f"/tmp/build/{hashlib.sha256(task_name.encode()).hexdigest()[:8]}"  # noqa: S108


@dataclass(frozen=True)
class Layers:
    """The overlay's directories on the host (the task's own, beside its directory)."""

    upper: Path
    work: Path
    merged: Path

    @classmethod
    def beside(cls, root: Path) -> Layers:
        base = root.with_name(root.name + ".rootfs")
        layers = cls(base / "upper", base / "work", base / "merged")
        for d in (layers.upper, layers.work, layers.merged):
            d.mkdir(parents=True)
        return layers

    @property
    def base(self) -> Path:
        return self.upper.parent


def argv(bwrap: str, spec: ProcessSpec, image: ImageRoot, user: User, *,
         layers: Layers | None) -> list[str]:
    """The command that runs `spec` in `image` (with `layers`: the overlay helper, then
    bwrap; without: bwrap over the read-only image), up to the task's own argv."""
    args = [bwrap, "--die-with-parent", "--unshare-all",
            "--uid", str(user.uid), "--gid", str(user.gid)]
    if not spec.privileged:
        args += ["--cap-drop", "ALL"]
    if layers is not None:
        args += ["--bind", str(layers.merged), "/"]
    else:
        args += ["--ro-bind", str(image.path), "/"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if layers is None:
        for path in (*_TMPFS, user.home):
            if path != "/" and confine.is_dir(Beneath(image.path, path.lstrip("/"))):
                args += ["--tmpfs", path]
    for path in _HOST_FILES:
        if os.path.isfile(path):
            args += ["--ro-bind", path, path]
    cwd = PurePosixPath(spec.image_root) / spec.cwd.relative_to(spec.root)
    args += ["--bind", str(spec.root), spec.image_root, "--chdir", str(cwd), "--"]
    if layers is None:
        return args
    return [sys.executable, "-I", "-S", str(HELPER), str(image.path), str(layers.upper),
            str(layers.work), str(layers.merged), *args]


def mount_points(spec: ProcessSpec, *, network: bool) -> tuple[list[str], list[str]]:
    """The directories and files bwrap mounts over in the image, for `spec`."""
    dirs = ["/proc", "/dev", spec.image_root]
    files = [*_HOST_FILES, *(["/etc/resolv.conf"] if network else [])]
    return dirs, files


def check_mount_points(root: Path, dirs: Sequence[str], files: Sequence[str],
                       what: str) -> None:
    """Refuse the image when a mount destination's path in it goes through a symlink
    (or a file where a directory must be): see the module doc. Missing components
    are fine (bwrap makes them, in the task's writable root)."""
    for path, is_dir in [*((d, True) for d in dirs), *((f, False) for f in files)]:
        parts = [p for p in PurePosixPath(path).parts if p != "/"]
        fd = os.open(root, _DIR)
        try:
            for i, name in enumerate(parts):
                try:
                    found = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    break
                last = i == len(parts) - 1
                want_dir = is_dir or not last
                if stat.S_ISLNK(found.st_mode) or stat.S_ISDIR(found.st_mode) != want_dir:
                    kind = "a symbolic link" if stat.S_ISLNK(found.st_mode) else \
                        "not a directory" if want_dir else "a directory"
                    shown = "/" + "/".join(parts[:i + 1])
                    raise StepError(
                        f"{what}: the image's {shown} is {kind}; headwater mounts "
                        f"{path} there and never follows a link in an image to do it: "
                        f"make {shown} a real {'directory' if want_dir else 'file'}")
                if want_dir:
                    child = os.open(name, _DIR, dir_fd=fd)
                    os.close(fd)
                    fd = child
        finally:
            os.close(fd)


def can_overlay() -> bool:
    """Can this server mount the tasks' writable roots? Only as root."""
    return os.geteuid() == 0

