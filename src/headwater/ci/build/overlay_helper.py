"""Give a task a writable root over its read-only image, then become bubblewrap.

    python -I -S overlay_helper.py LOWER UPPER WORK MERGED BWRAP [ARG...]

bubblewrap 0.8 (Debian 12) has no `--overlay`. This helper, started by the server as
root, enters a mount namespace of its own (private propagation: nothing it mounts
reaches the host), mounts an overlayfs at MERGED whose lower layer is the image (the
shared, never-written cache) and whose upper layer is the task's own directory, and
execs bwrap, which binds MERGED as the sandbox's `/`. The layers are opened here,
after the namespace is made (overlayfs refuses layers reached through mounts of
another namespace), with O_NOFOLLOW (the server checked every component above), and
named in the mount options as `/proc/self/fd/N`: no path is parsed there (no `,` or
`:` escaping). The mount is `nosuid,nodev`. When the last process of the namespace
exits, the mount goes with it.

Standard library only, run with `-I -S`: it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import sys

CLONE_NEWNS = 0x00020000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        sys.stderr.write(f"headwater: {what}: {os.strerror(errno)}\n")
        sys.exit(125)


def main(argv: list[str]) -> None:
    merged, bwrap = argv[4], argv[5:]
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.unshare(CLONE_NEWNS), "a mount namespace for the task's root")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None),
           "making the task's mounts private")
    lower, upper, work = (os.open(a, _DIR) for a in argv[1:4])
    options = (f"lowerdir=/proc/self/fd/{lower},upperdir=/proc/self/fd/{upper},"
               f"workdir=/proc/self/fd/{work}").encode()
    _check(libc.mount(b"overlay", merged.encode(), b"overlay", MS_NOSUID | MS_NODEV,
                      options), "mounting the task's writable root (overlayfs)")
    for fd in (lower, upper, work):
        os.close(fd)
    os.execv(bwrap[0], bwrap)  # noqa: S606 - an argument list, never a shell


if __name__ == "__main__":
    main(sys.argv)
