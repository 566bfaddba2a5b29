"""Times as the pipeline writes them: seconds since the Unix epoch (UTC) as floats, shown as
ISO 8601 with ``Z``. The one place that formats a time for people and the wire, parses one a
person gives, knows a station's time zone, and knows which instants an observation can
plausibly carry."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# No weather record is older (the first instrumental series start in the 17th century, but no
# station feed carries them) and datetime cannot go past year 9999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
_FIRST_DATE = datetime(1, 1, 2, tzinfo=UTC).timestamp()


@overload
def iso_utc(seconds: float, timespec: str = "auto") -> str: ...
@overload
def iso_utc(seconds: None, timespec: str = "auto") -> None: ...
@overload
def iso_utc(seconds: float | None, timespec: str = "auto") -> str | None: ...
def iso_utc(seconds: float | None, timespec: str = "auto") -> str | None:
    """``2026-01-01T00:00:00Z``; None for None, and the number itself for an instant no
    calendar date can show (so a report about a bad time never fails on it)."""
    if seconds is None:
        return None
    if not _FIRST_DATE <= seconds <= LATEST:
        return repr(seconds)
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def clock_text(
    seconds: float,
    zone: tzinfo = UTC,
    *,
    date: bool = False,
    minutes_only: bool = False,
    zone_named: bool = False,
) -> str:
    """A time on the console: ``05:29:00``; ``zone_named``: ``05:29:00Z`` (UTC) or
    ``00:29:00 EST`` (another zone); ``date`` (the zone named too): ``2026-01-01 05:29:00Z``;
    ``minutes_only``: ``05:29``."""
    moment = datetime.fromtimestamp(seconds, zone)
    text = moment.strftime("%H:%M" if minutes_only else "%H:%M:%S")
    if date or zone_named:
        text += "Z" if zone is UTC else f" {moment.tzname()}"
    return f"{moment:%Y-%m-%d} {text}" if date else text


def clock_offset(seconds: float, zone: tzinfo) -> float:
    """How far ``zone``'s clock is ahead of UTC at that instant, in seconds."""
    offset = datetime.fromtimestamp(seconds, zone).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def file_stamp(seconds: float) -> str:
    """An instant in a file name: ``20260101T052900Z`` (sorts as it reads, no colons)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%M%SZ")


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone this machine knows, or None if it is."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name[:60]!r} (an IANA name such as Europe/London)"
    return None


@lru_cache(maxsize=4096)
def station_zone(name: str, latitude: float, longitude: float) -> tzinfo:
    """A station's local time zone: the one configured (``name``), else the one its position
    lies in (tzfpy's offline boundaries, loaded on first use), else UTC (no position)."""
    if name:
        return ZoneInfo(name)
    if math.isnan(latitude) or math.isnan(longitude):
        return UTC
    from tzfpy import get_tz  # ~70 ms the first time: only when local time is asked for

    found = get_tz(longitude, latitude)
    return ZoneInfo(found) if found and zone_problem(found) is None else UTC


def implausible_time(seconds: float) -> str | None:
    """Why ``seconds`` cannot be an observation's time, or None if it can be."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return f"impossible observed_at {seconds!r}"
    if seconds < EARLIEST:
        return f"impossible observed_at {iso_utc(seconds)} (before 1900)"
    if seconds > LATEST:
        if 1e11 < seconds < 1e14 or 1e14 < seconds < 1e17:
            return (
                f"impossible observed_at {seconds!r}: looks like milli- or microseconds since "
                "the epoch (seconds expected, or ISO 8601)"
            )
        return f"impossible observed_at {seconds!r} (after year 9999)"
    return None


def parse_instant(text: str, *, naive_is_utc: bool = True) -> float:
    """An instant given by a person, a query string or a file: ISO 8601 (``Z`` or an offset)
    or seconds since the epoch. A time without an offset is UTC, or refused where that could
    be a mistake (``naive_is_utc=False``: a configured start). Raises ValueError saying what
    is expected."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = _iso_seconds(text, naive_is_utc)
    problem = implausible_time(seconds)
    if problem is not None:
        raise ValueError(problem.replace("observed_at ", ""))
    return seconds


def _iso_seconds(text: str, naive_is_utc: bool) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {text[:40]!r} (ISO 8601 such as 2026-01-01T00:00:00Z, or epoch seconds)"
        ) from None
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"{text[:40]!r} has no UTC offset (give one, e.g. Z)")
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
