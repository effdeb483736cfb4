"""Where a stack keeps its files: everything lives under one state directory."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


def default_state_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "headwater" / "stack"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def stack_id(self) -> str:
        """Six hex digits derived from the state directory: names unique to this stack."""
        return hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:6]

    def sub(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def run(self) -> Path:
        return self.sub("run")

    @property
    def logs(self) -> Path:
        return self.sub("logs")

    @property
    def state_file(self) -> Path:
        return self.sub("stack.json")

    @property
    def pki(self) -> Path:
        return self.sub("pki")

    @property
    def kubeconfig(self) -> Path:
        return self.sub("kubeconfig")

    def create(self) -> None:
        for d in (self.root, self.run, self.logs, self.pki):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        os.chmod(self.pki, 0o700)
