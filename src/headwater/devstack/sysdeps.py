"""The Debian packages the local stack needs, and a check that names what is missing.

Standard library only: `hack/setup.sh` runs this file with the system Python, before
any virtualenv exists, to learn which packages to install (`--packages`).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# program (a name on PATH or an absolute path) -> the Debian package that ships it
GIT = {"git": "git", "git-shell": "git", "/usr/lib/git-core/git-http-backend": "git",
       "ssh": "openssh-client",
       "ssh-keygen": "openssh-client", "/usr/sbin/sshd": "openssh-server"}
REGISTRY = {"docker-registry": "docker-registry", "htpasswd": "apache2-utils"}
CONTROL_PLANE = {"etcd": "etcd-server"}
NODE = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "/usr/lib/cni/host-local": "containernetworking-plugins",
    "/usr/lib/cni/loopback": "containernetworking-plugins",
    "ip": "iproute2",
    "/bin/busybox": "busybox-static",
}
# What the CI server runs: image builds and pushes of the registry-image and
# docker-image resources (buildah, its RUN steps in runc containers).
CI_SERVER = {"buildah": "buildah", "runc": "runc"}
# What the test suite uses beside the stack (sandboxes and their network, databases).
TESTS = {"bwrap": "bubblewrap", "slirp4netns": "slirp4netns",
         "nsenter": "util-linux", "jq": "jq",
         "/usr/lib/postgresql/15/bin/postgres": "postgresql",
         # the web UI's browser tests drive Debian's chromium (never a downloaded one)
         "/usr/bin/chromium": "chromium"}

EVERYTHING = GIT | REGISTRY | CONTROL_PLANE | NODE | CI_SERVER | TESTS


def _present(program: str) -> bool:
    if program.startswith("/"):
        return Path(program).exists()
    return shutil.which(program) is not None or Path("/usr/sbin", program).exists()


def missing(programs: dict[str, str]) -> dict[str, str]:
    """The subset of `programs` not installed, as program -> package."""
    return {prog: pkg for prog, pkg in programs.items() if not _present(prog)}


def _busybox_is_static() -> bool:
    # Debian's `busybox` (dynamic) also installs /bin/busybox; images need the static one.
    path = Path("/bin/busybox")
    return path.exists() and b"ld-linux" not in path.read_bytes()[:65536]


def missing_packages(programs: dict[str, str] = EVERYTHING) -> list[str]:
    pkgs = set(missing(programs).values())
    if "/bin/busybox" in programs and not _busybox_is_static():
        pkgs.add("busybox-static")
    return sorted(pkgs)


if __name__ == "__main__":
    # `python3 sysdeps.py --packages` prints the Debian packages still to install.
    if sys.argv[1:] != ["--packages"]:
        sys.exit("usage: sysdeps.py --packages")
    print(" ".join(missing_packages()))
