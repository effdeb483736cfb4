"""The one Go-duration parser: Go's own table (`time/time_test.go`) and fluxd's flags."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import headwater
from headwater.durations import DurationError, parse_duration, parse_duration_ns

NS, US, MS, S, M, H = 1, 10**3, 10**6, 10**9, 60 * 10**9, 3600 * 10**9

# Go's parseDurationTests, in nanoseconds.
GO_PARSE_DURATION_TESTS = [
    # simple
    ("0", 0), ("5s", 5 * S), ("30s", 30 * S), ("1478s", 1478 * S),
    # sign
    ("-5s", -5 * S), ("+5s", 5 * S), ("-0", 0), ("+0", 0),
    # decimal
    ("5.0s", 5 * S), ("5.6s", 5 * S + 600 * MS), ("5.s", 5 * S), (".5s", 500 * MS),
    ("1.0s", 1 * S), ("1.00s", 1 * S), ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS), ("100.00100s", 100 * S + 1 * MS),
    # different units
    ("10ns", 10 * NS), ("11us", 11 * US), ("12\u00b5s", 12 * US), ("12\u03bcs", 12 * US),
    ("13ms", 13 * MS), ("14s", 14 * S), ("15m", 15 * M), ("16h", 16 * H),
    # composite durations
    ("3h30m", 3 * H + 30 * M), ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    # large value
    ("52763797000ns", 52763797000 * NS),
    # more than 9 digits after decimal point, see https://golang.org/issue/6617
    ("0.3333333333333333333h", 20 * M),
    # 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
    ("9007199254740993ns", (1 << 53) + 1),
    # largest duration that can be represented by int64 in nanoseconds
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("-9223372036854775.808us", -(1 << 63)),
    ("-9223372036s854ms775us808ns", -(1 << 63)),
    # largest negative round trip value, see https://golang.org/issue/48629
    ("-2562047h47m16.854775808s", -(1 << 63)),
    # huge string; issue 15011.
    ("0.100000000000000000000h", 6 * M),
    # This value tests the first overflow check in leadingFraction.
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
]

# Go's parseDurationErrorTests.
GO_PARSE_DURATION_ERROR_TESTS = [
    # invalid
    "", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85", "\xffff",
    "hello \xffff world", "\ufffd", "\ufffd hello \ufffd world",
    # overflow
    "9223372036854775810ns", "9223372036854775808ns", "-9223372036854775809ns",
    "9223372036854776us", "3000000h", "9223372036854775.808us", "9223372036854ms775us808ns",
]


@pytest.mark.parametrize(("text", "nanoseconds"), GO_PARSE_DURATION_TESTS)
def test_go_parse_duration_table(text: str, nanoseconds: int) -> None:
    assert parse_duration_ns(text) == nanoseconds


@pytest.mark.parametrize("text", GO_PARSE_DURATION_ERROR_TESTS)
def test_go_parse_duration_error_table_names_the_value(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration_ns(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1.5h", 5400.0), ("500ms", 0.5), ("1h30m", 5400.0), ("300ms", 0.3), ("-1.5h", -5400.0),
    ("2h45m", 9900.0), ("1.5m", 90.0), ("5m", 300.0), ("20s", 20.0),
])
def test_what_fluxd_accepts_reads_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_out_of_range_says_the_bound() -> None:
    with pytest.raises(DurationError, match=r"out of range \(at most 2562047h47m16"):
        parse_duration("3000000h")


def _unit_tables(source: str) -> list[int]:
    """Lines of dict literals keyed by Go's duration units: a parser's unit table."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Dict)
            and {"ms", "s", "m", "h"} <= {k.value for k in node.keys
                                          if isinstance(k, ast.Constant)}]


def test_no_module_but_headwater_durations_keeps_a_duration_unit_table() -> None:
    # Three copies used to disagree (cd sources refused 1.5h and 500ms); one stays.
    src = Path(headwater.__file__).parent
    copies = [f"{p.relative_to(src.parent)}:{line}" for p in sorted(src.rglob("*.py"))
              if p != src / "durations.py" for line in _unit_tables(p.read_text())]
    assert copies == [], f"parse durations with headwater.durations: {copies}"
    assert _unit_tables('U = {"ns": 1, "ms": 2, "s": 3, "m": 4, "h": 5}\n') == [1]
