"""Stations: where observations come from."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    name: str
    latitude: float
    longitude: float
    elevation_m: float = math.nan  # unknown
    timezone: str = ""  # IANA name; "": the zone its position lies in (pipeline.times)


def elevation(metres: float | None) -> float:
    """A configured elevation as a Station holds it: NaN where none was given."""
    return math.nan if metres is None else float(metres)


DEFAULT_STATIONS: tuple[Station, ...] = (
    Station("nyc", "New York", 40.7128, -74.0060, 10.0),
    Station("lon", "London", 51.5074, -0.1278, 11.0),
    Station("tyo", "Tokyo", 35.6762, 139.6503, 40.0),
    Station("syd", "Sydney", -33.8688, 151.2093, 58.0),
    Station("dxb", "Dubai", 25.2048, 55.2708, 5.0),
)
