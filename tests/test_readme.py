"""The README starts with the two set-up commands, and CI runs the second one."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[2] == "```sh"
    up, test = lines[3], lines[4]
    assert up.endswith("headwater up")
    assert lines[5] == "```"
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()
