"""Turn decoded observations into a columnar frame, rejecting what cannot be analysed.

Policy: a problem with the message as a whole (no station id, or one with control characters
or over 64 characters; no or impossible timestamp, a timestamp too far in the future; no values;
a new station beyond ``limits.max_stations``) rejects the whole message. A problem with one
reading (a variable nobody configured, NaN/infinity, a value outside the variable's plausible
range) rejects that reading only: the rest of a sound observation still counts. Every rejection
goes to the quarantine with its reason and the original observation; nothing is dropped silently.

Station names and sources are text from outside: control characters in them are escaped
(:func:`pipeline.text.printable`) before anything keeps or shows them.

Almost every observation is sound, so the common path is a single ``dict.get`` per variable
into a row; only observations that fail a cheap guard take the slow path that works out exactly
what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import itemgetter

import numpy as np

from pipeline.clock import Clock
from pipeline.codec import observation_as_text
from pipeline.frame import ObservationFrame, concat
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.registry import StationRegistry
from pipeline.settings import ValidationSettings
from pipeline.stations import Station
from pipeline.text import has_control, printable
from pipeline.times import EARLIEST, implausible_time, iso_utc
from pipeline.variables import VariableSpec
from pipeline.wire_columns import WireColumns

NAN = float("nan")
MAX_STATION_ID = 64


def position_problem(lat: float | None, lon: float | None) -> str | None:
    """Why a station cannot be at ``lat``/``lon`` (unknown, None or NaN, is fine), or None."""
    if lat is not None and not math.isnan(lat) and not -90.0 <= lat <= 90.0:
        return f"latitude {lat:g} is not within -90..90"
    if lon is not None and not math.isnan(lon) and not -180.0 <= lon <= 180.0:
        return f"longitude {lon:g} is not within -180..180"
    return None


def station_id_problem(station_id: str) -> str | None:
    """Why ``station_id`` cannot name a station (empty, control characters, too long), or
    None."""
    if not station_id.strip():
        return "missing station_id"
    if has_control(station_id):
        return f"station_id '{printable(station_id, MAX_STATION_ID)}' has control characters"
    if len(station_id) > MAX_STATION_ID:
        return f"station_id is {len(station_id):,} characters long (limit {MAX_STATION_ID})"
    return None


MAX_NAME = 100
_SOURCE_MEMORY = 1_000  # distinct source names whose printable form is remembered
_NAMED_UNKNOWN = 10  # unknown variables a rejection names; the rest it counts


class Validator:
    def __init__(
        self,
        variables: Sequence[VariableSpec],
        settings: ValidationSettings,
        clock: Clock,
        *,
        max_stations: int = 20_000,
    ) -> None:
        """``clock`` is what "now" means for the future-timestamp check: the data's own time
        where it runs ahead of the wall clock (a simulation), the later of the replayed and the
        wall clock for a replay (see :class:`~pipeline.clock.LatestClock`)."""
        self.variables = tuple(variables)
        self.names = tuple(v.name for v in variables)
        self._known = frozenset(self.names)
        self._minimum = np.array([v.minimum for v in variables])
        self._maximum = np.array([v.maximum for v in variables])
        self._ceiling = self._maximum + np.array([v.overshoot for v in variables])
        self._settings = settings
        self.max_future_s = settings.max_future_s
        self._clock = clock
        self.max_stations = max_stations
        self._sources: dict[str, str] = {}

    def to_frame(
        self, observations: Sequence[Observation], registry: StationRegistry, received_at: float
    ) -> tuple[ObservationFrame, list[Rejection]]:
        names, known = self.names, self._known
        latest = self._clock.now() + self.max_future_s
        rejections: list[Rejection] = []
        rows: list[list[float]] = []
        stations: list[int] = []
        times: list[float] = []
        present: list[int] = []
        sources: list[str] = []
        kept: list[Observation] = []
        index_get = registry.get
        every = len(names)
        all_of = itemgetter(*names) if every > 1 else None  # a tuple in C, when all are there
        for obs in observations:
            values: dict[str, float] | None = obs.values
            index = index_get(obs.station_id)
            if (
                index is None
                or not (values and EARLIEST <= obs.observed_at <= latest)
                or not (values.keys() <= known)
            ):
                values = self._slow_path(obs, latest, received_at, rejections)
                if not values:
                    continue
                index = registry.get(obs.station_id)
                if index is None:
                    index = self._register(obs, registry, received_at, rejections)
                    if index is None:
                        continue
            if len(values) == every and all_of is not None:  # keys checked against known above
                rows.append(all_of(values))
            else:
                rows.append([values.get(n, NAN) for n in names])
            stations.append(index)
            times.append(obs.observed_at)
            present.append(len(values))
            sources.append(self._source(obs.source))
            kept.append(obs)
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
        finite = np.isfinite(matrix)
        suspect = np.flatnonzero(finite.sum(axis=1) != np.array(present, dtype=np.int64))
        over = (matrix > self._maximum) & (matrix <= self._ceiling)  # e.g. humidity at 100.5
        if over.any():
            np.copyto(matrix, self._maximum, where=over)
        out_of_range = (matrix < self._minimum) | (matrix > self._maximum)
        suspect = np.union1d(suspect, np.flatnonzero(out_of_range.any(axis=1)))
        for row in suspect.tolist():
            self._reject_readings(kept[row], matrix[row], received_at, rejections)
        frame = ObservationFrame(
            np.array(stations, dtype=np.int64),
            np.array(times, dtype=np.float64),
            matrix,
            np.array(sources, dtype=object),
        )
        if suspect.size:
            usable = ~np.isnan(matrix).all(axis=1)
            if not usable.all():
                frame = frame.take(np.flatnonzero(usable))
        return frame, rejections

    def columns_to_frame(
        self, columns: WireColumns, registry: StationRegistry, received_at: float
    ) -> tuple[ObservationFrame, list[Rejection]]:
        """:meth:`to_frame` for messages decoded into columns, with its checks vectorised:
        rows of stations known before the batch, with a plausible time and at least one
        reading, stay columns; the rest (a new station, a time in the future, nothing sent)
        go through one :meth:`to_frame` call as observations, with the batch's ``others`` and
        in the batch's order, which says exactly what is wrong with them."""
        if not columns.rows:
            return self.to_frame(columns.observations(), registry, received_at)
        times, values = columns.observed_at, columns.values
        found = np.array(list(map(registry.get, columns.station_id)), dtype=np.float64)
        latest = self._clock.now() + self.max_future_s
        sound = ~np.isnan(found) & (times >= EARLIEST) & (times <= latest)
        sound &= ~np.isnan(values).all(axis=1)
        rows = np.flatnonzero(sound)
        matrix = values[rows]
        over = (matrix > self._maximum) & (matrix <= self._ceiling)
        if over.any():
            np.copyto(matrix, self._maximum, where=over)
        rejections: list[Rejection] = []
        out_of_range = np.flatnonzero(
            ((matrix < self._minimum) | (matrix > self._maximum)).any(axis=1)
        )
        for row in out_of_range.tolist():
            observation = columns.observation(int(rows[row]))
            self._reject_readings(observation, matrix[row], received_at, rejections)
        frame = ObservationFrame(
            found[rows].astype(np.int64),
            times[rows],
            matrix,
            np.array([self._source(s) for s in columns.sources(rows)], dtype=object),
        )
        if out_of_range.size:
            usable = ~np.isnan(matrix).all(axis=1)
            if not usable.all():
                frame = frame.take(np.flatnonzero(usable))
        unsound = np.flatnonzero(~sound)
        if unsound.size or columns.others:
            observations = columns.in_batch_order(unsound)
            more, refused = self.to_frame(observations, registry, received_at)
            frame = concat(frame, more)
            rejections += refused
        return frame, rejections

    def _slow_path(
        self, obs: Observation, latest: float, received_at: float, rejections: list[Rejection]
    ) -> dict[str, float] | None:
        """Work out what is wrong; return the usable values, or None to reject the message."""
        reason = station_id_problem(obs.station_id)
        if reason is not None:
            pass
        elif implausible_time(obs.observed_at):
            reason = implausible_time(obs.observed_at)
        elif obs.observed_at > latest:
            ahead = obs.observed_at - (latest - self.max_future_s)
            reason = (
                f"observed_at {iso_utc(obs.observed_at, 'seconds')} is {ahead:.0f} s in the "
                f"future (limit {self.max_future_s:.0f} s)"
            )
        elif not obs.values:
            reason = "no values"
        if reason:
            rejections.append(self._rejection(obs, reason, received_at))
            return None
        usable = {name: value for name, value in obs.values.items() if name in self._known}
        if len(usable) < len(obs.values):
            rejections.append(self._unknown_variables(obs, usable, received_at))
        if not usable:
            return None
        return usable

    def _unknown_variables(
        self, obs: Observation, usable: dict[str, float], received_at: float
    ) -> Rejection:
        """One rejection for every variable nobody configured: the first few named, the rest
        counted."""
        unknown = [name for name in obs.values if name not in usable]
        named = ", ".join(repr(printable(name, MAX_NAME)) for name in unknown[:_NAMED_UNKNOWN])
        more = len(unknown) - _NAMED_UNKNOWN
        counted = f" and {more:,} more" if more > 0 else ""
        plural = len(unknown) > 1
        reason = (
            f"unknown variable{'s' if plural else ''} {named}{counted}"
            f" (declare {'them' if plural else 'it'} under [variables] in config)"
        )
        rejection = self._rejection(obs, reason, received_at, variable=unknown[0])
        rejection.readings = len(unknown)
        return rejection

    def _register(
        self,
        obs: Observation,
        registry: StationRegistry,
        received_at: float,
        rejections: list[Rejection],
    ) -> int | None:
        """A station seen for the first time, named printably; None (the message rejected)
        once the process keeps as many stations as it may: anyone who can write to the topic
        could otherwise run it out of memory with made-up station ids."""
        if len(registry) >= self.max_stations:
            reason = (
                f"station limit reached: {len(registry):,} stations kept (limits.max_stations);"
                " a new station's readings are not analysed"
            )
            rejections.append(self._rejection(obs, reason, received_at))
            return None
        problem = position_problem(obs.lat, obs.lon)
        if problem is not None:  # a station is placed once, by its first message: not there
            rejections.append(self._rejection(obs, problem, received_at))
            return None
        name = printable(obs.station_name or obs.station_id, MAX_NAME)
        return registry.add(Station(obs.station_id, name, obs.lat, obs.lon))

    def _source(self, source: str) -> str:
        printable_source = self._sources.get(source)
        if printable_source is None:
            printable_source = printable(source, MAX_NAME)
            if len(self._sources) < _SOURCE_MEMORY:
                self._sources[source] = printable_source
        return printable_source

    def _reject_readings(
        self, obs: Observation, row: np.ndarray, received_at: float, rejections: list[Rejection]
    ) -> None:
        """Blank the row's bad readings (in place) and quarantine each with its reason."""
        for column, spec in enumerate(self.variables):
            raw = obs.values.get(spec.name)
            if raw is None:
                continue
            if not math.isfinite(raw):
                reason = f"{spec.name} is not a finite number ({raw!r})"
            elif spec.plausible(raw) is None:
                reason = (
                    f"{spec.name} = {raw:g} {spec.unit} is outside the plausible range "
                    f"{spec.minimum:g}..{spec.maximum:g}"
                ).replace("  ", " ")
            else:
                continue
            row[column] = NAN
            rejections.append(self._rejection(obs, reason, received_at, variable=spec.name))

    @staticmethod
    def _rejection(
        obs: Observation, reason: str, received_at: float, variable: str | None = None
    ) -> Rejection:
        return Rejection(
            received_at=received_at,
            source=obs.source,
            reason=reason,
            payload=observation_as_text(obs),
            station_id=obs.station_id or None,
            variable=variable,
        )
