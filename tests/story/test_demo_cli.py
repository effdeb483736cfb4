"""`headwater demo` without a running stack says to start one, and plays nothing; a
failed hop is printed with the hops before it, its log tail and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app
from headwater.cli.demo import _failed
from headwater.story.hops import Hop, HopFailed, format_timeline


def test_demo_without_a_stack_says_to_run_headwater_up(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["demo", "--state-dir", str(tmp_path)])
    assert done.exit_code == 1
    assert "headwater up" in done.output
    assert not (tmp_path / "demo").exists()


def test_a_failed_hop_prints_the_hops_before_it_its_log_tail_and_what_to_do(
        capsys: pytest.CaptureFixture[str]) -> None:
    failed = HopFailed("release commit", "not seen after 240s",
                       "level=error event=\"push refused [ci skip]\"",
                       "GET /api/v1/cd/status with the token says why")
    _failed(failed, format_timeline([Hop("commit", 1000.0, 1001.0, "abc pushed")]))
    out, err = capsys.readouterr()
    assert "commit" in out and "abc pushed" in out
    assert "failed: release commit: not seen after 240s" in err
    assert 'event="push refused [ci skip]"' in err  # printed as is, not taken for markup
    assert "what to do: GET /api/v1/cd/status with the token says why" in err
