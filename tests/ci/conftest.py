"""Fixtures of the CI engine's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.ci.resources.cgroups import Cgroups


@pytest.fixture
def cgroups(tmp_path: Path) -> Iterator[Cgroups]:
    """This machine's cgroups for steps, under a parent named after the test's tmp dir;
    the test is skipped where there are none to write (not root)."""
    found = Cgroups.setup(str(tmp_path)) if os.geteuid() == 0 else None
    if found is None:
        pytest.skip("no writable cgroup controllers here")
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host directory outside the build, with a canary file and a subdirectory `out`
    holding another: what an escape through a link would read, move or delete."""
    directory = tmp_path / "host"
    (directory / "out").mkdir(parents=True)
    (directory / "canary").write_text("host secret\n")
    (directory / "out" / "canary").write_text("host secret\n")
    return directory
