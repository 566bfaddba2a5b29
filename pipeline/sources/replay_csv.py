"""Station CSV files as they come: a column mapping, their units, their missing-value markers,
their local times.

Real exports are not tidy. An hourly ASOS file (IEM) gives °F, knots, inHg and writes ``M``
where a sensor reported nothing; a TMY3 file puts a station line above the header, splits date
and time into two columns and ends the day at ``24:00`` local standard time; a logger writes
``-9999`` or ``---``. Each row becomes an observation of the readings it has: a missing cell is
a missing reading, a cell that is neither a number nor a missing marker rejects only that
reading, and only a row without a readable time (or station) is a bad line. Values are turned
into canonical units here, once, with :mod:`pipeline.units`.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import MassError
from pipeline.observation import Observation
from pipeline.settings import CsvSettings
from pipeline.stations import Station
from pipeline.text import printable
from pipeline.units import InputUnit

log = logging.getLogger(__name__)


class CsvHeaderError(MassError, ValueError):
    """A mapped column is not in the file's header."""


# ISO 8601 and TMY3 allow 24:00, the end of a day; datetime does not. Only 24:00 or 24:00:00
# exactly: 24:00:01 or 24:00:00.5 is no time of any day.
_END_OF_DAY = re.compile(r"(?<![0-9])24:00(:00)?(?![0-9:.,])")  # also after the T of ISO

Reject = Callable[..., None]
"""``reject(line_number, text, reason, *, variable=None, station_id=None)``"""


def time_zone(name: str) -> tzinfo:
    """An IANA time zone (``America/New_York``; ``Etc/GMT+5`` for a fixed UTC-5, the sign
    inverted as POSIX has it). Raises ValueError for an unknown name."""
    if name in ("UTC", "Z", ""):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "America"
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as America/New_York)"
        ) from None


@dataclass(frozen=True, slots=True)
class TimeParser:
    """Timestamps as a file writes them. Without ``format``: epoch seconds or ISO 8601; with
    it, :func:`datetime.strptime`'s format. A time without an offset is local time in
    ``zone``."""

    format: str | None = None
    zone: tzinfo = UTC

    def parse(self, text: str, after: float | None = None) -> float:
        """Seconds since the epoch. ``after`` is the previous time of the same series: a local
        time the autumn change makes happen twice that is not after it is the second
        occurrence (the hour repeated in standard time), so an hourly file does not go back.
        Raises ValueError, also for a time no datetime holds (9999-12-31 24:00)."""
        try:
            return self._parse(text.strip(), after)
        except OverflowError as exc:
            raise ValueError(f"{text!r} is out of range: {exc}") from None

    def _parse(self, text: str, after: float | None) -> float:
        if self.format is None:
            try:
                seconds = float(text)
            except ValueError:
                pass
            else:
                if not math.isfinite(seconds):
                    raise ValueError(f"{text!r} is not a time")
                return seconds
        try:
            moment = self._moment(text)
        except ValueError:
            end_of_day, found = _END_OF_DAY.subn(r"00:00\1", text, count=1)
            if not found:
                raise
            moment = self._moment(end_of_day) + timedelta(days=1)
        if moment.tzinfo is not None:
            return moment.timestamp()
        local = moment.replace(tzinfo=self.zone)
        first = local.timestamp()
        if after is not None and first <= after:
            return max(first, local.replace(fold=1).timestamp())
        return first

    def _moment(self, text: str) -> datetime:
        if self.format is None:
            return datetime.fromisoformat(text)
        return datetime.strptime(text, self.format)


@dataclass(frozen=True, slots=True)
class MissingMarkers:
    """The cells that mean "no reading"."""

    texts: frozenset[str]
    numbers: frozenset[float]

    @classmethod
    def of(cls, markers: Iterable[str]) -> MissingMarkers:
        texts, numbers = set(), set()
        for marker in markers:
            texts.add(marker.strip().casefold())
            with contextlib.suppress(ValueError):
                numbers.add(float(marker))
        return cls(frozenset(texts), frozenset(n for n in numbers if math.isfinite(n)))

    def number(self, cell: str) -> float | None:
        """The cell's number, None for a missing marker. Raises ValueError for anything else
        (text, or a number that is not finite)."""
        text = cell.strip()
        if text.casefold() in self.texts:
            return None
        value = float(text)
        if value in self.numbers:
            return None
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number")
        return value


DEFAULT_MARKERS = MissingMarkers.of(CsvSettings().missing)


@dataclass(frozen=True, slots=True)
class CsvColumns:
    """Which CSV column holds what, and how its cells read. Without a station column every row
    is ``station_id``. ``date``: the date column when date and time are two columns (the time
    is read from ``"<date> <time>"``). ``units``: the unit each variable's column is in, when
    not the canonical one. ``header_line``: the line number of the header (2 for TMY3);
    ``data_line``: of the first row, when lines of units sit between them (5 for a Campbell
    TOA5 table; 0: right after the header)."""

    time: str = "timestamp"
    date: str | None = None
    station: str | None = None
    station_id: str = "csv"
    station_name: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    variables: dict[str, str] = field(default_factory=dict)  # variable name -> column
    units: Mapping[str, InputUnit] = field(default_factory=dict)  # variable name -> its unit
    times: TimeParser = TimeParser()
    missing: MissingMarkers = DEFAULT_MARKERS
    header_line: int = 1
    data_line: int = 0


# A quoted cell may hold line breaks, but one stray quote must not swallow the rest of a file.
MAX_RECORD_LINES = 50


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    text: str


class CsvRecords:
    """A CSV file's records, each read on its own, so that no line can end the reading: a line
    that is not UTF-8, a record the csv module refuses (a cell over its 131,072-character
    limit, a line break in an unquoted cell) or a quote that does not close within
    :data:`MAX_RECORD_LINES` lines is reported to ``reject`` with its line number and left out,
    and reading goes on with the next line. Lines end at LF, CRLF or a lone CR (old Mac
    files), as in Python's universal newlines; a UTF-8 byte-order mark is dropped. A problem on
    a line up to ``header_line`` raises CsvHeaderError: without a header nothing can be read.
    ``number`` and ``text`` are those of the last record read."""

    def __init__(self, handle: BinaryIO, reject: Callable[..., None], header_line: int) -> None:
        self._handle = handle
        self._reject = reject
        self._header_line = header_line
        self.number = 0
        self.text = ""

    def _lines(self) -> Iterator[_Line]:
        number = 0
        for raw in self._handle:
            for piece in raw.rstrip(b"\r\n").split(b"\r"):
                number += 1
                try:
                    text = piece.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    shown = piece.decode("utf-8", "replace")
                    self._problem(number, shown, f"not UTF-8 ({exc.reason} at byte {exc.start})")
                    continue
                yield _Line(number, text)

    def _problem(self, number: int, text: str, reason: str) -> None:
        if number <= self._header_line:
            raise CsvHeaderError(f"line {number}: {reason}")
        self._reject(number, text, reason)

    def __iter__(self) -> Iterator[list[str]]:
        lines = self._lines()
        pushed_back: list[_Line] = []  # lines to read again, next one last

        def take() -> _Line | None:
            return pushed_back.pop() if pushed_back else next(lines, None)

        while (first := take()) is not None:
            record = [first]
            open_quote = _ends_in_quoted_cell(first.text, inside=False)
            while open_quote and len(record) < MAX_RECORD_LINES and (line := take()):
                record.append(line)
                open_quote = _ends_in_quoted_cell(line.text, inside=True)
            if open_quote:
                reason = f"a quote opened here does not close within {MAX_RECORD_LINES} lines"
                self._problem(first.number, first.text, reason)
                pushed_back.extend(reversed(record[1:]))
                continue
            text = "\n".join(line.text for line in record)
            try:
                cells = next(csv.reader([text]), [])
            except csv.Error as exc:
                self._problem(first.number, first.text, f"unreadable CSV: {exc}")
                pushed_back.extend(reversed(record[1:]))  # read again, from the next line
                continue
            self.number, self.text = first.number, text
            yield cells


def _ends_in_quoted_cell(text: str, *, inside: bool) -> bool:
    """Whether a line ends inside a quoted cell (the record goes on on the next line), given
    whether it starts inside one. As the csv module reads: a quote opens a quoted cell only at
    the start of a cell (``O"Hare`` or ``Rain (")`` is an ordinary character), and ``""`` in a
    quoted cell is a quote."""
    if '"' not in text:
        return inside
    at_start, i, n = not inside, 0, len(text)
    while i < n:
        char = text[i]
        if inside:
            if char == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    inside = False
        elif char == '"' and at_start:
            inside = True
        at_start = not inside and char == ","
        i += 1
    return inside


def read_header(records: CsvRecords, rows: Iterator[list[str]], header_line: int) -> list[str]:
    """The column names on line ``header_line`` (the lines above it skipped), stripped;
    ``rows`` is the iterator over ``records`` that reading goes on with."""
    for row in rows:
        if records.number >= header_line:
            return [name.strip() for name in row]
    return []


def header_of(path: Path, header_line: int) -> list[str]:
    """The header of the file at ``path``. Raises OSError, or CsvHeaderError when it cannot be
    read."""
    with path.open("rb") as handle:
        records = CsvRecords(handle, lambda *_: None, header_line)
        return read_header(records, iter(records), header_line)


def column_indices(name: str, header: Sequence[str], columns: CsvColumns) -> dict[str, int]:
    """Each mapped column's position in ``header``. Raises CsvHeaderError naming the first
    missing column and listing the header."""
    wanted = {"time_column": columns.time}
    for key, column in (
        ("date_column", columns.date),
        ("station_column", columns.station),
        ("station_name_column", columns.station_name),
        ("latitude_column", columns.latitude),
        ("longitude_column", columns.longitude),
    ):
        if column:
            wanted[key] = column
    wanted.update({f"variables.{v}": column for v, column in columns.variables.items()})
    position: dict[str, int] = {}
    for i, column in enumerate(header):
        position.setdefault(column, i)
    for key, column in wanted.items():
        if header.count(column) > 1:
            raise CsvHeaderError(
                f"{printable(name)}: column {column!r} (csv.{key}) is in the header"
                f" {header.count(column)} times: rename one, or map another column"
            )
        if column not in position:
            shown = printable(", ".join(header), 2_000) if header else "nothing"
            raise CsvHeaderError(
                f"{printable(name)} has no column {column!r} (csv.{key}); "
                f"its header (line {columns.header_line}): {shown}"
            )
    return {column: position[column] for column in wanted.values()}


class StationLookup:
    """A row's station text as a station: one of the configured ``stations`` when it is its
    id or name (ignoring case), so their coordinates are used; else a station of that id."""

    def __init__(self, stations: Sequence[Station]) -> None:
        self._known: dict[str, Station] = {}
        for station in stations:
            self._known.setdefault(station.station_id.casefold(), station)
            self._known.setdefault(station.name.casefold(), station)
        self._seen: dict[str, Station] = {}

    def __call__(self, text: str, name: str) -> Station:
        station = self._seen.get(text)
        if station is None:
            station = self._known.get(text.casefold()) or Station(
                text, name or text, math.nan, math.nan
            )
            self._seen[text] = station
        return station


def _cell(cells: Sequence[str], index: int | None) -> str:
    return cells[index].strip() if index is not None and index < len(cells) else ""


class CsvReader:
    """The observations of one CSV file, row by row. Problems go to ``reject`` with the line
    number: a whole line (no readable time, station or coordinates), or one reading
    (``variable`` set)."""

    def __init__(
        self,
        path: Path,
        columns: CsvColumns,
        stations: Sequence[Station],
        *,
        source: str,
        reject: Reject,
    ) -> None:
        self._path = path
        self._columns = columns
        self._stations = stations
        self._source = source
        self._reject = reject

    def check_header(self) -> None:
        """Raises CsvHeaderError when a mapped column is not in the file, OSError when the file
        cannot be read."""
        header = header_of(self._path, self._columns.header_line)
        column_indices(self._path.name, header, self._columns)

    def observations(self, handle: BinaryIO) -> Iterator[Observation]:
        lines = CsvRecords(handle, self._reject, self._columns.header_line)
        rows = iter(lines)
        header = read_header(lines, rows, self._columns.header_line)
        row = _RowReader(
            self._columns,
            column_indices(self._path.name, header, self._columns),
            StationLookup(self._stations),
            self._source,
        )
        for cells in rows:
            number, text = lines.number, lines.text
            if number < self._columns.data_line or not any(c.strip() for c in cells):
                continue
            try:
                observation, bad_readings = row.read(cells)
            except ValueError as exc:
                self._reject(number, text, str(exc))
                continue
            except Exception as exc:  # no row may end the replay: it is one bad line
                log.exception("line %d of %s could not be read", number, self._path.name)
                self._reject(number, text, f"cannot read the row: {type(exc).__name__}: {exc}")
                continue
            for variable, reason in bad_readings:
                self._reject(
                    number, text, reason, variable=variable, station_id=observation.station_id
                )
            yield observation


class _RowReader:
    """One row's cells as an observation, remembering each station's last time (for the
    repeated autumn hour of local times)."""

    def __init__(
        self, columns: CsvColumns, at: Mapping[str, int], lookup: StationLookup, source: str
    ) -> None:
        def index(column: str | None) -> int | None:
            return at[column] if column else None

        self._columns = columns
        self._time, self._date = index(columns.time), index(columns.date)
        self._station, self._name = index(columns.station), index(columns.station_name)
        self._lat, self._lon = index(columns.latitude), index(columns.longitude)
        self._values = [
            (variable, column, at[column], columns.units.get(variable))
            for variable, column in columns.variables.items()
        ]
        self._lookup = lookup
        self._source = source
        self._last: dict[str, float] = {}

    def read(self, cells: Sequence[str]) -> tuple[Observation, list[tuple[str, str]]]:
        """The observation and the readings it could not take (variable, reason). Raises
        ValueError when the row has no station, time or coordinates to place it."""
        columns = self._columns
        station_text = (
            _cell(cells, self._station) if self._station is not None else (columns.station_id)
        )
        if not station_text:
            raise ValueError(f"no station in column {columns.station!r}")
        station = self._lookup(station_text, _cell(cells, self._name))
        when = _cell(cells, self._time)
        if self._date is not None:
            when = f"{_cell(cells, self._date)} {when}"
        try:
            observed_at = columns.times.parse(when, self._last.get(station.station_id))
        except ValueError as exc:
            raise ValueError(f"cannot read time {when!r}: {exc}") from None
        self._last[station.station_id] = observed_at
        values: dict[str, float] = {}
        bad: list[tuple[str, str]] = []
        for variable, column, index, unit in self._values:
            raw = _cell(cells, index)
            try:
                value = columns.missing.number(raw)
            except ValueError:
                bad.append((variable, f"column {column!r}: not a number: {raw!r:.40}"))
                continue
            if value is not None:
                values[variable] = unit.to_canonical(value) if unit else value
        observation = Observation(
            station_id=station.station_id,
            station_name=station.name,
            lat=self._coordinate(cells, self._lat, station.latitude),
            lon=self._coordinate(cells, self._lon, station.longitude),
            observed_at=observed_at,
            source=self._source,
            values=values,
        )
        return observation, bad

    def _coordinate(self, cells: Sequence[str], index: int | None, default: float) -> float:
        raw = _cell(cells, index)
        try:
            value = self._columns.missing.number(raw)
        except ValueError:
            raise ValueError(f"cannot read coordinate {raw!r:.40}") from None
        return default if value is None else value
