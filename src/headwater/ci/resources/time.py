"""The built-in `time` resource, as Concourse's concourse/time-resource.

Source (all optional): `interval` (a Go duration: `1h30m`, `10m`, `90s`), `start` and
`stop` (a daily window: `9:00 AM`, `3PM`, `15:04`, `1504`, optionally followed by a
numeric zone `-0700`), `location` (an IANA zone, default UTC), `days` (`Monday`,
`mon`, ...), `start_after` (`2006-01-02T15:04:05`, no version before it) and
`initial_version` (emit a version at once even outside the window).

`check` answers the given version, if any, followed by the current time when a new
version is due (the "time lord" rules: inside today's window and on a listed day;
then once `interval` has passed since the last version, or, without an interval,
once per window). `in` writes the request to `<dest>/input` and answers the version
it was given; `out` answers the current time. Versions are `{"time": RFC 3339}` in
the source's location.

The decisions are plain functions on a parsed `TimeSource` and an explicit `now`
(`due`, `check_times`, `latest_range_before`); `TimeResource` wraps them. Cron
expressions (`cron:`, a recent addition upstream) are not supported yet.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from headwater import durations
from headwater.ci.resources.base import Fetched, Log, ResourceError, Version

_DAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4,
         "friday": 5, "saturday": 6}
_TIME_OF_DAY = [
    re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})\s?(?P<ampm>AM|PM)(?:\s+(?P<zone>[+-]\d{4}))?", re.I),
    re.compile(r"(?P<h>\d{1,2})\s?(?P<ampm>AM|PM)(?:\s+(?P<zone>[+-]\d{4}))?", re.I),
    re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})(?:\s+(?P<zone>[+-]\d{4}))?"),
    re.compile(r"(?P<h>\d{2})(?P<m>\d{2})(?:\s+(?P<zone>[+-]\d{4}))?"),
]
_START_AFTER_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d",
                        "%Y-%m-%d %H:%M:%S"]


@dataclass(frozen=True)
class TimeSource:
    interval: timedelta | None = None
    start: tuple[int, int] | None = None  # hour, minute
    stop: tuple[int, int] | None = None
    days: frozenset[int] = frozenset()  # 0 = Sunday, as Go's time.Weekday
    location: tzinfo = UTC
    start_after: datetime | None = None  # wall time in `location`
    initial_version: bool = False


def parse_source(source: Mapping[str, Any]) -> TimeSource:
    """Concourse's time source, validated; `ResourceError` says what is wrong."""
    unknown = set(source) - {"interval", "start", "stop", "days", "location", "start_after",
                             "initial_version"}
    if unknown:
        raise ResourceError(f"time resource: unknown source keys {sorted(unknown)}")
    if ("start" in source) != ("stop" in source):
        missing, given = ("stop", "start") if "start" in source else ("start", "stop")
        raise ResourceError(f"time resource: must configure '{missing}' if '{given}' is set")
    location: tzinfo = UTC
    if source.get("location"):
        try:
            location = ZoneInfo(str(source["location"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ResourceError(f"time resource: unknown location {source['location']!r}; "
                                "use an IANA zone name such as Europe/Berlin") from None
    days = frozenset(_weekday(d) for d in source.get("days") or [])
    start_after = None
    if source.get("start_after"):
        start_after = _parse_start_after(str(source["start_after"]))
    return TimeSource(
        interval=parse_duration(str(source["interval"])) if source.get("interval") else None,
        start=_time_of_day(str(source["start"])) if "start" in source else None,
        stop=_time_of_day(str(source["stop"])) if "stop" in source else None,
        days=days, location=location, start_after=start_after,
        initial_version=bool(source.get("initial_version", False)))


def parse_duration(text: str) -> timedelta:
    """A Go duration (`1h30m`, `90s`, `1.5h`), read by `headwater.durations`."""
    try:
        return timedelta(microseconds=durations.parse_duration_ns(text) / 1000)
    except durations.DurationError as e:
        raise ResourceError(f"time resource: invalid interval: {e}") from None


def _time_of_day(text: str) -> tuple[int, int]:
    for pattern in _TIME_OF_DAY:
        m = pattern.fullmatch(text.strip())
        if not m:
            continue
        hour, minute = int(m.group("h")), int(m.groupdict().get("m") or 0)
        ampm = (m.groupdict().get("ampm") or "").upper()
        if ampm:
            if not 1 <= hour <= 12:
                break
            hour = hour % 12 + (12 if ampm == "PM" else 0)
        if hour > 23 or minute > 59:
            break
        zone = m.group("zone")
        if zone:  # as Go's parser: a numeric zone turns the time into UTC
            offset = (int(zone[1:3]) * 60 + int(zone[3:])) * (1 if zone[0] == "+" else -1)
            total = (hour * 60 + minute - offset) % (24 * 60)
            hour, minute = divmod(total, 60)
        return hour, minute
    raise ResourceError(f"time resource: invalid time of day {text!r}: use 3:04 PM, 3PM, "
                        "3 PM, 15:04 or 1504, optionally followed by a zone like -0700")


def _weekday(name: Any) -> int:
    key = str(name).lower()
    for day, number in _DAYS.items():
        if key in (day, day[:3]):
            return number
    raise ResourceError(f"time resource: unknown weekday {name!r}")


def _parse_start_after(text: str) -> datetime:
    for fmt in _START_AFTER_FORMATS:
        try:
            return datetime.strptime(text, fmt)  # wall time in `location`
        except ValueError:
            continue
    raise ResourceError(f"time resource: invalid start_after {text!r}: use "
                        "2006-01-02T15:04:05, 2006-01-02T15:04, 2006-01-02 or 2006-01-02 15:04:05")


def latest_range_before(src: TimeSource, reference: datetime) -> tuple[datetime, datetime]:
    """The start and stop (UTC instants) of the last daily window that began at or
    before `reference`; without start/stop the window is the whole day."""
    ref = reference.astimezone(src.location)
    sh, sm = src.start or (0, 0)
    th, tm = src.stop or (0, 0)
    start = ref.replace(hour=sh, minute=sm, second=0, microsecond=0)
    if start.astimezone(UTC) > ref.astimezone(UTC):
        start = _add_days(start, -1)
    stop = start.replace(hour=th, minute=tm)
    if stop.astimezone(UTC) <= start.astimezone(UTC):
        stop = _add_days(stop, 1)
    return start.astimezone(UTC), stop.astimezone(UTC)


def _add_days(moment: datetime, days: int) -> datetime:
    # Calendar days on the wall clock (Go's AddDate), then re-resolved in the zone.
    naive = moment.replace(tzinfo=None) + timedelta(days=days)
    return naive.replace(tzinfo=moment.tzinfo)


def _days_match(src: TimeSource, moment: datetime) -> bool:
    if not src.days:
        return True
    return (moment.astimezone(src.location).weekday() + 1) % 7 in src.days


def due(src: TimeSource, previous: datetime | None, now: datetime) -> bool:
    """Is a new version due at `now`, the last one being `previous`?"""
    start, stop = latest_range_before(src, now)
    now_utc = now.astimezone(UTC)
    if not _days_match(src, now):
        return False
    if src.start_after is not None:
        after = src.start_after.replace(tzinfo=src.location).astimezone(UTC)
        if not after < now_utc:
            return False
    if now_utc < start or now_utc >= stop:
        return False
    if previous is None:
        return True
    if src.interval is not None:
        return now_utc - previous.astimezone(UTC) >= src.interval
    return previous.astimezone(UTC) < start


def check_times(src: TimeSource, previous: datetime | None, now: datetime) -> list[datetime]:
    """What `check` answers: the previous version, then `now` when one is due."""
    now = now.astimezone(src.location)
    if previous is None and src.initial_version:
        return [now]
    versions = [previous] if previous is not None else []
    if due(src, previous, now):
        versions.append(now)
    return versions


def format_time(moment: datetime) -> str:
    """RFC 3339 with the fraction trimmed and `Z` for a zero offset (Go's RFC3339Nano)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    if fraction:
        text += "." + fraction
    offset = moment.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    hours, minutes = divmod(abs(minutes), 60)
    return f"{text}{'+' if offset > timedelta(0) else '-'}{hours:02d}:{minutes:02d}"


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ResourceError(f"time resource: version time {text!r} is not RFC 3339") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _write_input(dest: Path, request: Mapping[str, Any]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "input").write_text(json.dumps(request))


def _now() -> datetime:
    return datetime.now(UTC)


class TimeResource:
    """The `time` resource type; `clock` answers "now" (tests pass a fixed one)."""

    def __init__(self, *, clock: Callable[[], datetime] = _now) -> None:
        self._clock = clock

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        src = parse_source(source)
        previous = parse_time(version["time"]) if version and "time" in version else None
        return [{"time": format_time(t)} for t in check_times(src, previous, self._clock())]

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        src = parse_source(source)
        await asyncio.to_thread(_write_input, dest, {"source": dict(source), "version": version})
        if "time" in version:
            return Fetched(version=dict(version))  # the version asked for, as stored
        return Fetched(version={"time": format_time(self._clock().astimezone(src.location))})

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        src = parse_source(source)
        return Fetched(version={"time": format_time(self._clock().astimezone(src.location))})
