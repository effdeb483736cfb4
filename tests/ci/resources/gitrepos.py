"""Git repositories the git resource tests work against: a bare `origin` in tmp_path
and a plain clone of it that commits and pushes (plain git, outside the code under test)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.gitseed import plain_git, write_files


class Upstream:
    """A bare repository (branch main) and a working clone that writes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        self.work = root / "seed"
        plain_git("init", "-q", "--bare", "-b", "main", str(self.bare))
        plain_git("init", "-q", "-b", "main", str(self.work))
        plain_git("remote", "add", "origin", str(self.bare), cwd=self.work)

    @property
    def uri(self) -> str:
        return f"file://{self.bare}"

    def commit(self, files: Mapping[str, str | None] | None = None,
               message: str = "change") -> str:
        """Write (None: delete) files, commit (empty commits allowed), push; the sha."""
        write_files(self.work, files or {})
        plain_git("add", "-A", cwd=self.work)
        plain_git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        plain_git("push", "-q", "--force", "--tags", "origin", "HEAD:main", cwd=self.work)
        return plain_git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str, message: str | None = None) -> None:
        extra = ["-a", "-m", message] if message else []
        plain_git("tag", *extra, name, cwd=self.work)
        plain_git("push", "-q", "origin", f"refs/tags/{name}", cwd=self.work)

    def head(self, ref: str = "main") -> str:
        return plain_git("--git-dir", str(self.bare), "rev-parse", ref)
