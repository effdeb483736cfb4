"""What a task without an image sees of the host: its system, read-only, without secrets.

The local executor binds the host's system directories (`/usr`, `/bin`, `/lib*`,
`/etc`, ...) read-only into the sandbox, so the task finds the host's programs and
settings. Some of what lies there is secret. Masked, whatever the task's user:

- every file or directory under `/etc` that the host's other users cannot read
  (mode without o+r, or a directory without o+rx): `/etc/shadow`, the SSH host
  keys, `/etc/ssl/private`, database and VPN credentials... the rule is "what an
  unprivileged local user cannot read, a task cannot either", looked up before each
  task;
- by name, also when their modes are loose: `SECRETS` below (`/etc/ssh` whole, the
  TLS private key directories, shadow files, Kerberos keytab, Kubernetes' and
  WireGuard's keys);
- what the server says is its own (`hidden`: its data dir, its config dir, a local
  stack's state dir) when it lies under a system directory. Elsewhere (`/home`,
  `/root`, `/var`, `/tmp`) it is out of sight anyway: only the system directories
  and the task's own directory are bound.

A masked directory becomes an empty read-only tmpfs, a masked file `/dev/null`.
The task's own directory is bound after the masks, so it stays visible even when it
lies under a masked path (a build dir inside the data dir).

The masks hold for tasks without capabilities (every task but a `privileged` one).
A privileged task keeps root's capabilities and can unmount them: privileged means
root on this host, as it does in Concourse.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")

SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
           "/etc/security/opasswd", "/etc/ssh", "/etc/ssl/private", "/etc/pki/tls/private",
           "/etc/letsencrypt", "/etc/krb5.keytab", "/etc/kubernetes", "/etc/wireguard",
           "/etc/NetworkManager/system-connections", "/etc/ipsec.secrets")

Mask = tuple[str, bool]  # (path, is a directory)


def unreadable(top: str = "/etc") -> list[Mask]:
    """What under `top` the host's other users cannot read (symlinks are not followed:
    they lead to what is masked or not bound)."""
    found: list[Mask] = []

    def walk(directory: str) -> None:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                if mode & 0o005 != 0o005:
                    found.append((entry.path, True))
                else:
                    walk(entry.path)
            elif not stat.S_ISLNK(mode) and not mode & 0o004:
                found.append((entry.path, False))

    walk(top)
    return found


def existing(paths: Iterable[str | Path]) -> list[Mask]:
    """Those of `paths` that exist and are not symlinks, with their kind."""
    found: list[Mask] = []
    for path in paths:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if not stat.S_ISLNK(mode):
            found.append((os.path.abspath(path), stat.S_ISDIR(mode)))
    return found


def masks(candidates: Iterable[Mask], *, shown: Sequence[str] = SYSTEM_DIRS,
          own: str) -> list[Mask]:
    """The masks to apply, in order: those of `candidates` under a `shown` directory,
    not the task's `own` directory nor inside it, and not inside another mask."""
    def under(path: str, top: str) -> bool:
        return path == top or path.startswith(top.rstrip("/") + "/")

    chosen: list[Mask] = []
    for path, is_dir in sorted(set(candidates)):
        if not any(under(path, top) for top in shown) or under(path, own):
            continue
        if any(is_parent and under(path, parent) for parent, is_parent in chosen):
            continue
        chosen.append((path, is_dir))
    return chosen


def mount_args(chosen: Sequence[Mask]) -> tuple[list[str], list[str]]:
    """bwrap's arguments for `chosen`: the mounts (before the task's directory is
    bound) and the read-only remounts of the tmpfs (after it)."""
    mounts: list[str] = []
    remounts: list[str] = []
    for path, is_dir in chosen:
        if is_dir:
            mounts += ["--perms", "0555", "--tmpfs", path]
            remounts += ["--remount-ro", path]
        else:
            mounts += ["--ro-bind", "/dev/null", path]
    return mounts, remounts
