"""The built-in time resource: Concourse's time-resource rules as plain functions,
then as a resource type, then in a build."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.plan import Get, Put
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.time import (
    TimeResource,
    check_times,
    due,
    format_time,
    parse_duration,
    parse_source,
    parse_time,
)
from tests.ci.builds.helpers import RecordingDelegate, make_ctx


def at(text: str) -> datetime:
    """A UTC instant; 2024-01-01 is a Monday."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [
    ("10m", 600), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("300ms", 0.3),
    ("2h45m30s", 9930),
])
def test_intervals_are_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["10 minutes", "", "1d", "m"])
def test_invalid_intervals_are_refused(text: str) -> None:
    with pytest.raises(ResourceError, match="invalid interval"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "hour_minute"), [
    ("3:04 PM", (15, 4)), ("3PM", (15, 0)), ("3 PM", (15, 0)), ("15:04", (15, 4)),
    ("1504", (15, 4)), ("12 AM", (0, 0)), ("12:30 PM", (12, 30)),
    ("9:00 AM -0500", (14, 0)), ("0130 +0200", (23, 30)),
])
def test_times_of_day_in_concourse_formats(text: str, hour_minute: tuple[int, int]) -> None:
    assert parse_source({"start": text, "stop": "23:59"}).start == hour_minute


@pytest.mark.parametrize(("source", "message"), [
    ({"start": "9:00"}, "must configure 'stop' if 'start' is set"),
    ({"stop": "9:00"}, "must configure 'start' if 'stop' is set"),
    ({"start": "25:00", "stop": "1:00"}, "invalid time of day '25:00'"),
    ({"location": "Mars/Olympus"}, "unknown location 'Mars/Olympus'"),
    ({"days": ["Funday"]}, "unknown weekday 'Funday'"),
    ({"intervall": "1m"}, "unknown source keys"),
    ({"start_after": "tomorrow"}, "invalid start_after"),
])
def test_invalid_sources_say_what_is_wrong(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        parse_source(source)


@pytest.mark.parametrize(("source", "previous", "now", "expected"), [
    # interval alone
    ({"interval": "10m"}, None, "2024-01-01T12:00", True),
    ({"interval": "10m"}, "2024-01-01T11:55", "2024-01-01T12:00", False),
    ({"interval": "10m"}, "2024-01-01T11:50", "2024-01-01T12:00", True),
    # a daily window, once per window without an interval
    ({"start": "9:00", "stop": "17:00"}, None, "2024-01-01T08:59", False),
    ({"start": "9:00", "stop": "17:00"}, None, "2024-01-01T09:00", True),
    ({"start": "9:00", "stop": "17:00"}, None, "2024-01-01T16:59", True),
    ({"start": "9:00", "stop": "17:00"}, None, "2024-01-01T17:00", False),
    ({"start": "9:00", "stop": "17:00"}, "2024-01-01T09:05", "2024-01-01T12:00", False),
    ({"start": "9:00", "stop": "17:00"}, "2023-12-31T09:05", "2024-01-01T12:00", True),
    # a window across midnight
    ({"start": "22:00", "stop": "2:00"}, None, "2024-01-02T01:00", True),
    ({"start": "22:00", "stop": "2:00"}, None, "2024-01-02T03:00", False),
    ({"start": "22:00", "stop": "2:00"}, None, "2024-01-01T23:00", True),
    # interval inside a window
    ({"start": "9:00", "stop": "17:00", "interval": "1h"}, "2024-01-01T10:00",
     "2024-01-01T10:30", False),
    ({"start": "9:00", "stop": "17:00", "interval": "1h"}, "2024-01-01T10:00",
     "2024-01-01T11:00", True),
    # days, in the source's location
    ({"days": ["Monday"], "interval": "1m"}, None, "2024-01-01T12:00", True),
    ({"days": ["mon"], "interval": "1m"}, None, "2024-01-02T12:00", False),
    ({"days": ["Monday"], "location": "Asia/Tokyo", "interval": "1m"}, None,
     "2024-01-01T16:00", False),  # already Tuesday in Tokyo
    # location: 9-10 AM in New York is 14:00-15:00 UTC in January
    ({"start": "9AM", "stop": "10AM", "location": "America/New_York"}, None,
     "2024-01-01T14:30", True),
    ({"start": "9AM", "stop": "10AM", "location": "America/New_York"}, None,
     "2024-01-01T13:30", False),
    # start_after
    ({"interval": "1m", "start_after": "2024-01-02"}, None, "2024-01-01T12:00", False),
    ({"interval": "1m", "start_after": "2024-01-02"}, None, "2024-01-02T00:01", True),
])
def test_when_a_new_version_is_due(source: dict[str, Any], previous: str | None, now: str,
                                   expected: bool) -> None:
    assert due(parse_source(source), at(previous) if previous else None, at(now)) is expected


def test_check_answers_the_previous_version_then_now_when_due() -> None:
    src = parse_source({"interval": "1h"})
    previous = at("2024-01-01T10:00")
    assert check_times(src, previous, at("2024-01-01T10:30")) == [previous]
    assert check_times(src, previous, at("2024-01-01T11:00")) == [previous,
                                                                  at("2024-01-01T11:00")]


def test_initial_version_emits_at_once_even_outside_the_window() -> None:
    now = at("2024-01-01T03:00")
    window = {"start": "9:00", "stop": "17:00"}
    assert check_times(parse_source(window), None, now) == []
    assert check_times(parse_source({**window, "initial_version": True}), None, now) == [now]


def test_versions_are_rfc3339_in_the_sources_location() -> None:
    assert format_time(at("2024-01-01T10:00:00")) == "2024-01-01T10:00:00Z"
    assert format_time(datetime(2024, 1, 1, 10, 0, 0, 120000, tzinfo=UTC)) == \
        "2024-01-01T10:00:00.12Z"
    berlin = at("2024-07-01T10:00").astimezone(ZoneInfo("Europe/Berlin"))
    assert format_time(berlin) == "2024-07-01T12:00:00+02:00"
    assert parse_time("2024-07-01T12:00:00.123456789+02:00") == \
        datetime(2024, 7, 1, 10, 0, 0, 123456, tzinfo=UTC)


async def _log(text: str) -> None:
    pass


async def test_the_time_resource_type(tmp_path: Path) -> None:
    now = at("2024-01-01T12:00:00")
    rtype = TimeResource(clock=lambda: now)
    source = {"interval": "1h", "location": "Europe/Berlin"}
    assert await rtype.check(source, None, log=_log) == [{"time": "2024-01-01T13:00:00+01:00"}]
    previous = {"time": "2024-01-01T12:30:00+01:00"}
    assert await rtype.check(source, previous, log=_log) == [previous]

    fetched = await rtype.get(source, previous, {}, tmp_path / "t", log=_log)
    assert fetched.version == previous
    assert json.loads((tmp_path / "t" / "input").read_text()) == {"source": source,
                                                                  "version": previous}
    pushed = await rtype.put(source, {}, tmp_path, log=_log)
    assert pushed.version == {"time": "2024-01-01T13:00:00+01:00"}


async def test_a_build_gets_the_latest_time_and_puts_a_new_one(tmp_path: Path) -> None:
    now = at("2024-01-01T12:00:00")
    ctx = make_ctx(tmp_path / "build", builtins={"time": TimeResource(clock=lambda: now)})
    delegate = RecordingDelegate()
    plan = Get(id="g", name="every-hour", resource="every-hour", type="time",
               source={"interval": "1h"})
    assert await run_build(plan, ctx=ctx, delegate=delegate) == "succeeded"
    [finish] = delegate.of("finish-get")
    assert finish["version"] == {"time": "2024-01-01T12:00:00Z"}
    assert (tmp_path / "build" / "every-hour" / "input").is_file()

    delegate = RecordingDelegate()
    put = Put(id="p", name="stamp", resource="stamp", type="time", source={})
    assert await run_build(put, ctx=ctx, delegate=delegate) == "succeeded"
    assert delegate.outputs[0][0] == "stamp"
    assert delegate.outputs[0][1].version == {"time": "2024-01-01T12:00:00Z"}
