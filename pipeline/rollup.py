"""Hourly roll-ups of the observations: count, sum, sum of squares, min and max of every
variable per station and UTC hour, kept in the store beside the rows they summarise, and the
periods (hours, days, minutes) read from them or, for steps shorter than an hour, aggregated
from the rows by SQLite.

The statistics of the API and the console (per hour or day) read 24 rows per station-day
instead of every reading. The roll-up is written in the same transaction as the rows: the
batch is grouped by station and hour in numpy (one sort) and each group added to its row,
so a station-hour costs one upsert however many readings it has; when some rows of a batch
were stored before (a replayed batch), the hours it touched are recomputed from the stored
rows instead, so a reading counts once.

Why hours, measured (this machine, 100 stations, 8 variables): minute roll-ups, upserted or
recomputed in SQL, cost 40 % of the storage throughput for stations reporting once a minute
(a minute row per reading, 8 µs each); a day's chart of a 1 Hz station aggregated per minute by
SQLite from its 86,400 rows takes ~60 ms and returns 1,441 rows, which the console does off its
UI thread every 30 s (``bench/console_reads.py``).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HOUR_S = 3600.0
MINUTE_S = 60.0
TABLE = "rollup_hour"
_PARTS = ("n", "s", "q", "lo", "hi")  # count, sum, sum of squares, min, max


def floor_sql(expression: str) -> str:
    """``floor()`` in SQL: SQLite has it only when built with its math functions."""
    whole = f"CAST({expression} AS INTEGER)"
    return f"({whole} - (({expression}) < {whole}))"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def part(kind: str, variable: str) -> str:
    return quote(f"{kind}_{variable}")


def _kind_type(kind: str) -> str:
    return "INTEGER NOT NULL DEFAULT 0" if kind == "n" else "REAL"


def create_table(variables: Sequence[str]) -> str:
    columns = ", ".join(f"{part(k, v)} {_kind_type(k)}" for v in variables for k in _PARTS)
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (station INTEGER NOT NULL, hour REAL NOT NULL,"
        f" {columns}, PRIMARY KEY (station, hour)) WITHOUT ROWID"
    )


def add_columns(conn: sqlite3.Connection, variables: Sequence[str]) -> None:
    """Columns for variables declared since the table was made (their counts start at 0,
    which is right: no row had them)."""
    existing = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    for variable in variables:
        for kind in _PARTS:
            if f"{kind}_{variable}" not in existing:
                conn.execute(
                    f"ALTER TABLE {TABLE} ADD COLUMN {part(kind, variable)} {_kind_type(kind)}"
                )


def _aggregates(variables: Sequence[str]) -> str:
    return ", ".join(
        f"COUNT({quote(v)}), SUM({quote(v)}), SUM({quote(v)} * {quote(v)}),"
        f" MIN({quote(v)}), MAX({quote(v)})"
        for v in variables
    )


def _period(step_s: float, column: str = "observed_at") -> str:
    return f"{floor_sql(f'{column} / {step_s}')} * {step_s}"


def _columns(variables: Sequence[str]) -> str:
    return ", ".join(part(k, v) for v in variables for k in _PARTS)


def rebuild(conn: sqlite3.Connection, variables: Sequence[str]) -> None:
    """Every roll-up row from the stored observations (a store written before roll-ups)."""
    conn.execute(f"DELETE FROM {TABLE}")
    conn.execute(
        f"INSERT INTO {TABLE} (station, hour, {_columns(variables)})"
        f" SELECT station, {_period(HOUR_S)} AS h, {_aggregates(variables)} FROM observations"
        " GROUP BY station, h"
    )


def recompute(
    conn: sqlite3.Connection, variables: Sequence[str], station_keys: np.ndarray, times: np.ndarray
) -> None:
    """The roll-up rows of the hours these rows fall in, recomputed from the stored rows."""
    hours = np.floor(times / HOUR_S) * HOUR_S
    touched = sorted(set(zip(station_keys.tolist(), hours.tolist(), strict=True)))
    conn.executemany(
        f"INSERT OR REPLACE INTO {TABLE} (station, hour, {_columns(variables)})"
        f" SELECT station, ?, {_aggregates(variables)} FROM observations"
        " WHERE station = ? AND observed_at >= ? AND observed_at < ? GROUP BY station",
        ((h, key, h, h + HOUR_S) for key, h in touched),
    )


def add_batch(
    conn: sqlite3.Connection,
    variables: Sequence[str],
    station_keys: np.ndarray,
    observed_at: np.ndarray,
    values: np.ndarray,
) -> None:
    """Add a batch of new rows (none stored before) to the roll-up: one sort to group them by
    station and hour, sums and extremes per group with ``reduceat``, one upsert per group."""
    n = len(station_keys)
    if not n:
        return
    hours = np.floor(observed_at / HOUR_S) * HOUR_S
    order = np.lexsort((hours, station_keys))
    keys, hours, values = station_keys[order], hours[order], values[order]
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]) | (hours[1:] != hours[:-1])])
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    counts = np.add.reduceat(present, starts, axis=0)
    sums = np.add.reduceat(filled, starts, axis=0)
    squares = np.add.reduceat(filled * filled, starts, axis=0)
    lows = np.minimum.reduceat(np.where(present, values, np.inf), starts, axis=0)
    highs = np.maximum.reduceat(np.where(present, values, -np.inf), starts, axis=0)
    none = counts == 0
    lows[none] = np.nan  # binds as NULL: an hour without the variable has no extremes
    highs[none] = np.nan
    columns: list[list] = [keys[starts].tolist(), hours[starts].tolist()]
    for j in range(len(variables)):
        columns += [
            counts[:, j].tolist(),
            sums[:, j].tolist(),
            squares[:, j].tolist(),
            lows[:, j].tolist(),
            highs[:, j].tolist(),
        ]
    conn.executemany(upsert(variables), zip(*columns, strict=True))


_UPSERTS: dict[tuple[str, ...], str] = {}


def upsert(variables: Sequence[str]) -> str:
    """Add a group's sums to its row; extremes kept, NULL (no reading) giving way."""
    key = tuple(variables)
    if key not in _UPSERTS:
        updates = []
        for v in variables:
            n, s, q, lo, hi = (part(kind, v) for kind in _PARTS)
            updates += [
                f"{n} = {n} + excluded.{n}",
                f"{s} = coalesce({s}, 0) + coalesce(excluded.{s}, 0)",
                f"{q} = coalesce({q}, 0) + coalesce(excluded.{q}, 0)",
                f"{lo} = coalesce(min({lo}, excluded.{lo}), {lo}, excluded.{lo})",
                f"{hi} = coalesce(max({hi}, excluded.{hi}), {hi}, excluded.{hi})",
            ]
        marks = ", ".join("?" * (2 + len(_PARTS) * len(variables)))
        _UPSERTS[key] = (
            f"INSERT INTO {TABLE} (station, hour, {_columns(variables)}) VALUES ({marks})"
            f" ON CONFLICT (station, hour) DO UPDATE SET {', '.join(updates)}"
        )
    return _UPSERTS[key]


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
    """Periods of ``step_s`` (a whole number of minutes), for :func:`stats_rows`. Whole hours
    come from the roll-ups (parameters ``since, until[, station_id]``); shorter steps are
    aggregated from one station's rows along its key (``station_id, since, until``): what a
    chart of a day needs."""
    where = " AND st.station_id = ?" if one_station else ""
    if step_s % HOUR_S == 0:
        n, s, q, lo, hi = (f"r.{part(kind, variable)}" for kind in _PARTS)
        return (
            f"SELECT st.station_id, {_period(step_s, 'r.hour')} AS p, SUM({n}), SUM({s}),"
            f" SUM({q}), MIN({lo}), MAX({hi}) FROM {TABLE} AS r"
            " JOIN stations AS st ON st.id = r.station"
            f" WHERE r.hour >= ? AND r.hour < ? AND {n} > 0{where}"
            " GROUP BY r.station, p ORDER BY st.station_id, p"
        )
    if not one_station:
        raise ValueError("periods shorter than an hour are for one station at a time")
    x = f"o.{quote(variable)}"
    return (
        f"SELECT st.station_id, {_period(step_s, 'o.observed_at')} AS p, COUNT({x}), SUM({x}),"
        f" SUM({x} * {x}), MIN({x}), MAX({x}) FROM stations AS st"
        " JOIN observations AS o ON o.station = st.id WHERE st.station_id = ?"
        f" AND o.observed_at >= ? AND o.observed_at < ? AND {x} IS NOT NULL GROUP BY p ORDER BY p"
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
