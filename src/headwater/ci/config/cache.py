"""Parsed pipeline configs, kept per pipeline version.

The checker and the scheduler look at every pipeline many times a minute; a pipeline
of 1,000 resources takes tens of milliseconds to validate, so each version is
parsed once. A new version (set-pipeline) replaces the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.ci.config.model import PipelineConfig


class ConfigCache:
    def __init__(self) -> None:
        self._configs: dict[int, tuple[int, PipelineConfig]] = {}

    def get(self, pipeline_id: int, version: int, data: Mapping[str, Any]) -> PipelineConfig:
        """The config `data` of version `version` of the pipeline, parsed once."""
        cached = self._configs.get(pipeline_id)
        if cached is None or cached[0] != version:
            cached = (version, PipelineConfig.model_validate(data))
            self._configs[pipeline_id] = cached
        return cached[1]

    def forget(self, keep: set[int]) -> None:
        """Drop the pipelines not in `keep` (destroyed ones)."""
        for pipeline_id in set(self._configs) - keep:
            del self._configs[pipeline_id]
