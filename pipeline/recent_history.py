"""Recent readings per station, in memory, for the console's sparklines and panels.

A fixed ring of ``depth`` rows per station keeps memory bounded whatever the rate; longer spans
(the 6 h and 24 h charts) are read from the store instead. Values are kept as float32: seven
significant digits are more than a chart or a panel shows, and it halves the ring, the largest
part of a station's memory (9.6 KB instead of 17.3 KB at 240 rows of 8 variables).

The ring is held within a memory budget: with more stations than ``depth`` rows each fit in
it, each station keeps fewer (never under :data:`MIN_DEPTH`), the newest. At the default
24 MB that is 240 rows up to 2,400 stations of 8 variables, 60 at 10,000.

The latest value of each variable is kept per station as readings arrive (a variable may be
missing from the newest rows), so the console's table of every station costs a copy, not a
walk of the rings.
"""

from __future__ import annotations

import threading

import numpy as np

from pipeline.frame import ObservationFrame
from pipeline.rows import with_rows

MIN_DEPTH = 32
MB = 1 << 20


class RecentHistory:
    def __init__(self, n_variables: int, depth: int = 240, budget_mb: float = 24.0) -> None:
        self.max_depth = self.depth = depth
        self.n_variables = n_variables
        self.budget = budget_mb * MB
        self._times = np.full((0, depth), np.nan)
        self._values = np.full((0, depth, n_variables), np.nan, dtype=np.float32)
        self._count = np.zeros(0, dtype=np.int64)  # readings ever appended per station
        self._latest_values = np.full((0, n_variables), np.nan)
        self._seen_at = np.zeros((0, n_variables), dtype=np.int64)  # its reading's position
        self._lock = threading.Lock()

    def _depth_for(self, n_stations: int) -> int:
        row = 8 + 4 * self.n_variables  # a time and the values, in bytes
        fits = int(self.budget // (max(n_stations, 1) * row))
        return max(MIN_DEPTH, min(self.max_depth, fits))

    def _grow(self, n_stations: int) -> None:
        self._shrink_to(self._depth_for(n_stations))
        extra = n_stations - self._times.shape[0]
        self._times = with_rows(self._times, extra, np.nan)
        self._values = with_rows(self._values, extra, np.nan)
        self._count = with_rows(self._count, extra, 0)
        self._latest_values = with_rows(self._latest_values, extra, np.nan)
        self._seen_at = with_rows(self._seen_at, extra, 0)

    def _shrink_to(self, depth: int) -> None:
        """Keep each station's newest ``depth`` rows, oldest first from slot 0."""
        if depth >= self.depth:
            return
        start = np.maximum(self._count - depth, 0)
        slots = (start[:, None] + np.arange(depth)) % self.depth
        self._times = np.take_along_axis(self._times, slots, axis=1)
        self._values = np.take_along_axis(self._values, slots[:, :, None], axis=1)
        kept = np.minimum(self._count, depth)
        self._seen_at -= (self._count - kept)[:, None]  # positions count from the oldest kept
        self._count = kept
        self.depth = depth

    def keep_stations(self, kept: np.ndarray) -> None:
        """Keep only the stations at ``kept``, renumbered in that order (see
        :meth:`pipeline.registry.StationRegistry.keep`)."""
        with self._lock:
            kept = kept[kept < self._times.shape[0]]
            self._times, self._values = self._times[kept], self._values[kept]
            self._count = self._count[kept]
            self._latest_values = self._latest_values[kept]
            self._seen_at = self._seen_at[kept]

    def append(self, frame: ObservationFrame) -> None:
        """Append a frame whose rows are in time order within each station."""
        if not len(frame):
            return
        with self._lock:
            stations = frame.station
            if stations.max() >= self._times.shape[0]:
                self._grow(int(stations.max()) + 1)
            order = np.argsort(stations, kind="stable")
            sorted_stations = stations[order]
            starts = np.searchsorted(sorted_stations, sorted_stations, side="left")
            rank = np.arange(len(order)) - starts
            position = self._count[sorted_stations] + rank
            slot = position % self.depth
            self._times[sorted_stations, slot] = frame.observed_at[order]
            self._values[sorted_stations, slot] = frame.values[order]
            np.add.at(self._count, sorted_stations, 1)
            # Later rows overwrite earlier ones: the last assignment to an index wins.
            values = frame.values[order]
            for column in range(self.n_variables):
                seen = np.flatnonzero(~np.isnan(values[:, column]))
                self._latest_values[sorted_stations[seen], column] = values[seen, column]
                self._seen_at[sorted_stations[seen], column] = position[seen]

    def series(self, station: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (n,) and values (n, V) for one station, oldest first."""
        with self._lock:
            if station >= self._times.shape[0]:
                return np.empty(0), np.empty((0, self.n_variables))
            count = int(self._count[station])
            n = min(count, self.depth)
            order = (np.arange(count - n, count)) % self.depth
            return self._times[station, order], self._values[station, order].astype(np.float64)

    def tail(self, column: int, points: int) -> np.ndarray:
        """The newest ``points`` values of one variable for every station, oldest first
        (n_stations, points): NaN where a station has fewer readings (the station list's
        sparklines, one gather for all stations instead of a series per station)."""
        with self._lock:
            points = min(points, self.depth)
            position = self._count[:, None] - points + np.arange(points)
            values = self._values[
                np.arange(len(self._count))[:, None], position % self.depth, column
            ].astype(np.float64)
            values[position < 0] = np.nan
            return values

    def latest(self) -> tuple[np.ndarray, np.ndarray]:
        """Per station: time of its latest reading and the latest value of each variable still
        in its ring (NaN for one not sent in the ring's span)."""
        with self._lock:
            newest = np.take_along_axis(
                self._times, ((self._count - 1) % self.depth)[:, None], axis=1
            )[:, 0]  # NaN for a station with no reading: its slots were never written
            in_ring = self._seen_at >= (self._count - self.depth)[:, None]
            return newest, np.where(in_ring, self._latest_values, np.nan)
