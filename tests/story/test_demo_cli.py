"""`headwater demo` without a running stack says to start one, and plays nothing."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from headwater.cli.app import app


def test_demo_without_a_stack_says_to_run_headwater_up(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["demo", "--state-dir", str(tmp_path)])
    assert done.exit_code == 1
    assert "headwater up" in done.output
    assert not (tmp_path / "demo").exists()
