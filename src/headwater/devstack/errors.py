"""Errors of the local stack. Each message says what went wrong and what to do next."""

from __future__ import annotations

from pathlib import Path

from headwater.errors import HeadwaterError


class StackError(HeadwaterError):
    """A problem a user can act on; the message is meant to be printed as is."""


class MissingPackage(StackError):
    def __init__(self, missing: dict[str, str]) -> None:
        self.missing = missing
        lines = [f"  {tool} (Debian package {pkg})" for tool, pkg in sorted(missing.items())]
        pkgs = " ".join(sorted(set(missing.values())))
        super().__init__(
            "missing system programs:\n"
            + "\n".join(lines)
            + f"\ninstall them with: apt-get install -y {pkgs}  (or run: bash hack/setup.sh)"
        )


class BuildFailed(StackError):
    def __init__(self, what: str, log: Path, tail: str) -> None:
        self.log = log
        super().__init__(f"{what} failed; last lines of the build log:\n{tail}\nfull log: {log}")


class ComponentFailed(StackError):
    def __init__(self, component: str, reason: str, log: Path, tail: str) -> None:
        self.component = component
        self.log = log
        super().__init__(
            f"{component} {reason}; last lines of its log:\n{tail}\nfull log: {log}"
        )


class NotRoot(StackError):
    def __init__(self) -> None:
        super().__init__(
            "the Kubernetes node (containerd, kubelet, pod networking) needs root.\n"
            "Run as root, or choose one of:\n"
            "  headwater up --no-node              control plane only: pods stay Pending\n"
            "  headwater up --kubeconfig FILE      use your own cluster (kind, k3d, a real one)\n"
            "  headwater up --no-cluster           git server and registry only"
        )
