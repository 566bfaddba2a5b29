"""Observations, anomalies or alert transitions from the store, to CSV, JSON lines or Parquet.

Parquet is how the data goes on to DuckDB, pandas or Spark. The store is opened read-only (a
running console or service keeps writing meanwhile; WAL gives the export one consistent
state) and rows are read in chunks: CSV and JSON lines stream (~66 MB resident for a million
rows), Parquet is assembled in memory first (~250 MB a million rows: polars cannot append to
a Parquet file). The output is written beside its destination under a unique name and renamed
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
import tempfile
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
    except sqlite3.OperationalError as exc:
        if "no such" in str(exc):  # a table or column this version adds when it opens a store
            raise ExportError(
                f"cannot read {database}: written by an older mass-tui ({exc}); start this "
                "version on it once (mass-tui, headless or service) to bring it up to date"
            ) from None
        raise ExportError(f"cannot read {database}: {exc}") from None
    except sqlite3.Error as exc:
        raise ExportError(f"cannot read {database}: {exc}") from None
    finally:
        conn.close()


def _rows(
    conn: sqlite3.Connection, request: ExportRequest
) -> tuple[list[str], Iterator[list[tuple]], frozenset[str]]:
    table = _observations(conn) if request.what == "observations" else _TABLES[request.what]
    where: list[str] = []
    parameters: list[float | str] = []
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
    except OSError as exc:  # a full disk behind a redirection
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise ExportError(f"cannot write standard output: {exc.strerror or exc}") from None
    return count


def _write_file(
    path: Path, fmt: Format, header: list[str], chunks: Iterator[list[tuple]], times: frozenset
) -> int:
    """A regular file (or a new one) is written beside itself under a unique name, then
    renamed over, keeping the old file's permissions; anything else the path names (a device
    such as /dev/null, a FIFO, a symlink) is written through, never replaced."""
    if not path.name or path.is_dir():
        raise ExportError(f"cannot write {path}: it is a directory; give a file name")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        try:
            with path.open("wb") as out:
                return _write(fmt, header, chunks, times, out)
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            count = _write(fmt, header, chunks, times, out)
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        os.chmod(partial, mode)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


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


TEXT_COLUMNS = frozenset(
    {
        "station_id",
        "source",
        "qc_suspect",
        "variable",
        "detector",
        "severity",
        "rule",
        "transition",
        "state",
        "by_user",
    }
)
INTEGER_COLUMNS = frozenset({"alert_id"})


def _polars_type(pl: Any, name: str, times: frozenset) -> Any:
    """The Parquet type of a column, from what the store declares it to be."""
    if name in times:
        return pl.Datetime("us", "UTC")
    if name in TEXT_COLUMNS:
        return pl.String
    return pl.Int64 if name in INTEGER_COLUMNS else pl.Float64


def _parquet(header: list[str], chunks: Iterator[list[tuple]], times: frozenset, out: IO) -> int:
    try:
        import polars as pl
    except ImportError:
        raise ExportError(
            "Parquet needs polars: pip install 'mass-tui[parquet]' (or export --format csv)"
        ) from None
    # One schema whatever the rows hold (a column of nulls, an empty export), so that daily
    # files read together in DuckDB or Spark.
    schema = {name: _polars_type(pl, name, times) for name in header}
    frames = [
        pl.DataFrame(
            rows,
            schema={n: pl.Float64 if n in times else t for n, t in schema.items()},
            orient="row",
            strict=False,
        )
        for rows in chunks
    ] or [pl.DataFrame(schema={n: pl.Float64 if n in times else t for n, t in schema.items()})]
    frame = pl.concat(frames).with_columns(
        (pl.col(name) * 1e6).round().cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
        for name in header
        if name in times
    )
    frame.write_parquet(out)
    return frame.height
