"""What validation says: diagnostics with the YAML line and the path of what is wrong.

A `Diagnostic` names a place two ways: the 1-based `line` in the file the user gave
(None when no line is known, e.g. the file is empty) and a `path` as Concourse names
it, `jobs.build.plan.do[2].put(image)` (`paths.concourse_path`), so a person finds it
in the editor and a Concourse user reads the names Concourse's own errors use. The
`Collector` turns a data path (`("jobs", 0, "plan", 2, "put")`) into both, using the
line map `positions.load` made: a node created by interpolation (a var that became a
map) has no line of its own and takes its nearest ancestor's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.ci.vars import Location

__all__ = ["Collector", "Diagnostic", "Report", "format_path", "quote"]


def quote(text: object) -> str:
    """A name as messages show it: `"imag"` (JSON quoting, readable for any string)."""
    return json.dumps(text if isinstance(text, str) else str(text), ensure_ascii=False)


_PLAIN_KEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def format_path(path: Location) -> str:
    """`("jobs", 0, "plan", 2, "put")` -> `jobs[0].plan[2].put`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and set(part) <= _PLAIN_KEY:
            out += f".{part}" if out else part
        else:
            out += f"[{quote(part)}]"
    return out


@dataclass(frozen=True, order=True)
class Diagnostic:
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class Report:
    """Every error and warning of one pipeline, each list in file order."""

    errors: tuple[Diagnostic, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, list[dict[str, Any]]]:
        """`{"errors": [{"line": N, "path": "...", "message": "..."}], "warnings": [...]}`."""
        return {"errors": [d.as_json() for d in self.errors],
                "warnings": [d.as_json() for d in self.warnings]}

    def lines(self, filename: str | None = None) -> list[str]:
        """`FILE:line 31: jobs.build.plan.do[2].put(imag): unknown resource "imag"`, errors
        first."""
        prefix = f"{filename}:" if filename else ""
        return ([f"error: {prefix}{d}" for d in self.errors]
                + [f"warning: {prefix}{d}" for d in self.warnings])


def _sorted(diagnostics: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    # Stable: file order by line (unknown lines first), then the order rules found them.
    unique = list(dict.fromkeys(diagnostics))
    return tuple(sorted(unique, key=lambda d: -1 if d.line is None else d.line))


@dataclass
class Collector:
    """Collects diagnostics for one pipeline; `lines` maps data paths to YAML lines."""

    lines: Mapping[Location, int] = field(default_factory=dict)
    name: Callable[[Location], str] = format_path  # how a data path is shown
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    def line(self, path: Location) -> int | None:
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def at(self, path: Location, message: str) -> Diagnostic:
        return Diagnostic(self.line(path), self.name(path), message)

    def error(self, path: Location, message: str) -> None:
        self.errors.append(self.at(path, message))

    def warning(self, path: Location, message: str) -> None:
        self.warnings.append(self.at(path, message))

    def report(self) -> Report:
        return Report(_sorted(self.errors), _sorted(self.warnings))
