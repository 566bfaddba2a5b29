"""Observations, anomalies or alert transitions from the store, to CSV, JSON lines or Parquet.

Parquet is how the data goes on to DuckDB, pandas or Spark. The store is opened read-only (a
running console or service keeps writing meanwhile; WAL gives the export one consistent
state), rows are read in chunks, and the output is written beside its destination and renamed
into place at the end, so a failed export leaves no half file under the name asked for.

Times are ISO 8601 UTC in CSV and JSON lines, timestamps (UTC, microseconds) in Parquet. Text
that came from outside (station ids, sources, users) is data: in CSV a cell that a spreadsheet
would run as a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return first) is
prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from pipeline.times import iso_utc

What = Literal["observations", "anomalies", "alerts"]
Format = Literal["csv", "jsonl", "parquet"]
WHATS: tuple[What, ...] = ("observations", "anomalies", "alerts")
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")
CHUNK_ROWS = 10_000
_FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")


class ExportError(Exception):
    """The export cannot be done (no store, an unwritable destination, Parquet not installed);
    the message says why in one line."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    what: What
    format: Format
    since: float | None = None
    until: float | None = None
    stations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Table:
    """How one kind of record is read: its query (station id as ``station_id``) and which of
    its columns are instants."""

    select: str
    time_column: str
    times: frozenset[str]


_TABLES: dict[What, _Table] = {
    "anomalies": _Table(
        "SELECT station_id, variable, value, detector, score, threshold, observed_at, statistic,"
        " quantity, severity, event_start FROM anomalies",
        "observed_at",
        frozenset({"observed_at", "event_start"}),
    ),
    "alerts": _Table(
        "SELECT alert_id, station_id, rule, variable, transition, severity, state, at, value,"
        " quantity, threshold, by_user, silenced_until FROM alert_events",
        "at",
        frozenset({"at", "silenced_until"}),
    ),
}


def _observations(conn: sqlite3.Connection) -> _Table:
    """Every column the file has (a variable added later reads NULL in older rows)."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(observations)")]
    readings = [c for c in columns if c not in ("station", "observed_at")]
    quoted = ", ".join('o."' + c.replace('"', '""') + '"' for c in readings)
    return _Table(
        f"SELECT s.station_id, o.observed_at, {quoted} FROM observations AS o"
        " JOIN stations AS s ON s.id = o.station",
        "o.observed_at",
        frozenset({"observed_at"}),
    )


def export(database: Path, request: ExportRequest, output: str) -> int:
    """Write the records ``request`` asks for to ``output`` (a path, or ``-`` for standard
    output in CSV or JSON lines); return how many. Raises :class:`ExportError`."""
    if request.format == "parquet" and output == "-":
        raise ExportError("Parquet is written to a file: give --output PATH")
    if not database.exists():
        raise ExportError(f"no store at {database} (nothing has been stored there yet)")
    try:
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ExportError(f"cannot open {database}: {exc}") from None
    try:
        with conn:
            conn.execute("BEGIN")  # one consistent state, however long the export takes
            header, chunks, times = _rows(conn, request)
            if output == "-":
                return _write_stdout(request.format, header, chunks, times)
            return _write_file(Path(output), request.format, header, chunks, times)
    except sqlite3.Error as exc:
        raise ExportError(f"cannot read {database}: {exc}") from None
    finally:
        conn.close()


def _rows(
    conn: sqlite3.Connection, request: ExportRequest
) -> tuple[list[str], Iterator[list[tuple]], frozenset[str]]:
    table = _observations(conn) if request.what == "observations" else _TABLES[request.what]
    where, parameters = [], []
    if request.since is not None:
        where.append(f"{table.time_column} >= ?")
        parameters.append(request.since)
    if request.until is not None:
        where.append(f"{table.time_column} <= ?")
        parameters.append(request.until)
    if request.stations:
        station = "s.station_id" if request.what == "observations" else "station_id"
        where.append(f"{station} IN ({', '.join('?' * len(request.stations))})")
        parameters.extend(request.stations)
    query = table.select + (" WHERE " + " AND ".join(where) if where else "")
    query += f" ORDER BY {table.time_column}"
    cursor = conn.execute(query, parameters)
    header = [d[0] for d in cursor.description]

    def chunks() -> Iterator[list[tuple]]:
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield rows

    return header, chunks(), table.times


def _write_stdout(
    fmt: Format, header: list[str], chunks: Iterator[list[tuple]], times: frozenset
) -> int:
    try:
        count = _write(fmt, header, chunks, times, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # a reader such as head(1) stopped reading
        # Python would fail again flushing standard output at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise ExportError("standard output was closed before the export ended") from None
    return count


def _write_file(
    path: Path, fmt: Format, header: list[str], chunks: Iterator[list[tuple]], times: frozenset
) -> int:
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as out:
            count = _write(fmt, header, chunks, times, out)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def _write(
    fmt: Format, header: list[str], chunks: Iterator[list[tuple]], times: frozenset, out: IO
) -> int:
    if fmt == "parquet":
        return _parquet(header, chunks, times, out)
    at = [i for i, name in enumerate(header) if name in times]
    count = 0
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(header)
        for rows in chunks:
            writer.writerows(_csv_row(row, at) for row in rows)
            count += len(rows)
        text.detach()
        return count
    encode = msgspec.json.Encoder().encode
    for rows in chunks:
        for row in rows:
            record = dict(zip(header, _with_times(row, at), strict=True))
            out.write(encode(record) + b"\n")
        count += len(rows)
    return count


def _with_times(row: tuple, at: Sequence[int]) -> list[Any]:
    values = list(row)
    for i in at:
        values[i] = iso_utc(values[i])
    return values


def _csv_row(row: tuple, at: Sequence[int]) -> list[Any]:
    values = _with_times(row, at)
    for i, value in enumerate(values):
        if isinstance(value, str) and value.startswith(_FORMULA_FIRST) and i not in at:
            values[i] = "'" + value
    return values


def _parquet(header: list[str], chunks: Iterator[list[tuple]], times: frozenset, out: IO) -> int:
    try:
        import polars as pl
    except ImportError:
        raise ExportError(
            "Parquet needs polars: pip install 'mass-tui[parquet]' (or export --format csv)"
        ) from None
    frames = [
        pl.DataFrame(rows, schema=header, orient="row", infer_schema_length=None) for rows in chunks
    ]
    if not frames:
        frames = [pl.DataFrame(schema=dict.fromkeys(header, pl.Float64))]
    frame = pl.concat(frames, how="diagonal_relaxed").with_columns(
        (pl.col(name).cast(pl.Float64) * 1e6).round().cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
        for name in header
        if name in times
    )
    frame.write_parquet(out)
    return frame.height
