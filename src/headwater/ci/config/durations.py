"""Durations as Go's `time.ParseDuration` reads them: `1m30s`, `500ms`, `1.5h`, `-2s`, `0`.

Concourse keeps `timeout`, `check_every` and `check_timeout` as strings and parses them
with Go; these are the same rules: a sequence of decimal numbers each with a unit
(`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`; no days), an optional sign, and `0` alone.
"""

from __future__ import annotations

import json
import re
from typing import Final

from headwater.errors import UserError

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS: Final = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3,
                 "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]*)")


class DurationError(UserError, ValueError):
    """Not a Go duration; the message says what one looks like."""


def parse_duration(text: str) -> float:
    """Seconds, from a Go duration string; raises `DurationError`."""
    bad = DurationError(f"invalid duration {json.dumps(text)}: expected a number with a unit "
                        f"such as 30s, 1m30s, 500ms or 2h (units ns, us, ms, s, m, h)")
    rest = text
    sign = 1.0
    if rest[:1] in "+-" and rest:
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise bad
    total = 0.0
    pos = 0
    while pos < len(rest):
        m = _PART.match(rest, pos)
        if m is None or m.end() == pos:
            raise bad
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise bad
        if unit not in _UNITS:
            if not unit and m.end() < len(rest):
                raise bad
            if not unit:
                raise DurationError(f"invalid duration {json.dumps(text)}: missing unit "
                                    f"(units are ns, us, ms, s, m, h)")
            hint = ": write days as hours, 24h" if unit == "d" else ""
            raise DurationError(f"invalid duration {json.dumps(text)}: unknown unit "
                                f"{json.dumps(unit)} (units are ns, us, ms, s, m, h){hint}")
        total += float(f"{whole or '0'}.{frac or '0'}") * _UNITS[unit]
        pos = m.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """A duration as people write it in a pipeline: `1h`, `1m30s`, `2s`, `0.5s`."""
    if seconds < 1 or seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
