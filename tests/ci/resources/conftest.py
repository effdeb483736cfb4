"""Fixtures of the resource type tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.ci.resources.registryimage_buildah import BuildahSettings

_BUILDS = Path("/var/tmp/headwater-test-builds")


@pytest.fixture
def builds() -> Iterator[BuildahSettings]:
    """Buildah settings whose work dir is this test's own, removed after. Under
    /var/tmp, not the test's tmp_path: RUN steps' unprivileged root must traverse to
    the storage (registryimage_buildah.session)."""
    _BUILDS.mkdir(mode=0o711, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=_BUILDS))
    work.chmod(0o711)
    try:
        yield BuildahSettings(work_dir=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
