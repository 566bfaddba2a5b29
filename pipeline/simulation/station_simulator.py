"""The embedded default source: a seeded simulator of weather stations, with labelled events.

Everything it produces is a function of (seed, station, time): the same seed gives the same
data, and a day generated in one call equals the same day generated in many, which lets a live
source, a replay and a benchmark share it. Fronts, wind spells and sensor faults are injected
on a schedule that :meth:`StationSimulator.events` reports exactly, as the ground truth
against which detection is measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.observation import Observation
from pipeline.settings import SimulatorSettings
from pipeline.simulation.climate import StationClimate
from pipeline.simulation.faults import Fault, FaultSchedule
from pipeline.simulation.hashing import MASK64, mix, uniform
from pipeline.simulation.weather import Effects, WeatherModel
from pipeline.simulation.weather_events import Front, Spell, WeatherSchedule
from pipeline.stations import DEFAULT_STATIONS, Station
from pipeline.variables import ENVIRONMENTAL_VARIABLES, VariableSpec

_ENVIRONMENTAL = frozenset(spec.name for spec in ENVIRONMENTAL_VARIABLES)
_CIRCULAR = frozenset({"wind_dir_deg"})
_CONSONANTS = "bdfghklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    """Something the simulator injected, to score detections against.

    ``kind`` is one of frontal_passage, windy_spell, calm_spell (``variable`` "*": the whole
    station) or spike, stuck, dropout, step, drift (one variable). ``start``/``end`` are
    observed epoch seconds, inclusive; for faults, the times of the first and last affected
    sample.
    ``magnitude``: a front's depth (hPa), the wind a windy spell adds or a calm spell holds
    (m/s), a spike's or step's size or a drift's final offset (variable's unit), a stuck or
    dropout fault's length in samples.
    """

    kind: str
    station_id: str
    variable: str
    start: float
    end: float
    magnitude: float


@dataclass(slots=True)
class SimulatedBlock:
    """Rows ordered by time then station; ``values`` is NaN where a dropout hid a reading."""

    station: np.ndarray  # int64 (n,): index into the simulator's stations
    observed_at: np.ndarray  # float64 (n,): epoch seconds, UTC
    values: np.ndarray  # float64 (n, V): columns in the order of the simulator's variables

    def to_observations(
        self,
        stations: Sequence[Station],
        variable_names: Sequence[str],
        source: str = "simulator",
    ) -> list[Observation]:
        names = list(variable_names)
        observations = []
        for index, when, row in zip(
            self.station.tolist(), self.observed_at.tolist(), self.values.tolist(), strict=True
        ):
            station = stations[index]
            values = {name: v for name, v in zip(names, row, strict=True) if not math.isnan(v)}
            observations.append(
                Observation(
                    station.station_id,
                    station.name,
                    station.latitude,
                    station.longitude,
                    when,
                    source,
                    values,
                )
            )
        return observations


class StationSimulator:
    """Weather for ``stations``, reading ``variables``, with the settings' event rates."""

    def __init__(
        self,
        stations: Sequence[Station],
        variables: Sequence[VariableSpec],
        settings: SimulatorSettings,
    ) -> None:
        self.stations = tuple(stations)
        self.variables = tuple(variables)
        self.settings = settings
        self._index = {station.station_id: i for i, station in enumerate(self.stations)}
        if len(self._index) != len(self.stations):
            raise ValueError("station ids must be unique")
        self._seed = settings.seed & MASK64
        self._climate = StationClimate.of(self.stations, self._seed)
        # Environmental sensors exist only when enabled; faults strike only what is read.
        self._read = [
            i
            for i, spec in enumerate(self.variables)
            if settings.environmental or spec.name not in _ENVIRONMENTAL
        ]
        self._weather = WeatherSchedule(
            self._seed,
            self._climate.key,
            self._climate.latitude,
            settings.fronts_per_day,
            settings.windy_spells_per_day,
        )
        self._fault_schedules: dict[float, FaultSchedule] = {}

    @staticmethod
    def stations_for(
        settings: SimulatorSettings, configured: Sequence[Station] = DEFAULT_STATIONS
    ) -> list[Station]:
        """The configured stations plus ``settings.extra_stations`` synthetic ones.

        Synthetic station ``i`` depends only on the seed and ``i``, so raising the count adds
        stations without moving the existing ones.
        """
        count = settings.extra_stations
        if count == 0:
            return list(configured)
        numbers = np.arange(1, count + 1, dtype=np.uint64)
        u = uniform(mix(settings.seed & MASK64, numbers[:, None], np.arange(9)[None, :]))
        # Uniform over the sphere's area, away from the polar caps.
        latitude = np.degrees(np.arcsin(0.9 * (2.0 * u[:, 0] - 1.0)))
        longitude = 360.0 * u[:, 1] - 180.0
        elevation = np.minimum(-300.0 * np.log(u[:, 2]), 2500.0)
        consonants = (u[:, 3:6] * len(_CONSONANTS)).astype(int)
        vowels = (u[:, 6:9] * len(_VOWELS)).astype(int)
        synthetic = [
            Station(
                f"syn-{i + 1:04d}",
                "".join(_CONSONANTS[c] + _VOWELS[v] for c, v in zip(cs, vs, strict=True)).title(),
                round(float(latitude[i]), 4),
                round(float(longitude[i]), 4),
                round(float(elevation[i]), 1),
            )
            for i, (cs, vs) in enumerate(zip(consonants, vowels, strict=True))
        ]
        return [*configured, *synthetic]

    def generate(self, start: float, steps: int, interval: float) -> SimulatedBlock:
        """``steps`` readings of every station, at ``start + i * interval``.

        Sample ``i`` is step number ``round(start / interval) + i``: the noise and faults of
        a sample are keyed by that number, so with chunks laid end to end (each starting where
        the last ended) the data does not depend on the chunking.
        """
        if interval <= 0 or steps < 0:
            raise ValueError("generate needs a positive interval and a non-negative step count")
        first_step = math.floor(start / interval + 0.5)
        times = start + np.arange(steps) * interval
        step_numbers = first_step + np.arange(steps, dtype=np.int64)
        everyone = np.arange(len(self.stations))
        grid = self._readings(times, step_numbers, everyone, interval)
        if steps:
            self._inject_faults(grid, start, first_step, interval)
        return SimulatedBlock(
            station=np.tile(everyone, steps),
            observed_at=np.repeat(times, len(self.stations)),
            values=grid.reshape(steps * len(self.stations), len(self.variables)),
        )

    def events(
        self, start: float, end: float, interval: float | None = None
    ) -> list[LabelledEvent]:
        """Every event overlapping [start, end], ordered by start.

        Faults are counted in samples, so their times depend on the sampling ``interval``
        (default ``settings.interval_s``): pass the one given to :meth:`generate`. A fault's
        times are its steps times the interval, which are its samples' times when generate()
        starts on a multiple of the interval (otherwise they are off by the same fraction of
        an interval as the start).
        """
        interval = interval or self.settings.interval_s
        everyone = range(len(self.stations))
        labels = [self._weather_label(e) for e in self._weather.between(everyone, start, end)]
        faults = self._faults(interval).between(
            everyone, math.floor(start / interval), math.ceil(end / interval)
        )
        labels.extend(
            label
            for label in (self._fault_label(f, interval) for f in faults)
            if label.end >= start and label.start <= end
        )
        return sorted(labels, key=lambda e: (e.start, e.station_id, e.kind, e.variable))

    def schedule_front(
        self, station_id: str, start: float, depth_hpa: float, fall_hours: float
    ) -> LabelledEvent:
        """Inject a frontal passage; drawn events it would overlap on that station give way."""
        if station_id not in self._index:
            raise ValueError(f"unknown station {station_id!r}")
        if depth_hpa <= 0 or fall_hours <= 0:
            raise ValueError("a front needs a positive depth and fall time")
        front = self._weather.injected_front(
            self._index[station_id], float(start), float(depth_hpa), float(fall_hours)
        )
        self._weather.inject(front)
        return self._weather_label(front)

    def _faults(self, interval: float) -> FaultSchedule:
        """The fault schedule for one sampling interval (faults are counted in samples)."""
        schedule = self._fault_schedules.get(interval)
        if schedule is None:
            schedule = self._fault_schedules[interval] = FaultSchedule(
                self._seed,
                self._climate.key,
                self.variables,
                self._read,
                self.settings.faults_per_day,
                interval,
            )
        return schedule

    def _readings(
        self,
        times: np.ndarray,
        steps: np.ndarray,
        columns: np.ndarray,
        interval: float,
        which: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Fault-free readings of stations ``columns`` at ``times``: shape (m, S, V).

        Only the variables ``which`` (default: every one read) are filled in; the rest are NaN.
        """
        values = np.full((times.shape[0], columns.shape[0], len(self.variables)), np.nan)
        if times.size == 0:
            return values
        events = self._weather.between(columns.tolist(), float(times[0]), float(times[-1]))
        where = {int(station): j for j, station in enumerate(columns)}
        effects = Effects.of(events, times, where, interval)
        model = WeatherModel(self._climate, columns, times, steps, interval, effects, self._seed)
        for v in self._read if which is None else which:
            spec = self.variables[v]
            values[:, :, v] = model.get(spec.name, spec.minimum, spec.maximum)
        return values

    def _inject_faults(
        self, grid: np.ndarray, start: float, first_step: int, interval: float
    ) -> None:
        last_step = first_step + grid.shape[0] - 1
        everyone = range(len(self.stations))
        for fault in self._faults(interval).between(everyone, first_step, last_step):
            rows = slice(
                max(fault.first, first_step) - first_step,
                min(fault.last, last_step) - first_step + 1,
            )
            cell = (rows, fault.station, fault.variable)
            if fault.kind == "dropout":
                grid[cell] = np.nan
            elif fault.kind == "stuck":
                grid[cell] = self._last_good(fault, start, first_step, interval)
            elif fault.kind == "spike":
                grid[cell] = self._spiked(grid[cell], fault)
            else:
                grid[cell] = self._shifted(grid[cell], fault, max(fault.first, first_step))

    def _last_good(self, fault: Fault, start: float, first_step: int, interval: float) -> float:
        """The reading just before a stuck fault, which the sensor then repeats.

        It is recomputed rather than looked up so that it is the same whether or not that
        sample falls in the chunk being generated.
        """
        step = fault.first - 1
        when = np.array([start + (step - first_step) * interval])
        reading = self._readings(
            when, np.array([step]), np.array([fault.station]), interval, [fault.variable]
        )
        return float(reading[0, 0, fault.variable])

    def _spiked(self, value: np.ndarray, fault: Fault) -> np.ndarray:
        spec = self.variables[fault.variable]
        if spec.name in _CIRCULAR:
            return (value + fault.sign * fault.size) % 360.0
        moved = value + fault.sign * fault.size
        inside = (moved >= spec.minimum) & (moved <= spec.maximum)
        moved = np.where(inside, moved, value - fault.sign * fault.size)
        return np.clip(moved, spec.minimum, spec.maximum)

    def _shifted(self, value: np.ndarray, fault: Fault, from_step: int) -> np.ndarray:
        """A step's fixed offset, or a drift's growing one, on the samples from ``from_step``,
        kept within the plausible range."""
        spec = self.variables[fault.variable]
        offset = np.full(value.shape, fault.sign * fault.size)
        if fault.kind == "drift":
            done = from_step - fault.first + np.arange(1, value.shape[0] + 1)
            offset *= done / (fault.last - fault.first + 1)
        return np.clip(value + offset, spec.minimum, spec.maximum)

    def _weather_label(self, event: Front | Spell) -> LabelledEvent:
        station_id = self.stations[event.station].station_id
        if isinstance(event, Front):
            return LabelledEvent(
                "frontal_passage", station_id, "*", event.start, event.end, event.depth_hpa
            )
        kind = "windy_spell" if event.windy else "calm_spell"
        return LabelledEvent(kind, station_id, "*", event.start, event.end, event.magnitude)

    def _fault_label(self, fault: Fault, interval: float) -> LabelledEvent:
        magnitude = fault.size if fault.size else float(fault.last - fault.first + 1)
        return LabelledEvent(
            fault.kind,
            self.stations[fault.station].station_id,
            self.variables[fault.variable].name,
            fault.first * interval,
            fault.last * interval,
            magnitude,
        )
