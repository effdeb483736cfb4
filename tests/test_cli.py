"""The `headwater` command: version, help, and the stack verbs on a stack without a cluster."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from headwater import __version__
from headwater.cli.app import app

runner = CliRunner()


def test_version_and_help() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert r.output == f"headwater {__version__}\n"
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for verb in ("up", "down", "status", "kubeconfig"):
        assert verb in r.output


def test_status_without_a_stack_says_how_to_start_one(tmp_path: Path) -> None:
    r = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert r.exit_code == 1
    assert "headwater up" in r.output
    r = runner.invoke(app, ["kubeconfig", "--state-dir", str(tmp_path)])
    assert r.exit_code == 1


def test_up_status_down_of_a_stack_without_cluster(tmp_path: Path) -> None:
    state = tmp_path / "s"
    try:
        r = runner.invoke(app, ["up", "--no-cluster", "--registry-auth", "--registry-user",
                                "rguichard", "--state-dir", str(state)])
        assert r.exit_code == 0, r.output
        assert "git://127.0.0.1:" in r.output
        assert "read-only" in r.output
        assert "GIT_SSH_COMMAND=" in r.output
        assert "git push ssh://" in r.output  # pushes go over ssh, with the deploy key
        assert "user rguichard, password in" in r.output  # the seed pipeline's user
        assert "https://127.0.0.1:" in r.output  # the HTTPS endpoint, with credentials
        assert "token in" in r.output
        r = runner.invoke(app, ["status", "--state-dir", str(state)])
        assert r.exit_code == 0, r.output
        assert r.output.count("healthy") == 4  # git-daemon, sshd, git-http, registry
        r = runner.invoke(app, ["up", "--no-cluster", "--state-dir", str(state)])
        assert r.exit_code == 0
        assert "already running" in r.output
        assert runner.invoke(app, ["kubeconfig", "--state-dir", str(state)]).exit_code == 1
    finally:
        r = runner.invoke(app, ["down", "--purge", "--state-dir", str(state)])
    assert r.exit_code == 0
    assert "stopped git-daemon" in r.output
    assert "stopped git-http" in r.output
    assert not state.exists()


def test_identity_creates_an_ed25519_key_once_and_prints_it(tmp_path: Path) -> None:
    key = tmp_path / "id" / "id_ed25519"
    first = runner.invoke(app, ["identity", "--path", str(key)])
    assert first.exit_code == 0
    assert first.output.startswith("ssh-ed25519 ")
    assert key.stat().st_mode & 0o777 == 0o600
    assert runner.invoke(app, ["identity", "--path", str(key)]).output == first.output
    new = runner.invoke(app, ["identity", "--path", str(key), "--regenerate"])
    assert new.output != first.output
