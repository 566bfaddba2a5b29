"""Times as the pipeline writes them: seconds since the Unix epoch (UTC) as floats, shown as
ISO 8601 with ``Z``. The one place that formats a time for people and the wire, and that knows
which instants an observation can plausibly carry."""

from __future__ import annotations

from datetime import UTC, datetime

# No weather record is older (the first instrumental series start in the 17th century, but no
# station feed carries them) and datetime cannot go past year 9999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
_FIRST_DATE = datetime(1, 1, 2, tzinfo=UTC).timestamp()


def iso_utc(seconds: float | None, timespec: str = "auto") -> str | None:
    """``2026-01-01T00:00:00Z``; None for None, and the number itself for an instant no
    calendar date can show (so a report about a bad time never fails on it)."""
    if seconds is None:
        return None
    if not _FIRST_DATE <= seconds <= LATEST:
        return repr(seconds)
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


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


def parse_instant(text: str) -> float:
    """An instant given by a person or a query string: ISO 8601 (``Z`` or an offset; a time
    without one is UTC) or seconds since the epoch. Raises ValueError saying what is expected."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"not a time: {text[:40]!r} (ISO 8601 such as 2026-01-01T00:00:00Z, or epoch "
                "seconds)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    problem = implausible_time(seconds)
    if problem is not None:
        raise ValueError(problem.replace("observed_at ", ""))
    return seconds
