"""Where builds run: `<data dir>/builds/<build id>`, spelled here only (and where
their task caches are kept: `<data dir>/task-caches`, beside them on one filesystem,
so a cache moves in and out of a task by a rename).

The runner creates a build's work dir and removes it when a pipeline build ends; a
one-off build's (`execute`) stays `ONE_OFF_KEEP` seconds so `execute -o` can download
its outputs; uploads are unpacked into staging directories beside them first
(`ci/service.py`), whose names are never a build id.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Container
from pathlib import Path

ONE_OFF_KEEP = 3600.0  # seconds a one-off build's outputs stay downloadable


def root(data_dir: Path) -> Path:
    """The directory that holds every build's work dir."""
    return data_dir / "builds"


def task_caches(data_dir: Path) -> Path:
    """Where task caches are kept between builds of a job (ci/build/taskcaches.py)."""
    return data_dir / "task-caches"


def workdir(builds: Path, build_id: int) -> Path:
    """Build `build_id`'s work dir under `builds` (see `root`)."""
    return builds / str(build_id)


def remove_old(builds: Path, *, running: Container[int], keep: float = ONE_OFF_KEEP) -> None:
    """Remove the work dirs left more than `keep` seconds ago by builds not running."""
    if not builds.is_dir():
        return
    cutoff = time.time() - keep
    for path in builds.iterdir():
        if path.name.isdigit() and int(path.name) not in running:
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
