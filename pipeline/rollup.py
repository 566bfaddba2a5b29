"""Minute roll-ups of the observations: count, sum, sum of squares, min and max of every
variable per station and UTC minute, kept in the store beside the rows they summarise.

A chart of a day, the hourly and daily statistics of the API and the console read 1,440
minute rows per station-day instead of 86,400 observations. The roll-up is written in the
same transaction as the observations: added up in numpy from the batch when every row was new
(the common case), recomputed from the stored rows for the minutes a batch touched when some
rows were already stored (a replayed message must not count twice).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MINUTE_S = 60.0
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


def _columns(variables: Sequence[str]) -> str:
    return ", ".join(part(k, v) for v in variables for k in _PARTS)


def recompute(conn: sqlite3.Connection, variables: Sequence[str], minutes: set[tuple[int, float]]):
    """The roll-up rows of ``(station key, minute start)`` recomputed from the stored rows."""
    query = (
        f"INSERT OR REPLACE INTO {TABLE} (station, minute, {_columns(variables)})"
        f" SELECT station, ?, {_aggregates(variables)} FROM observations"
        " WHERE station = ? AND observed_at >= ? AND observed_at < ? GROUP BY station"
    )
    conn.executemany(query, ((m, key, m, m + MINUTE_S) for key, m in sorted(minutes)))


def rebuild(conn: sqlite3.Connection, variables: Sequence[str]) -> None:
    """Every roll-up row from the stored observations (a store written before roll-ups)."""
    conn.execute(f"DELETE FROM {TABLE}")
    conn.execute(
        f"INSERT INTO {TABLE} (station, minute, {_columns(variables)})"
        f" SELECT station, {floor_sql(f'observed_at / {MINUTE_S}')} * {MINUTE_S} AS m,"
        f" {_aggregates(variables)} FROM observations GROUP BY station, m"
    )


def add_batch(
    conn: sqlite3.Connection,
    variables: Sequence[str],
    station_keys: np.ndarray,
    observed_at: np.ndarray,
    values: np.ndarray,
) -> None:
    """Add a batch of new rows (none stored before) to the roll-up: grouped by station and
    minute in numpy, one upsert per group."""
    if not len(station_keys):
        return
    minutes = np.floor(observed_at / MINUTE_S) * MINUTE_S
    groups, group = np.unique(
        np.stack([station_keys.astype(np.float64), minutes], axis=1), axis=0, return_inverse=True
    )
    group = group.ravel()
    k = len(groups)
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    columns: list[list] = [groups[:, 0].astype(np.int64).tolist(), groups[:, 1].tolist()]
    for j in range(len(variables)):
        n = np.bincount(group, weights=present[:, j], minlength=k)
        s = np.bincount(group, weights=filled[:, j], minlength=k)
        q = np.bincount(group, weights=filled[:, j] ** 2, minlength=k)
        lo = np.full(k, np.inf)
        hi = np.full(k, -np.inf)
        np.minimum.at(lo, group, np.where(present[:, j], values[:, j], np.inf))
        np.maximum.at(hi, group, np.where(present[:, j], values[:, j], -np.inf))
        none = n == 0
        # NaN binds as NULL: a minute without the variable has no min or max
        lo[none], hi[none] = np.nan, np.nan
        columns += [n.astype(np.int64).tolist(), s.tolist(), q.tolist(), lo.tolist(), hi.tolist()]
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
    conn.executemany(
        f"INSERT INTO {TABLE} (station, minute, {_columns(variables)}) VALUES ({marks})"
        f" ON CONFLICT (station, minute) DO UPDATE SET {', '.join(updates)}",
        zip(*columns, strict=True),
    )


def touched(station_keys: np.ndarray, observed_at: np.ndarray) -> set[tuple[int, float]]:
    minutes = np.floor(observed_at / MINUTE_S) * MINUTE_S
    return set(zip(station_keys.tolist(), minutes.tolist(), strict=True))


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
        variance = max(squares / count - mean * mean, 0.0)
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
