"""A series quality control held back for long starts again, as after a silence that long.

A held reading is no gap: the sensor reported, so its series is not silent (the bank moves its
last-reading time on). But its detectors learnt nothing while it was held, and a baseline
hours old would take the first sound reading after an inconsistent spell for an anomaly. So
the first sound reading after a hold longer than ``max_gap_s`` restarts its series' detectors,
as the first reading after a silence that long does.
"""

from __future__ import annotations

import numpy as np


class LongHolds:
    def __init__(self, n_vars: int, max_gap_s: float) -> None:
        self.max_gap_s = max_gap_s
        self.since = np.empty((0, n_vars))  # when each series' current hold began; NaN: none

    def grow(self, extra: int) -> None:
        self.since = np.concatenate([self.since, np.full((extra, self.since.shape[1]), np.nan)])

    def keep_stations(self, kept: np.ndarray) -> None:
        self.since = self.since[kept[kept < self.since.shape[0]]]

    def reset_station(self, station: int) -> None:
        self.since[station] = np.nan

    def restarts(
        self,
        stations: np.ndarray,
        times: np.ndarray,
        present: np.ndarray,
        held: np.ndarray | None,
        starts: np.ndarray,
    ) -> np.ndarray | None:
        """(n, V) in (station, time) order: the sound readings that end a hold longer than
        ``max_gap_s`` (None when none do). ``present``: readings the sensor reported;
        ``held``: those held back; ``starts``: each station's first row."""
        holding = ~np.isnan(self.since[stations[starts]])  # (stations in batch, V)
        if held is None and not holding.any():
            return None
        restart = np.zeros(present.shape, dtype=bool)
        ends = np.append(starts[1:], stations.shape[0])
        held = np.zeros(present.shape, dtype=bool) if held is None else held
        # Per station with anything held: rare, and short runs, so a loop over its readings.
        touched = holding | np.logical_or.reduceat(held, starts, axis=0)
        for k, column in zip(*np.nonzero(touched), strict=True):
            station = int(stations[starts[k]])
            since = self.since[station, column]
            for row in range(int(starts[k]), int(ends[k])):
                if not present[row, column]:
                    continue
                if held[row, column]:
                    if np.isnan(since):
                        since = times[row]
                    continue
                if not np.isnan(since) and times[row] - since > self.max_gap_s:
                    restart[row, column] = True
                since = np.nan
            self.since[station, column] = since
        return restart if restart.any() else None
