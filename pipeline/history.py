"""Recent readings per station, in memory, for the console's sparklines and panels.

A fixed ring of ``depth`` rows per station keeps memory bounded whatever the rate; longer spans
(the 6 h and 24 h charts) are read from the store instead. Values are kept as float32: seven
significant digits are more than a chart or a panel shows, and it halves the ring, the largest
part of a station's memory (9.6 KB instead of 17.3 KB at 240 rows of 8 variables).
"""

from __future__ import annotations

import threading

import numpy as np

from pipeline.frame import ObservationFrame


class RecentHistory:
    def __init__(self, n_variables: int, depth: int = 240) -> None:
        self.depth = depth
        self.n_variables = n_variables
        self._times = np.full((0, depth), np.nan)
        self._values = np.full((0, depth, n_variables), np.nan, dtype=np.float32)
        self._count = np.zeros(0, dtype=np.int64)  # readings ever appended per station
        self._lock = threading.Lock()

    def _grow(self, n_stations: int) -> None:
        extra = n_stations - self._times.shape[0]
        self._times = np.vstack([self._times, np.full((extra, self.depth), np.nan)])
        self._values = np.concatenate(
            [self._values, np.full((extra, self.depth, self.n_variables), np.nan, np.float32)]
        )
        self._count = np.concatenate([self._count, np.zeros(extra, dtype=np.int64)])

    def keep_stations(self, kept: np.ndarray) -> None:
        """Keep only the stations at ``kept``, renumbered in that order (see
        :meth:`pipeline.registry.StationRegistry.keep`)."""
        with self._lock:
            kept = kept[kept < self._times.shape[0]]
            self._times, self._values = self._times[kept], self._values[kept]
            self._count = self._count[kept]

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
            slot = (self._count[sorted_stations] + rank) % self.depth
            self._times[sorted_stations, slot] = frame.observed_at[order]
            self._values[sorted_stations, slot] = frame.values[order]
            np.add.at(self._count, sorted_stations, 1)

    def series(self, station: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (n,) and values (n, V) for one station, oldest first."""
        with self._lock:
            if station >= self._times.shape[0]:
                return np.empty(0), np.empty((0, self.n_variables))
            count = int(self._count[station])
            n = min(count, self.depth)
            order = (np.arange(count - n, count)) % self.depth
            return self._times[station, order], self._values[station, order].astype(np.float64)

    def latest(self) -> tuple[np.ndarray, np.ndarray]:
        """Per station: time of its latest reading and the latest known value of each variable."""
        with self._lock:
            n_stations = self._times.shape[0]
            times = np.full(n_stations, np.nan)
            values = np.full((n_stations, self.n_variables), np.nan)
            for station in range(n_stations):
                count = int(self._count[station])
                n = min(count, self.depth)
                if not n:
                    continue
                order = np.arange(count - n, count) % self.depth
                times[station] = self._times[station, order[-1]]
                block = self._values[station, order]
                seen = ~np.isnan(block)
                last = np.where(seen.any(axis=0), n - 1 - np.argmax(seen[::-1], axis=0), -1)
                has = last >= 0
                values[station, has] = block[last[has], np.flatnonzero(has)]
            return times, values
