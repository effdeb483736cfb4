"""Durations as Go's `time.ParseDuration` reads them: `1m30s`, `500ms`, `1.5h`, `-2s`, `0`.

The one duration parser of headwater: every flag and config (pipelines' `timeout`,
`check_every`, the time resource's `interval`, `headwater server` and `headwater cd`
flags, `--sources` files) goes through `parse_duration`. Concourse and fluxd take
these values with Go's `time.ParseDuration`; this is a port of that function, integer
nanoseconds included, so what either accepts or refuses, headwater does too: a
sequence of decimal numbers each with a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`,
`h`; no days), an optional sign, `0` alone, and at most 2562047h47m16.854775807s.
The table tests are Go's own (`time/time_test.go`).
"""

from __future__ import annotations

import json
from typing import Final

from headwater.errors import UserError

__all__ = ["DurationError", "format_duration", "parse_duration", "parse_duration_ns"]

_UNITS: Final = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6,
                 "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX: Final = 1 << 63  # Go's int64 nanoseconds; the bound is 2**63 - 1 (or -2**63)
_DIGITS: Final = "0123456789"


class DurationError(UserError, ValueError):
    """Not a Go duration; the message says what one looks like."""


def _expected(text: str) -> DurationError:
    return DurationError(f"invalid duration {json.dumps(text)}: expected a number with a unit "
                         f"such as 30s, 1m30s, 500ms or 2h (units ns, us, ms, s, m, h)")


def _out_of_range(text: str) -> DurationError:
    return DurationError(f"invalid duration {json.dumps(text)}: out of range "
                         f"(at most 2562047h47m16.854775807s, about 292 years)")


def _leading_int(text: str, s: str) -> tuple[int, str]:
    i, x = 0, 0
    while i < len(s) and s[i] in _DIGITS:
        x = x * 10 + ord(s[i]) - 48
        if x > _MAX:
            raise _out_of_range(text)
        i += 1
    return x, s[i:]


def _leading_fraction(s: str) -> tuple[int, float, str]:
    """Digits after the point as Go reads them: past int64 precision they are dropped."""
    i, x, scale, overflow = 0, 0, 1.0, False
    while i < len(s) and s[i] in _DIGITS:
        if not overflow:
            y = x * 10 + ord(s[i]) - 48
            if x > (_MAX - 1) // 10 or y > _MAX:
                overflow = True
            else:
                x, scale = y, scale * 10
        i += 1
    return x, scale, s[i:]


def _component(text: str, s: str) -> tuple[int, str]:
    """The nanoseconds of the number-and-unit that starts `s`, and what follows it."""
    if s[0] != "." and s[0] not in _DIGITS:
        raise _expected(text)
    before = len(s)
    whole, s = _leading_int(text, s)
    pre = len(s) != before
    frac, scale, post = 0, 1.0, False
    if s[:1] == ".":
        s = s[1:]
        before = len(s)
        frac, scale, s = _leading_fraction(s)
        post = len(s) != before
    if not pre and not post:
        raise _expected(text)
    i = 0
    while i < len(s) and s[i] != "." and s[i] not in _DIGITS:
        i += 1
    if i == 0:
        raise DurationError(f"invalid duration {json.dumps(text)}: missing unit "
                            f"(units are ns, us, ms, s, m, h)")
    unit, s = s[:i], s[i:]
    if unit not in _UNITS and not unit.isalpha():  # "5 minutes": not a unit at all
        raise _expected(text)
    if unit not in _UNITS:
        hint = ": write days as hours, 24h" if unit == "d" else ""
        raise DurationError(f"invalid duration {json.dumps(text)}: unknown unit "
                            f"{json.dumps(unit)} (units are ns, us, ms, s, m, h){hint}")
    unit_ns = _UNITS[unit]
    if whole > _MAX // unit_ns:
        raise _out_of_range(text)
    value = whole * unit_ns
    if frac:
        value += int(float(frac) * (float(unit_ns) / scale))  # Go's float64 rounding
        if value > _MAX:
            raise _out_of_range(text)
    return value, s


def parse_duration_ns(text: str) -> int:
    """Nanoseconds, from a Go duration string; raises `DurationError`."""
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise _expected(text)
    total = 0
    while s:
        value, s = _component(text, s)
        total += value
        if total > _MAX:
            raise _out_of_range(text)
    if neg:
        return -total
    if total > _MAX - 1:
        raise _out_of_range(text)
    return total


def parse_duration(text: str) -> float:
    """Seconds, from a Go duration string; raises `DurationError`."""
    return parse_duration_ns(text) / 1e9


def format_duration(seconds: float) -> str:
    """A duration as people write it in a pipeline: `1h`, `1m30s`, `2s`, `0.5s`."""
    if seconds < 1 or seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
