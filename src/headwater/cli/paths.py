"""Where the command keeps its files, following the XDG base directories."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """State: the CD controller's work dirs and identity, the CI server's data."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "headwater"


def config_dir() -> Path:
    """Settings: the CI targets (`$HEADWATER_CONFIG_DIR` wins, for tests and scripts)."""
    explicit = os.environ.get("HEADWATER_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "headwater"
