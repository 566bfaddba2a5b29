"""The SQLite store: observations, anomalies and quarantined messages, kept for a retention period.

One file, WAL mode: the writer thread appends a batch per transaction while a reader on its own
connection (the console, via :meth:`Store.reader`) queries the last committed state without
blocking it. ``synchronous=NORMAL`` is the setting SQLite recommends with WAL: a power cut may
lose the last batches, never corrupt the file, and a commit costs no fsync.

Observations are one row per station and time with a REAL column per variable, keyed by
``(station, observed_at)`` in a ``WITHOUT ROWID`` table: the key is the storage order, so a
replayed message is ignored by the key and a station's history is one contiguous range. There is
deliberately no index on ``observed_at`` alone: it would double the cost of each insert, and
every time query here goes through a station's key range instead.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, Self

import numpy as np

from pipeline import rollup
from pipeline.anomaly import Anomaly
from pipeline.errors import MassError
from pipeline.exclusive import ExclusiveLock, LockHeld
from pipeline.quarantine import Rejection
from pipeline.series import min_max_thin
from pipeline.stations import Station

SCHEMA_VERSION = 5  # 2: a station's position may be unknown (NULL); 3: anomalies' event_start;
# 4: observations' QC flags; 5: hourly roll-ups (see pipeline.rollup)

_KEY_COLUMNS = ("station", "observed_at", "source")
QC_COLUMN = "qc_suspect"
"""The variables of a row that quality control held back, comma-separated; NULL for none
(or for a late reading, which detection never saw)."""

_ANOMALY_COLUMNS = (
    "station_id",
    "variable",
    "value",
    "detector",
    "score",
    "threshold",
    "observed_at",
    "statistic",
    "quantity",
    "severity",
    "event_start",
)
# Columns an Anomaly requires as floats: NaN (a gap has no value) is stored as NULL by SQLite,
# so it is turned back into NaN on reading.
_ANOMALY_FLOATS = frozenset({"value", "score", "threshold", "observed_at", "statistic"})
_REJECTION_COLUMNS = ("received_at", "source", "reason", "payload", "station_id", "variable")

_STATIONS_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    latitude REAL,
    longitude REAL,
    elevation_m REAL
)"""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _STATIONS_TABLE.format(name="stations"),
    """CREATE TABLE IF NOT EXISTS observations (
        station INTEGER NOT NULL REFERENCES stations (id),
        observed_at REAL NOT NULL,
        source TEXT NOT NULL,
        qc_suspect TEXT,
        PRIMARY KEY (observed_at, station)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS anomalies (
        id INTEGER PRIMARY KEY,
        station_id TEXT NOT NULL,
        variable TEXT NOT NULL,
        value REAL,
        detector TEXT NOT NULL,
        score REAL,
        threshold REAL,
        observed_at REAL NOT NULL,
        statistic REAL,
        quantity REAL,
        severity TEXT,
        event_start REAL
    )""",
    "CREATE INDEX IF NOT EXISTS anomalies_observed_at ON anomalies (observed_at)",
    """CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY,
        received_at REAL NOT NULL,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        station_id TEXT,
        variable TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS quarantine_received_at ON quarantine (received_at)",
    f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}')",
)

# Observations are keyed time first, so a batch's rows go in at the end of the table whatever
# the number of stations; reads, all of one station over a span, take this index. Keyed
# (station, time), each row of a batch went into its own station's part of the table: measured
# on 1,000,000 rows in batches of 10,000, 2.8 / 5.4 / 12.2 us a row at 100 / 1,000 / 10,000
# stations, against 3.0 / 3.9 / 4.4 with the time-first key and this index. A file written
# before keeps its (station, time) key and gets no index: the same rows, the same answers.
_OBSERVATIONS_BY_STATION = (
    "CREATE INDEX IF NOT EXISTS observations_by_station ON observations (station, observed_at)"
)

# Version 1 required a position: the wire format never did, so one station without it failed
# every later batch. SQLite cannot drop a NOT NULL, so the table is copied (ids kept).
_MIGRATE_STATIONS_V2 = (
    _STATIONS_TABLE.format(name="stations_v2"),
    "INSERT INTO stations_v2 SELECT id, station_id, name, latitude, longitude, elevation_m"
    " FROM stations",
    "DROP TABLE stations",
    "ALTER TABLE stations_v2 RENAME TO stations",
)


class StoreError(MassError):
    """The database cannot be opened, read or written (unwritable place, corrupt file, full disk).

    Raised with the path in the message; the App and the CLI catch it and report it in one line.
    """

    kind = "storage error"


class StoreInUse(StoreError):
    """Another process runs a pipeline on this store (its message names the process)."""


@dataclass(slots=True)
class StoredObservations:
    """Observations read back, in the columnar form of :class:`~pipeline.frame.ObservationFrame`.

    ``station[i]`` indexes ``station_ids``; ``values`` has a column per variable of the store,
    NaN where nothing was recorded; rows are in ``observed_at`` order.
    """

    station_ids: list[str]
    stations: dict[str, Station]
    station: np.ndarray  # int64, (n,)
    observed_at: np.ndarray  # float64, (n,)
    values: np.ndarray  # float64, (n, n_variables)


def _key_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The primary key's columns of ``table``, in key order."""
    keyed = [(row[5], row[1]) for row in conn.execute(f"PRAGMA table_info({table})") if row[5]]
    return [name for _, name in sorted(keyed)]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _station(station_id: str, name: str, *position: float | None) -> Station:
    """A station as stored: an unknown position or elevation (NULL) is NaN."""
    latitude, longitude, elevation = (math.nan if p is None else p for p in position)
    return Station(station_id, name, latitude, longitude, elevation)


def _stored_anomaly(row: Sequence[Any]) -> Anomaly:
    """A row of the anomalies table (in ``_ANOMALY_COLUMNS`` order, of SQLite's own types)."""
    fields: dict[str, Any] = {
        name: math.nan if value is None and name in _ANOMALY_FLOATS else value
        for name, value in zip(_ANOMALY_COLUMNS, row, strict=True)
    }
    return Anomaly(**fields)


class StoreReader:
    """The read queries, on one connection.

    A reader from :meth:`Store.reader` has a read-only connection of its own, so a UI thread can
    query while the writer thread commits: WAL gives each read the last committed state without
    locking the writer out. The connection is not tied to the thread that opened it, and a lock
    makes one reader safe to share between threads.
    """

    def __init__(self, path: Path, variables: Sequence[str], connection: sqlite3.Connection):
        self.path = path
        self.variables = tuple(variables)
        self._conn = connection
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @contextmanager
    def _reading(self, what: str) -> Iterator[sqlite3.Connection]:
        """One read transaction: every statement inside sees the same committed state."""
        with self._lock, self._errors(f"read {what}"):
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot {doing}: {error}") from error

    def _column(self, variable: str) -> str:
        if variable not in self.variables:
            raise ValueError(f"unknown variable {variable!r}; the store has {self.variables}")
        return _quote(variable)

    def recent_observations(
        self,
        since: float,
        *,
        station_ids: Sequence[str] | None = None,
        limit_per_station: int | None = None,
    ) -> StoredObservations:
        """Observations at or after ``since`` (the newest ``limit_per_station`` of each station).

        ``station_ids`` lists every known station (or every one asked for), even those without
        rows in the range, so a restart also restores the station list. Queried station by
        station so that each query is a range of the primary key.
        """
        columns = ", ".join(map(_quote, self.variables))
        query = (
            f"SELECT observed_at, {columns} FROM observations"
            " WHERE station = ? AND observed_at >= ? ORDER BY observed_at DESC LIMIT ?"
        )
        limit = -1 if limit_per_station is None else limit_per_station
        wanted = None if station_ids is None else set(station_ids)
        stations: dict[str, Station] = {}
        chunks: list[list[tuple]] = []
        with self._reading("observations") as conn:
            for key, *fields in conn.execute(
                "SELECT id, station_id, name, latitude, longitude, elevation_m"
                " FROM stations ORDER BY id"
            ):
                station = _station(*fields)
                if wanted is None or station.station_id in wanted:
                    stations[station.station_id] = station
                    chunks.append(conn.execute(query, (key, since, limit)).fetchall())
        counts = [len(rows) for rows in chunks]
        rows = [row for chunk in chunks for row in chunk]
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 1 + len(self.variables))
        station_index = np.repeat(np.arange(len(chunks), dtype=np.int64), counts)
        order = np.argsort(table[:, 0], kind="stable")
        return StoredObservations(
            station_ids=list(stations),
            stations=stations,
            station=station_index[order],
            observed_at=table[order, 0],
            values=table[order, 1:],
        )

    def series(
        self,
        station_id: str,
        variable: str,
        since: float,
        until: float | None = None,
        max_points: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Times and values of one variable at one station (missing readings left out).

        With ``max_points``, a longer series is thinned by :func:`min_max_thin`.
        """
        column = self._column(variable)
        query = (
            f"SELECT o.observed_at, o.{column} FROM observations AS o"
            " JOIN stations AS s ON s.id = o.station"
            f" WHERE s.station_id = ? AND o.observed_at >= ? AND o.observed_at <= ?"
            f" AND o.{column} IS NOT NULL ORDER BY o.observed_at"
        )
        end = math.inf if until is None else until
        with self._lock, self._errors(f"read the {variable} series of {station_id}"):
            rows = self._conn.execute(query, (station_id, since, end)).fetchall()
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 2)
        times, values = table[:, 0], table[:, 1]
        if max_points is not None:
            keep = min_max_thin(times, values, max_points)
            times, values = times[keep], values[keep]
        return np.ascontiguousarray(times), np.ascontiguousarray(values)

    def anomalies(
        self,
        *,
        since: float | None = None,
        limit: int = 500,
        station_id: str | None = None,
        variable: str | None = None,
        detector: str | None = None,
        min_score: float = 0.0,
    ) -> list[Anomaly]:
        """Stored anomalies matching every filter given, newest first."""
        conditions = []
        params: list[object] = []
        for condition, value in (
            ("observed_at >= ?", since),
            ("station_id = ?", station_id),
            ("variable = ?", variable),
            ("detector = ?", detector),
            ("score >= ?", min_score or None),
        ):
            if value is not None:
                conditions.append(condition)
                params.append(value)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        query = (
            f"SELECT {', '.join(_ANOMALY_COLUMNS)} FROM anomalies{where}"
            " ORDER BY observed_at DESC, id DESC LIMIT ?"
        )
        with self._lock, self._errors("read anomalies"):
            rows = self._conn.execute(query, (*params, limit)).fetchall()
        return [_stored_anomaly(row) for row in rows]

    def minute_envelope(
        self, station_id: str, variable: str, since: float, until: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each minute's lowest and highest reading of one variable at one station, as two
        points a minute (low at :20, high at :40): a day is 2,880 points however often the
        station reports, and a spike still shows. Aggregated by SQLite along the station's
        key (see :mod:`pipeline.rollup` for why not from a minute table)."""
        periods = self.stats(variable, rollup.MINUTE_S, since, until, station_id)
        starts = np.array([p.start for p in periods], dtype=np.float64)
        times = np.column_stack([starts + 20.0, starts + 40.0]).ravel()
        values = np.array([(p.minimum, p.maximum) for p in periods], dtype=np.float64).ravel()
        return times, values

    def stats(
        self,
        variable: str,
        step_s: float,
        since: float,
        until: float = math.inf,
        station_id: str | None = None,
    ) -> list[rollup.PeriodStats]:
        """Count, min, mean, max and standard deviation of ``variable`` per station and period
        of ``step_s`` (a whole number of minutes), by station then time: whole hours and days
        from the hourly roll-ups, shorter periods (one station) from its rows. Whole periods:
        from the one ``since`` falls in to the last one starting before ``until``."""
        if step_s < rollup.MINUTE_S or step_s % rollup.MINUTE_S:
            raise ValueError(f"a period must be a whole number of minutes, not {step_s:g} s")
        self._column(variable)
        query = rollup.select(variable, step_s, one_station=station_id is not None)
        start = rollup.period_start(since, step_s)
        end = -rollup.period_start(-min(until, 1e15), step_s)  # up to the end of its period
        if step_s % rollup.HOUR_S:  # from the rows, along the station's key
            params: tuple = (station_id, start, end)
        else:
            params = (start, end) if station_id is None else (start, end, station_id)
        with self._lock, self._errors(f"read the {variable} statistics"):
            rows = self._conn.execute(query, params).fetchall()
        return rollup.stats_rows(variable, rows)

    def suspect_readings(
        self, station_id: str, since: float, until: float = math.inf
    ) -> list[tuple[float, tuple[str, ...]]]:
        """(observed_at, variables held back) of every reading of ``station_id`` in the span
        that quality control flagged, oldest first."""
        query = (
            f"SELECT o.observed_at, o.{QC_COLUMN} FROM observations AS o"
            " JOIN stations AS s ON s.id = o.station WHERE s.station_id = ?"
            f" AND o.observed_at >= ? AND o.observed_at <= ? AND o.{QC_COLUMN} IS NOT NULL"
            " ORDER BY o.observed_at"
        )
        with self._lock, self._errors(f"read the QC flags of {station_id}"):
            rows = self._conn.execute(query, (station_id, since, until)).fetchall()
        return [(when, tuple(flags.split(","))) for when, flags in rows]

    def quarantine(self, *, limit: int = 500) -> list[Rejection]:
        """Quarantined messages and readings, newest first."""
        query = (
            f"SELECT {', '.join(_REJECTION_COLUMNS)} FROM quarantine"
            " ORDER BY received_at DESC, id DESC LIMIT ?"
        )
        with self._lock, self._errors("read the quarantine"):
            rows = self._conn.execute(query, (limit,)).fetchall()
        return [Rejection(**dict(zip(_REJECTION_COLUMNS, row, strict=True))) for row in rows]

    def latest_observed_at(self) -> float | None:
        """The time of the newest observation: a key lookup per station, not a table scan."""
        query = (
            "SELECT MAX((SELECT MAX(observed_at) FROM observations WHERE station = s.id))"
            " FROM stations AS s"
        )
        with self._lock, self._errors("read the latest observation time"):
            return self._conn.execute(query).fetchone()[0]


class Store(StoreReader):
    """The pipeline's database, written from one thread (the consumer's).

    Other threads read through :meth:`reader`; the Store's own connection, like its station
    cache and open transactions, belongs to the writer thread. It may be created in another
    thread (so that a bad path fails at start-up) and then handed over.
    """

    def __init__(self, path: Path, variables: Sequence[str], *, retention_s: float) -> None:
        path = Path(path)
        reserved = {*_KEY_COLUMNS, QC_COLUMN}
        if reserved.intersection(variables) or len(set(variables)) != len(variables):
            raise ValueError(
                f"variable names must be unique and not {sorted(reserved)}: {variables}"
            )
        try:
            # One pipeline per store: a second would notify people twice and number its
            # alerts over the first's (the console may attach to the first instead).
            self._owner = ExclusiveLock(path.with_name(path.name + ".lock"), "the store in")
        except LockHeld as held:
            raise StoreInUse(
                f"{held}; stop it first, or give this one its own --data-dir"
            ) from None
        except OSError as error:
            raise StoreError(f"{path}: cannot open the store: {error}") from error
        try:
            if not path.exists():  # the readings are the user's: theirs alone, like the log
                path.touch(mode=0o600)
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            self._owner.release()
            raise StoreError(f"{path}: cannot open the store: {error}") from error
        super().__init__(path, variables, connection)
        self.retention_s = retention_s
        self._station_keys: dict[str, tuple[Station, int]] = {}
        columns = ", ".join(map(_quote, (*_KEY_COLUMNS, QC_COLUMN, *self.variables)))
        marks = ", ".join("?" * (len(_KEY_COLUMNS) + 1 + len(self.variables)))
        self._insert_observations = (
            f"INSERT OR IGNORE INTO observations ({columns}) VALUES ({marks})"
        )
        try:
            self._create_schema()
            self._identity = _identity(path)
        except (StoreError, OSError) as error:
            connection.close()
            self._owner.release()
            if isinstance(error, StoreError):
                raise
            raise StoreError(f"{path}: cannot open the store: {error}") from error

    def missing(self) -> str | None:
        """Why the file this store writes is no longer the one at its path (deleted, replaced),
        or None. SQLite goes on writing to a deleted file without an error, so nothing else
        would notice that what it stores is gone."""
        try:
            identity = _identity(self.path)
        except FileNotFoundError:
            return f"{self.path} was deleted while running: nothing more is stored by this process"
        except OSError as error:
            return f"{self.path} cannot be checked: {error.strerror}"
        if identity != self._identity:
            return f"{self.path} was replaced while running: nothing more is stored by this process"
        return None

    def integrity(self) -> str | None:
        """What ``PRAGMA quick_check`` finds wrong with the file, or None if it is sound (or
        cannot even be asked: that is the write error already reported)."""
        try:
            with self._lock:
                rows = self._conn.execute("PRAGMA quick_check(5)").fetchall()
        except sqlite3.Error as error:
            return f"{self.path}: integrity check failed: {error}"
        problems = [row[0] for row in rows if row[0] != "ok"]
        return f"{self.path} is damaged: {'; '.join(problems)}" if problems else None

    def _create_schema(self) -> None:
        with self._errors("open the store"):
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            # KiB. Measured at 1,000,000 rows: 16 MiB writes as fast as 64 MiB at 100 to 10,000
            # stations (the OS caches the file as well), and costs 48 MB less resident memory.
            self._conn.execute("PRAGMA cache_size = -16384")
            # Each batch dirties a leaf page per station, and a checkpoint copies every page the
            # WAL holds once and syncs: checkpointing every 16,000 pages (64 MiB) instead of
            # SQLite's 1,000 copies a page rewritten by many batches once, not many times
            # (measured: +10 % writes/s at 100 stations, +40 % at 1,000). close() truncates it.
            self._conn.execute("PRAGMA wal_autocheckpoint = 16000")
        with self._transaction("create the schema"):
            for statement in _SCHEMA:
                self._conn.execute(statement)
            (version,) = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if int(version) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {version} was written by a newer mass-tui"
                    f" (this one knows up to {SCHEMA_VERSION})"
                )
            if int(version) < 2:
                for statement in _MIGRATE_STATIONS_V2:
                    self._conn.execute(statement)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(anomalies)")}
            if "event_start" not in columns:  # written before version 3
                self._conn.execute("ALTER TABLE anomalies ADD COLUMN event_start REAL")
            if int(version) < SCHEMA_VERSION:
                self._conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
                )
            existing = {row[1] for row in self._conn.execute("PRAGMA table_info(observations)")}
            if QC_COLUMN not in existing:  # written before version 4
                self._conn.execute(f"ALTER TABLE observations ADD COLUMN {QC_COLUMN} TEXT")
            for variable in self.variables:
                if variable not in existing:
                    self._conn.execute(
                        f"ALTER TABLE observations ADD COLUMN {_quote(variable)} REAL"
                    )
            if _key_columns(self._conn, "observations")[0] == "observed_at":
                self._conn.execute(_OBSERVATIONS_BY_STATION)
            had_rollups = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = ?", (rollup.TABLE,)
            ).fetchone()
            self._conn.execute("DROP TABLE IF EXISTS rollup_minute")  # a development schema
            self._conn.execute(rollup.create_table(self.variables))
            rollup.add_columns(self._conn, self.variables)
            if not had_rollups:  # written before version 5
                rollup.rebuild(self._conn, self.variables)
            self._conn.execute("DROP TABLE IF EXISTS totals")  # row counts nobody read

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        """A write transaction, rolled back if anything inside fails."""
        with self._errors(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLite rolls back by itself on a full disk
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def reader(self) -> StoreReader:
        """A read-only reader on a connection of its own, for another thread; close it when done."""
        with self._errors("open a reader"):
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        return StoreReader(self.path, self.variables, connection)

    def station_key(self, station: Station) -> int:
        """The integer key observations of ``station`` are stored under (its metadata updated)."""
        cached = self._station_keys.get(station.station_id)
        if cached is not None and cached[0] == station:
            return cached[1]
        with self._transaction(f"record station {station.station_id}") as conn:
            conn.execute(
                "INSERT INTO stations (station_id, name, latitude, longitude, elevation_m)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET"
                " name = excluded.name, latitude = excluded.latitude,"
                " longitude = excluded.longitude, elevation_m = excluded.elevation_m",
                (
                    station.station_id,
                    station.name,
                    station.latitude,
                    station.longitude,
                    station.elevation_m,
                ),
            )
            (key,) = conn.execute(
                "SELECT id FROM stations WHERE station_id = ?", (station.station_id,)
            ).fetchone()
        self._station_keys[station.station_id] = (station, key)
        return key

    def forget_stations(self, station_ids: list[str]) -> None:
        """Drop the cached keys of stations no longer kept in memory (their rows stay)."""
        for station_id in station_ids:
            self._station_keys.pop(station_id, None)

    def write(
        self,
        *,
        station_keys: np.ndarray,
        observed_at: np.ndarray,
        values: np.ndarray,
        source: str | Sequence[str] | np.ndarray,
        anomalies: Sequence[Anomaly] = (),
        rejections: Sequence[Rejection] = (),
        suspect: np.ndarray | None = None,
    ) -> int:
        """Store a batch in one transaction; return how many observation rows were new.
        ``source``: one for the batch, or each row's (a frame's (n,) object array).
        ``suspect`` (n, V): the readings quality control held back (see :data:`QC_COLUMN`).

        An observation already stored under the same station and time (a message replayed after
        a restart) is ignored. NaN needs no translation: SQLite binds a NaN double as NULL.
        """
        n = len(station_keys)
        if values.shape != (n, len(self.variables)):
            raise ValueError(
                f"values has shape {values.shape}, expected ({n}, {len(self.variables)})"
            )
        sources = repeat(source, n) if isinstance(source, str) else source
        rows = zip(
            station_keys.tolist(),
            observed_at.tolist(),
            sources,
            self._qc_flags(suspect, n),
            *values.T.tolist(),
            strict=True,
        )
        with self._transaction("write a batch") as conn:
            inserted = conn.executemany(self._insert_observations, rows).rowcount
            if inserted == n:
                rollup.add_batch(conn, self.variables, station_keys, observed_at, values)
            elif inserted:  # some were stored before: count each reading once
                rollup.recompute(conn, self.variables, station_keys, observed_at)
            conn.executemany(
                f"INSERT INTO anomalies ({', '.join(_ANOMALY_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(_ANOMALY_COLUMNS))})",
                map(attrgetter(*_ANOMALY_COLUMNS), anomalies),
            )
            conn.executemany(
                f"INSERT INTO quarantine ({', '.join(_REJECTION_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(_REJECTION_COLUMNS))})",
                map(attrgetter(*_REJECTION_COLUMNS), rejections),
            )
        return inserted

    def _qc_flags(self, suspect: np.ndarray | None, n: int) -> list[str | None]:
        """Each row's flags as text, worked out once per distinct combination of flags."""
        flags: list[str | None] = [None] * n
        if suspect is None:
            return flags
        flagged = np.flatnonzero(suspect.any(axis=1))
        if not flagged.size:
            return flags
        combinations, which = np.unique(suspect[flagged], axis=0, return_inverse=True)
        texts = [
            ",".join(self.variables[c] for c in np.flatnonzero(combination))
            for combination in combinations
        ]
        for row, combination in zip(flagged.tolist(), which.ravel().tolist(), strict=True):
            flags[row] = texts[combination]
        return flags

    def prune(self, now: float, *, received_before: float | None = None) -> int:
        """Delete everything older than the retention period; return how many rows went.
        Readings and anomalies age by observed time (``now``); quarantined messages by the
        wall time they were received at (``received_before``, default ``now``), since a
        message that could not be read has no observed time to age by."""
        cutoff = now - self.retention_s
        received_cutoff = (now if received_before is None else received_before) - self.retention_s
        with self._transaction("prune old rows") as conn:
            keys = conn.execute("SELECT id FROM stations").fetchall()
            observations = conn.executemany(
                "DELETE FROM observations WHERE station = ? AND observed_at < ?",
                ((key, cutoff) for (key,) in keys),
            ).rowcount
            first_hour = rollup.period_start(cutoff, rollup.HOUR_S)
            conn.executemany(
                f"DELETE FROM {rollup.TABLE} WHERE station = ? AND hour < ?",
                ((key, first_hour) for (key,) in keys),
            )
            anomalies = conn.execute(
                "DELETE FROM anomalies WHERE observed_at < ?", (cutoff,)
            ).rowcount
            quarantine = conn.execute(
                "DELETE FROM quarantine WHERE received_at < ?", (received_cutoff,)
            ).rowcount
        return observations + anomalies + quarantine

    def close(self) -> None:
        """Fold the WAL back into the database file (so it is one self-contained file) and close."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                with self._errors("close the store"):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()
                self._owner.release()


def _identity(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino
