"""Observations, anomalies or alert transitions from the store, to CSV, JSON lines or Parquet.

Parquet is how the data goes on to DuckDB, pandas or Spark. The store is opened read-only (a
running console or service keeps writing meanwhile; WAL gives the export one consistent
state) and rows are read in chunks that every format streams: polars sinks the chunks to
Parquet from an IO source, one row group at a time. Peak resident set of ``mass-tui export``
(``bench/export_memory.py``, the standard 8 variables): CSV and JSON lines 64 MB for one
million rows as for three; Parquet 138 MB for one million rows as for three (about 75 MB of it
polars itself), where assembling the whole frame first took 274 MB for a million. The output is
written beside its destination under a unique name and renamed into place at the end, so a
failed export leaves no half file under the name asked for.

Times are ISO 8601 UTC in CSV and JSON lines, timestamps (UTC, microseconds) in Parquet. Text
that came from outside (station ids, sources, users) is data: in CSV a text cell that a
spreadsheet would run as a formula is prefixed with ``'`` (OWASP's CSV injection advice: ``=``,
``+``, ``-``, ``@`` first, also after leading white space and in their full-width forms, or a
tab or a carriage return first), numbers never; written to a terminal, its control characters
are escaped (``pipeline.text``) while a file or a pipe gets the exact data.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from pipeline.errors import MassError
from pipeline.text import escaped_json, printable
from pipeline.times import iso_utc

What = Literal["observations", "anomalies", "alerts"]
Format = Literal["csv", "jsonl", "parquet"]
WHATS: tuple[What, ...] = ("observations", "anomalies", "alerts")
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")
CHUNK_ROWS = 10_000
# What a spreadsheet runs as a formula: =, +, - or @ first, after any white space (Excel and
# LibreOffice skip it) and in full-width form (which they read as the ASCII sign), or a tab or
# carriage return first.
_FORMULA = re.compile(r"[\t\r]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20]")


class ExportError(MassError):
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
class ExportResult:
    count: int
    """How many records were written."""
    unknown_stations: tuple[str, ...] = ()
    """The stations asked for that the store has never seen (a typo, another store's)."""


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


def export(database: Path, request: ExportRequest, output: str) -> ExportResult:
    """Write the records ``request`` asks for to ``output`` (a path, or ``-`` for standard
    output in CSV or JSON lines). Raises :class:`ExportError`."""
    if request.format == "parquet" and output == "-":
        raise ExportError("Parquet is written to a file: give --output PATH")
    if not database.exists():
        raise ExportError(f"no store at {database} (nothing has been stored there yet)")
    try:
        conn = _open(database)
    except sqlite3.Error as exc:
        raise ExportError(f"cannot open {database}: {exc}") from None
    try:
        with conn:
            conn.execute("BEGIN")  # one consistent state, however long the export takes
            unknown = _unknown_stations(conn, request.stations)
            header, chunks, times = _rows(conn, request)
            if output == "-":
                count = _write_stdout(request.format, header, chunks, times)
            else:
                count = _write_file(Path(output), request.format, header, chunks, times)
            return ExportResult(count, unknown)
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


def _open(database: Path) -> sqlite3.Connection:
    """The store, read-only (any thread: polars reads the chunks for Parquet in its own).

    A WAL database is read through its index (``-shm``), which the first connection creates
    beside it. In a directory this process cannot write (a read-only mount, a copy of another
    user's data directory) SQLite cannot create it, and the file is then read ``immutable``
    (no index, no locks) where that loses nothing: no ``-shm`` (no connection has the store
    open, so no writer is live; one would need write access to the directory to start) and no
    ``-wal`` holding commits the file itself does not have yet (a copy of a live store).
    """
    uri = database.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # opens the WAL index
        return conn
    except sqlite3.Error:
        conn.close()
        index, log = (database.with_name(database.name + end) for end in ("-shm", "-wal"))
        if os.access(database.parent, os.W_OK) or index.exists():
            raise
        if log.exists() and log.stat().st_size > 0:
            raise ExportError(
                f"cannot read {database}: its directory is read-only and {log.name} holds "
                f"commits not yet in the file; copy the directory (with {log.name}) somewhere "
                "writable and export from the copy"
            ) from None
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)


def _unknown_stations(conn: sqlite3.Connection, stations: tuple[str, ...]) -> tuple[str, ...]:
    """Those of ``stations`` the store has no record of (every station it ever stored a
    reading of has a row in ``stations``)."""
    if not stations:
        return ()
    marks = ", ".join("?" * len(stations))
    query = f"SELECT station_id FROM stations WHERE station_id IN ({marks})"
    known = {row[0] for row in conn.execute(query, stations)}
    return tuple(s for s in dict.fromkeys(stations) if s not in known)


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
        count = _write(fmt, header, chunks, times, sys.stdout.buffer, sys.stdout.isatty())
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
    fmt: Format,
    header: list[str],
    chunks: Iterator[list[tuple]],
    times: frozenset,
    out: IO,
    terminal: bool = False,
) -> int:
    """``terminal``: ``out`` is one, and text from outside is shown with its control
    characters escaped (in JSON lines as ``\\u`` escapes: the same data to a JSON reader)."""
    if fmt == "parquet":
        return _parquet(header, chunks, times, out)
    at = [i for i, name in enumerate(header) if name in times]
    count = 0
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow([printable(name) for name in header] if terminal else header)
        for rows in chunks:
            writer.writerows(_csv_row(row, at, terminal) for row in rows)
            count += len(rows)
        text.detach()
        return count
    encode = msgspec.json.Encoder().encode
    for rows in chunks:
        for row in rows:
            line = encode(dict(zip(header, _with_times(row, at), strict=True)))
            if terminal:
                line = escaped_json(line.decode()).encode()
            out.write(line + b"\n")
        count += len(rows)
    return count


def _with_times(row: tuple, at: Sequence[int]) -> list[Any]:
    values = list(row)
    for i in at:
        values[i] = iso_utc(values[i])
    return values


def _csv_row(row: tuple, at: Sequence[int], terminal: bool) -> list[Any]:
    """Text cells only: a reading is a float, and -3.5 stays a number."""
    values = _with_times(row, at)
    for i, value in enumerate(values):
        if isinstance(value, str) and i not in at:
            if _FORMULA.match(value):
                value = "'" + value
            values[i] = printable(value) if terminal else value
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
        from polars.io.plugins import register_io_source
    except ImportError:
        raise ExportError(
            "Parquet needs polars: pip install 'mass-tui[parquet]' (or export --format csv)"
        ) from None
    # One schema whatever the rows hold (a column of nulls, an empty export), so that daily
    # files read together in DuckDB or Spark.
    schema = {name: _polars_type(pl, name, times) for name in header}
    stored = {name: pl.Float64 if name in times else kind for name, kind in schema.items()}
    count = 0

    def frames(*_pushed_down: Any) -> Iterator[Any]:
        """Each chunk as a frame. The frame is sunk whole: no projection, filter or limit is
        pushed down to it."""
        nonlocal count
        for rows in chunks:
            count += len(rows)
            yield pl.DataFrame(rows, schema=stored, orient="row", strict=False).with_columns(
                (pl.col(name) * 1e6).round().cast(pl.Int64).cast(pl.Datetime("us", "UTC"))
                for name in header
                if name in times
            )

    register_io_source(frames, schema=schema).sink_parquet(out)
    return count
