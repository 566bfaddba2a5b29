"""Checks a reading cannot pass on its own: against its station's height, and against the
other readings of its message (the WMO internal-consistency checks; Zahumenský 2004).

* **Station pressure from elevation.** Sea-level pressure stays within
  :data:`~pipeline.variables.SEA_LEVEL_RANGE_HPA`; at a station ``h`` metres up, the station
  pressure is that times ``exp(-h / H)``, with the scale height ``H`` between that of a very
  cold column (220 K) and a very hot one (330 K). Outside that range a reading is
  **implausible** (a 592 hPa reading at a station 7 m up), even as a series' first reading,
  where no step test can tell. Where the elevation is unknown, only the variable's own range
  applies.
* **Station against sea-level pressure.** Both come from one barometer, so their ratio is the
  same ``exp(-h / H)`` (widened by 1 %): otherwise the pair is **inconsistent**.
* **Ordered pairs** (``[detectors.qc] ordered``): a gust is never below the mean wind, the dew
  point never above the air temperature (beyond a tolerance). A pair out of order is
  **inconsistent**.

Which reading of an inconsistent pair is wrong cannot be told from the pair, so both are held
back and both are reported (the operator sees the two readings side by side); a reading that
is impossible on its own is held and reported alone. Held readings reach no detector or rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.anomaly import Anomaly, sensor_fault
from pipeline.detectors.holds import runs
from pipeline.rows import with_rows
from pipeline.settings import QcSettings
from pipeline.variables import (
    SEA_LEVEL_PRESSURE,
    SEA_LEVEL_RANGE_HPA,
    STATION_PRESSURE,
    VariableSpec,
)

CONSISTENCY_DETECTORS = ("implausible", "inconsistent")
"""The sensor faults these checks report, as an anomaly's ``detector``."""

_G_OVER_R = 9.80665 / 287.05  # K/m: gravity over the gas constant of dry air
COLD_COLUMN_K, HOT_COLUMN_K = 220.0, 330.0
_RATIO_SLACK = 0.01  # the humidity and lapse rate the column temperatures leave out


def column_ratio_range(elevation_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) ratio of station to sea-level pressure at each elevation, from the
    hydrostatic equation for an isothermal column at the cold and hot extremes."""
    h = np.asarray(elevation_m, dtype=np.float64)
    cold, hot = np.exp(-h * _G_OVER_R / COLD_COLUMN_K), np.exp(-h * _G_OVER_R / HOT_COLUMN_K)
    return np.minimum(cold, hot), np.maximum(cold, hot)


def station_pressure_range(elevation_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) plausible station pressure in hPa at each elevation (NaN: unknown)."""
    low, high = column_ratio_range(elevation_m)
    return SEA_LEVEL_RANGE_HPA[0] * low, SEA_LEVEL_RANGE_HPA[1] * high


def partners(variable: str, settings: QcSettings) -> set[str]:
    """The variables an ``inconsistent`` reading of ``variable`` may be the fault of: those it
    is checked against (either reading of a pair may be the wrong one)."""
    pairs = [(p.lower, p.upper) for p in settings.ordered]
    pairs.append((STATION_PRESSURE, SEA_LEVEL_PRESSURE))
    return {b for a, b in pairs if a == variable} | {a for a, b in pairs if b == variable}


@dataclass(slots=True)
class Inconsistencies:
    """What the checks found in a batch (arrays in the order of the readings given).

    ``held`` (n, V): readings to withhold. ``events``: (row, column, detector, value,
    statistic, threshold) per reading reported; ``statistic`` is how far the reading (or the
    pair) is from what is possible, ``threshold`` how far it may be."""

    held: np.ndarray
    events: list[tuple[int, int, str, float, float, float]]

    def anomalies(
        self,
        stations: np.ndarray,
        times: np.ndarray,
        station_ids: Sequence[str],
        names: Sequence[str],
    ) -> list[Anomaly]:
        """The readings reported, as sensor-fault anomalies (``stations``, ``times``: of the
        readings checked)."""
        return [
            sensor_fault(
                station_ids[int(stations[row])], names[column], value, detector, times[row], s, a
            )
            for row, column, detector, value, s, a in self.events
        ]


class _Found:
    """The readings reported so far in a batch; the mask is made at the first of them."""

    def __init__(self, readings: np.ndarray) -> None:
        self.readings = readings
        self.held: np.ndarray | None = None
        self.reports: list[tuple[np.ndarray, int, str, np.ndarray, np.ndarray]] = []

    def report(
        self, rows: np.ndarray, column: int, detector: str, stat: np.ndarray, allowed: np.ndarray
    ) -> None:
        if self.held is None:
            self.held = np.zeros(self.readings.shape, dtype=bool)
        self.held[rows, column] = True
        self.reports.append((rows, column, detector, stat, allowed))

    def events(self, told: np.ndarray) -> list[tuple[int, int, str, float, float, float]]:
        """The reports of the readings ``told`` (n, V) marks."""
        events = []
        for rows, column, detector, stat, allowed in self.reports:
            keep = told[rows, column]
            kept = rows[keep]
            values = self.readings[kept, column].tolist()
            for row, value, s, a in zip(
                kept.tolist(), values, stat[keep].tolist(), allowed[keep].tolist(), strict=True
            ):
                events.append((row, column, detector, value, s, a))
        return events


DETECTOR_CODES = {name: code for code, name in enumerate(CONSISTENCY_DETECTORS, start=1)}


class ConsistencyCheck:
    """The checks, with per series the run of flagged readings it is in: a run is reported
    once, at its first reading (as a spike or a step is), and is a condition while it lasts
    (:meth:`holding`: the maintenance alert of its kind stays open)."""

    def __init__(self, variables: Sequence[VariableSpec], settings: QcSettings) -> None:
        names = [v.name for v in variables]
        self.enabled = settings.enabled
        self.pairs = [
            (names.index(p.lower), names.index(p.upper), p.tolerance)
            for p in settings.ordered
            if p.lower in names and p.upper in names
        ]
        self.station = names.index(STATION_PRESSURE) if STATION_PRESSURE in names else None
        self.sea_level = names.index(SEA_LEVEL_PRESSURE) if SEA_LEVEL_PRESSURE in names else None
        self.since = np.empty((0, len(names)))  # when each series' current run began; NaN: none
        self.kind = np.zeros((0, len(names)), dtype=np.int8)  # its DETECTOR_CODES

    @property
    def active(self) -> bool:
        return self.enabled and (bool(self.pairs) or self.station is not None)

    def grow(self, extra: int) -> None:
        self.since = with_rows(self.since, extra, np.nan)
        self.kind = with_rows(self.kind, extra, 0)

    def keep_stations(self, kept: np.ndarray) -> None:
        kept = kept[kept < self.since.shape[0]]
        self.since, self.kind = self.since[kept], self.kind[kept]

    def holding(self, n_stations: int) -> list[tuple[int, int, str]]:
        """(station, column, detector) of every run open now."""
        station, column = np.nonzero(~np.isnan(self.since[:n_stations]))
        kinds = self.kind[station, column].tolist()
        return [
            (s, c, CONSISTENCY_DETECTORS[k - 1])
            for s, c, k in zip(station.tolist(), column.tolist(), kinds, strict=True)
        ]

    def check(
        self,
        stations: np.ndarray,
        times: np.ndarray,
        readings: np.ndarray,
        elevations: Sequence[float],
    ) -> Inconsistencies | None:
        """Check a batch ((station, time) order; ``elevations`` per station index, NaN where
        unknown); None when every reading is consistent and no run ends (the common case
        costs no copies)."""
        found = _Found(readings)
        with np.errstate(invalid="ignore"):
            for lower, upper, tolerance in self.pairs:
                excess = readings[:, lower] - readings[:, upper]
                rows = np.flatnonzero(excess > tolerance)
                if rows.shape[0]:
                    stat, allowed = excess[rows], np.full(rows.shape[0], tolerance)
                    found.report(rows, lower, "inconsistent", stat, allowed)
                    found.report(rows, upper, "inconsistent", stat, allowed)
            if self.station is not None and len(elevations):
                heights = np.asarray(elevations, dtype=np.float64)
                self._check_pressure(stations, readings, heights, self.station, found)
        open_runs = ~np.isnan(self.since).all(axis=0)  # per column
        if found.held is None and not open_runs.any():
            return None
        held = found.held if found.held is not None else np.zeros(readings.shape, dtype=bool)
        told = np.zeros(readings.shape, dtype=bool)
        for column in np.flatnonzero(held.any(axis=0) | open_runs):
            present = ~np.isnan(readings[:, column])
            run = runs(stations, times, held[:, column], present, self.since[:, column])
            told[run.rows[run.start], column] = True
        events = found.events(told)
        for row, event_column, detector, *_ in events:
            self.kind[stations[row], event_column] = DETECTOR_CODES[detector]
        if found.held is None:
            return None
        return Inconsistencies(found.held, events)

    def _check_pressure(
        self,
        stations: np.ndarray,
        readings: np.ndarray,
        elevations: np.ndarray,
        station: int,
        found: _Found,
    ) -> None:
        """``station``: the station pressure's column (``self.station``, which is set)."""
        known = stations < elevations.shape[0]
        h = np.full(stations.shape[0], np.nan)
        h[known] = elevations[stations[known]]
        placed = np.flatnonzero(~np.isnan(h))
        if not placed.shape[0]:
            return
        h = h[placed]
        p = readings[placed, station]
        low, high = station_pressure_range(h)
        # Distances from the middle of the plausible range, against its half width.
        stat, allowed = np.abs(p - 0.5 * (low + high)), 0.5 * (high - low)
        outside = stat > allowed
        rows = np.flatnonzero(outside)
        if rows.shape[0]:
            found.report(placed[rows], station, "implausible", stat[rows], allowed[rows])
        if self.sea_level is None:
            return
        # The sea-level pressures coherent with each station reading, in the same terms.
        low_ratio, high_ratio = column_ratio_range(h)
        least = p / (high_ratio * (1 + _RATIO_SLACK))
        most = p / (low_ratio * (1 - _RATIO_SLACK))
        msl = readings[placed, self.sea_level]
        stat, allowed = np.abs(msl - 0.5 * (least + most)), 0.5 * (most - least)
        rows = np.flatnonzero(~outside & (stat > allowed))
        if rows.shape[0]:
            for column in (station, self.sea_level):
                found.report(placed[rows], column, "inconsistent", stat[rows], allowed[rows])
