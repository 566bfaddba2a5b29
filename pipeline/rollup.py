"""Minute roll-ups of the observations: count, sum, sum of squares, min and max of every
variable per station and UTC minute, kept in the store beside the rows they summarise.

A chart of a day, the hourly and daily statistics of the API and the console read 1,440
minute rows per station-day instead of 86,400 observations. The store notes which time range
of each station it wrote and, every :data:`EVERY_S` seconds (and at close), recomputes those
minutes from the stored rows in one SQL statement a station: SQLite aggregates in C, a
re-delivered reading is one row and counts once, and the write path pays nothing per row.
(Upserting the batch's own sums from Python cost 40 % of the storage throughput, measured.)
Readers see roll-ups at most that far behind; a process killed in between is caught up at the
next start.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MINUTE_S = 60.0
EVERY_S = 2.0  # how often the written minutes are rolled up
TABLE = "rollup_minute"
_PARTS = ("n", "s", "q", "lo", "hi")  # count, sum, sum of squares, min, max


def floor_sql(expression: str) -> str:
    """``floor()`` in SQL: SQLite has it only when built with its math functions."""
    whole = f"CAST({expression} AS INTEGER)"
    return f"({whole} - (({expression}) < {whole}))"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def part(kind: str, variable: str) -> str:
    return quote(f"{kind}_{variable}")


def create_table(variables: Sequence[str]) -> str:
    columns = ", ".join(
        f"{part(k, v)} {'INTEGER NOT NULL DEFAULT 0' if k == 'n' else 'REAL'}"
        for v in variables
        for k in _PARTS
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (station INTEGER NOT NULL, minute REAL NOT NULL,"
        f" {columns}, PRIMARY KEY (station, minute)) WITHOUT ROWID"
    )


def add_columns(conn: sqlite3.Connection, variables: Sequence[str]) -> None:
    """Columns for variables declared since the table was made."""
    existing = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    for variable in variables:
        for kind in _PARTS:
            if f"{kind}_{variable}" not in existing:
                kind_type = "INTEGER NOT NULL DEFAULT 0" if kind == "n" else "REAL"
                conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {part(kind, variable)} {kind_type}")


def _aggregates(variables: Sequence[str]) -> str:
    return ", ".join(
        f"COUNT({quote(v)}), SUM({quote(v)}), SUM({quote(v)} * {quote(v)}),"
        f" MIN({quote(v)}), MAX({quote(v)})"
        for v in variables
    )


_MINUTE = f"{floor_sql(f'observed_at / {MINUTE_S}')} * {MINUTE_S}"


def _columns(variables: Sequence[str]) -> str:
    return ", ".join(part(k, v) for v in variables for k in _PARTS)


def rebuild(conn: sqlite3.Connection, variables: Sequence[str]) -> None:
    """Every roll-up row from the stored observations (a store written before roll-ups)."""
    conn.execute(f"DELETE FROM {TABLE}")
    conn.execute(
        f"INSERT INTO {TABLE} (station, minute, {_columns(variables)})"
        f" SELECT station, {_MINUTE} AS m, {_aggregates(variables)} FROM observations"
        " GROUP BY station, m"
    )


def recompute_ranges(
    conn: sqlite3.Connection, variables: Sequence[str], ranges: dict[int, tuple[float, float]]
) -> None:
    """The roll-up rows of every minute from ``lo`` to ``hi`` of each station key,
    recomputed from the stored rows: SQLite aggregates in C, and a reading stored twice (a
    replayed batch) is one row, so it counts once."""
    query = (
        f"INSERT OR REPLACE INTO {TABLE} (station, minute, {_columns(variables)})"
        f" SELECT station, {_MINUTE} AS m, {_aggregates(variables)} FROM observations"
        " WHERE station = ? AND observed_at >= ? AND observed_at < ? GROUP BY m"
    )
    conn.executemany(
        query,
        (
            (key, period_start(lo, MINUTE_S), period_start(hi, MINUTE_S) + MINUTE_S)
            for key, (lo, hi) in ranges.items()
        ),
    )


def catch_up(conn: sqlite3.Connection, variables: Sequence[str]) -> None:
    """Roll up each station's readings after its newest rolled-up minute (two key lookups a
    station): a process killed between writing rows and rolling them up left those."""
    ranges = {}
    for (key,) in conn.execute("SELECT id FROM stations").fetchall():
        (latest,) = conn.execute(
            "SELECT MAX(observed_at) FROM observations WHERE station = ?", (key,)
        ).fetchone()
        if latest is None:
            continue
        (rolled,) = conn.execute(
            f"SELECT MAX(minute) FROM {TABLE} WHERE station = ?", (key,)
        ).fetchone()
        ranges[key] = (latest if rolled is None else rolled, latest)
    recompute_ranges(conn, variables, ranges)


def written_ranges(
    station_keys: np.ndarray, observed_at: np.ndarray
) -> dict[int, tuple[float, float]]:
    """Per station key, the earliest and latest time of a batch's rows."""
    if not len(station_keys):
        return {}
    order = np.lexsort((observed_at, station_keys))
    keys, times = station_keys[order], observed_at[order]
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    last = np.r_[first[1:] - 1, len(keys) - 1]
    spans = zip(times[first].tolist(), times[last].tolist(), strict=True)
    return dict(zip(keys[first].tolist(), spans, strict=True))


def widen(pending: dict[int, tuple[float, float]], ranges: dict[int, tuple[float, float]]) -> None:
    for key, (lo, hi) in ranges.items():
        known = pending.get(key)
        pending[key] = (lo, hi) if known is None else (min(lo, known[0]), max(hi, known[1]))


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """One variable's readings at one station over one period (a whole number of minutes)."""

    station_id: str
    variable: str
    start: float
    count: int
    minimum: float
    mean: float
    maximum: float
    stddev: float  # population standard deviation; NaN for a single reading


def select(variable: str, step_s: float, *, one_station: bool) -> str:
    """The query for :func:`stats_rows`: parameters ``since, until[, station_id]``."""
    n, s, q, lo, hi = (part(kind, variable) for kind in _PARTS)
    where = " AND st.station_id = ?" if one_station else ""
    return (
        f"SELECT st.station_id, {floor_sql(f'r.minute / {step_s}')} * {step_s} AS p, SUM(r.{n}),"
        f" SUM(r.{s}), SUM(r.{q}), MIN(r.{lo}), MAX(r.{hi})"
        f" FROM {TABLE} AS r JOIN stations AS st ON st.id = r.station"
        f" WHERE r.minute >= ? AND r.minute < ? AND r.{n} > 0{where}"
        " GROUP BY r.station, p ORDER BY st.station_id, p"
    )


def stats_rows(variable: str, rows: list[tuple]) -> list[PeriodStats]:
    result = []
    for station_id, start, count, total, squares, lowest, highest in rows:
        mean = total / count
        # A constant series is exactly 0 (the sums of squares would leave rounding residue).
        variance = 0.0 if lowest == highest else max(squares / count - mean * mean, 0.0)
        result.append(
            PeriodStats(
                station_id,
                variable,
                float(start),
                int(count),
                float(lowest),
                mean,
                float(highest),
                math.sqrt(variance) if count > 1 else math.nan,
            )
        )
    return result


def period_start(since: float, step_s: float) -> float:
    """The start of the period ``since`` falls in: periods are whole UTC minutes, hours, days."""
    return math.floor(since / step_s) * step_s
