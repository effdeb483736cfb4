"""The sshd forced command serves git transport only, inside its base directory."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from headwater.devstack import gitserver
from headwater.devstack.gitshell import resolve
from headwater.devstack.layout import Layout


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


def test_the_forced_command_sshd_runs_serves_git_alone_without_importing_headwater(
        tmp_path: Path) -> None:
    # Each ssh connection runs it: isolated (-I) and without site-packages (-S), it
    # cannot import the headwater package (the stack, httpx, ...), which cost every
    # fetch and push about a second of Python start-up on a loaded machine.
    layout = Layout(tmp_path / "state")
    layout.create()
    server = gitserver.prepare(layout, daemon_port=1, ssh_port=2, user="git")
    repo = gitserver.create_repo(server, "app.git")
    for line in (tmp_path / "state" / "git" / "authorized_keys").read_text().splitlines():
        options = line.split('command="', 1)[1].split('"', 1)[0]
        argv = shlex.split(options)
        assert argv[1] == "-IS"
        env = {"PATH": os.environ["PATH"], "SSH_ORIGINAL_COMMAND": "sh -c id"}
        refused = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        assert refused.returncode == 1
        assert "only git clone, fetch and push are served here" in refused.stderr
        # a real request reaches git-shell: an upload-pack that advertises the refs
        env["SSH_ORIGINAL_COMMAND"] = f"git-upload-pack '/{repo.name}'"
        served = subprocess.run(argv, env=env, input=b"0000", capture_output=True,
                                check=False)
        assert served.returncode == 0, served.stderr
