"""The sshd forced command serves git transport only, inside its base directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.devstack.gitshell import resolve


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "app.git").mkdir()
    return tmp_path


def test_fetch_and_push_resolve_inside_the_base(base: Path) -> None:
    assert resolve("git-upload-pack '/app.git'", base=base, writable=False) == (
        "git-upload-pack", base / "app.git")
    assert resolve("git-receive-pack 'app.git'", base=base, writable=True)[0] == (
        "git-receive-pack")


@pytest.mark.parametrize(("request_", "writable", "reason"), [
    ("git-receive-pack '/app.git'", False, "read-only"),
    ("sh -c id", True, "only git"),
    ("git-upload-pack '/../../etc'", True, "no repository"),
    ("git-upload-pack '/missing.git'", True, "no repository"),
    ("", True, "only git"),
    ("git-upload-pack 'unterminated", True, "only git"),
])
def test_anything_else_is_refused_with_a_reason(
    base: Path, request_: str, writable: bool, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        resolve(request_, base=base, writable=writable)
