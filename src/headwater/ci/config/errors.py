"""The typed errors of pipeline configs: a user's mistake, terminal until the file changes."""

from __future__ import annotations

from headwater.ci.config.diagnostics import Report
from headwater.errors import UserError

__all__ = ["CompileError", "PipelineInvalid"]


class PipelineInvalid(UserError, ValueError):
    """The pipeline has errors; `report` holds every one (and the warnings) with its line."""

    def __init__(self, report: Report, *, filename: str) -> None:
        self.report = report
        self.filename = filename
        count = len(report.errors)
        shown = "\n".join(f"  {filename}:{d}" for d in report.errors)
        super().__init__(f"{filename}: {count} error{'s' if count != 1 else ''} in the "
                         f"pipeline:\n{shown}")

    def details(self) -> dict[str, object]:
        return dict(self.report.as_json())


class CompileError(UserError, ValueError):
    """A job cannot be turned into a build plan (unknown job, a step headwater lacks)."""
