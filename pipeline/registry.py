"""Station ids to dense indices, so per-station state can live in arrays."""

from __future__ import annotations

import threading

import numpy as np

from pipeline.stations import Station


class StationRegistry:
    """Every station kept, in order of first appearance (index = position).

    The stations it starts with are the configured ones: :meth:`keep` never forgets them.
    Indices change only in :meth:`keep`, which the consumer thread calls with ``lock`` held;
    another thread that looks an index up and then reads state by it holds ``lock`` too.
    """

    def __init__(self, stations: tuple[Station, ...] | list[Station] = ()) -> None:
        self.stations: list[Station] = []
        self.ids: list[str] = []
        self.elevations: list[float] = []  # NaN where unknown
        self._index: dict[str, int] = {}
        self.lock = threading.RLock()
        for station in stations:
            self.add(station)
        self.pinned = len(self.stations)

    def __len__(self) -> int:
        return len(self.stations)

    def add(self, station: Station) -> int:
        index = self._index.get(station.station_id)
        if index is None:
            index = len(self.stations)
            self._index[station.station_id] = index
            self.stations.append(station)
            self.ids.append(station.station_id)
            self.elevations.append(station.elevation_m)
        return index

    def get(self, station_id: str) -> int | None:
        return self._index.get(station_id)

    def station(self, station_id: str) -> Station | None:
        with self.lock:
            index = self._index.get(station_id)
            return None if index is None else self.stations[index]

    def keep(self, kept: np.ndarray) -> None:
        """Keep only the stations at the ascending indices ``kept`` (the configured ones
        among them), renumbered from 0 in that order."""
        stations = [self.stations[i] for i in kept.tolist()]
        if stations[: self.pinned] != self.stations[: self.pinned]:
            raise ValueError("the configured stations are always kept")
        self.stations = stations
        self.ids = [s.station_id for s in stations]
        self.elevations = [s.elevation_m for s in stations]
        self._index = {station_id: i for i, station_id in enumerate(self.ids)}
