"""Station ids to dense indices, so per-station state can live in arrays."""

from __future__ import annotations

from pipeline.stations import Station


class StationRegistry:
    """Every station seen so far, in order of first appearance (index = position)."""

    def __init__(self, stations: tuple[Station, ...] | list[Station] = ()) -> None:
        self.stations: list[Station] = []
        self.ids: list[str] = []
        self._index: dict[str, int] = {}
        for station in stations:
            self.add(station)

    def __len__(self) -> int:
        return len(self.stations)

    def add(self, station: Station) -> int:
        index = self._index.get(station.station_id)
        if index is None:
            index = len(self.stations)
            self._index[station.station_id] = index
            self.stations.append(station)
            self.ids.append(station.station_id)
        return index

    def get(self, station_id: str) -> int | None:
        return self._index.get(station_id)
