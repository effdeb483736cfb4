"""The README starts with the two set-up commands (the first plays the demo story), and
CI runs the second one."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[2] == "```sh"
    up, test = lines[3], lines[4]
    assert up.endswith("headwater up && .venv/bin/headwater demo")
    assert lines[5] == "```"
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def _fake_checkout(tmp_path: Path, setup_status: int) -> tuple[Path, Path]:
    """A copy of .ci/run beside a hack/setup.sh that exits `setup_status` and a .venv
    whose programs record that they ran."""
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text((ROOT / ".ci" / "run").read_text())
    (tmp_path / "hack").mkdir()
    (tmp_path / "hack" / "setup.sh").write_text(f"exit {setup_status}\n")
    ran = tmp_path / "ran"
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "ruff", "mypy", "lint-imports"):
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\necho {name} >> {ran}\n")
        tool.chmod(0o755)
    return tmp_path / ".ci" / "run", ran


def test_ci_stops_when_setup_fails(tmp_path: Path) -> None:
    run, ran = _fake_checkout(tmp_path, setup_status=3)
    done = subprocess.run(["bash", str(run)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert not ran.exists(), f"ran after a failed setup: {ran.read_text()}"


def test_ci_runs_tests_then_linters_when_setup_succeeds(tmp_path: Path) -> None:
    run, ran = _fake_checkout(tmp_path, setup_status=0)
    done = subprocess.run(["bash", str(run)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert ran.read_text().split() == ["python", "ruff", "mypy", "lint-imports"]
