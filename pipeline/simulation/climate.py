"""Each station's fixed character (its climate), and the slow waves that make weather wander.

Everything here is drawn once, from the seed and the station's id, so a station keeps its
climate whatever other stations are configured and however the data is chunked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.simulation.hashing import mix, name_key, uniform
from pipeline.stations import Station

DAY_S = 86400.0
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class Waves:
    """A sum of sinusoids per station, shape (S, W): weather that wanders without a memory.

    A function of time alone keeps the output identical however it is chunked, where a random
    walk would need its state carried from chunk to chunk.
    """

    period_s: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray

    def at(self, times: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Values at ``times`` (m,) for the stations in ``columns``: shape (m, len(columns))."""
        total = np.zeros((times.shape[0], columns.shape[0]))
        for w in range(self.period_s.shape[1]):
            omega = 2.0 * np.pi / self.period_s[columns, w]
            arg = times[:, None] * omega + self.phase[columns, w]
            total += self.amplitude[columns, w] * np.sin(arg)
        return total


class Draws:
    """Seeded uniform draws per station, named by a tag so that adding one changes no other."""

    def __init__(self, seed: int, keys: np.ndarray) -> None:
        self._seed = seed
        self._keys = keys

    def between(self, tag: str, low: float, high: float, width: int = 0) -> np.ndarray:
        """(S,) draws, or (S, width) when ``width`` is given."""
        columns = np.arange(max(width, 1), dtype=np.uint64)
        bits = mix(self._seed, self._keys[:, None], name_key(tag), columns[None, :])
        values = low + (high - low) * uniform(bits)
        return values if width else values[:, 0]

    def waves(
        self, tag: str, bands: Sequence[tuple[float, float]], amplitude: tuple[float, float]
    ) -> Waves:
        """One wave per band of periods (in days), each with an amplitude drawn in range."""
        width = len(bands)
        low = np.array([band[0] for band in bands]) * DAY_S
        high = np.array([band[1] for band in bands]) * DAY_S
        period = low + (high - low) * self.between(f"{tag}.period", 0.0, 1.0, width)
        return Waves(
            period_s=period,
            amplitude=self.between(f"{tag}.amplitude", *amplitude, width),
            phase=self.between(f"{tag}.phase", 0.0, 2.0 * np.pi, width),
        )


# Sea-level pressure waves: an amplitude of (slope x period / 2 pi) caps each wave's steepest
# change at `slope`. Three waves of at most 0.13 hPa/h can fall no more than 1.2 hPa in 3 h,
# far from the 3.5 hPa of the pressure-fall advisory, so only fronts trip that rule.
_PRESSURE_BANDS = ((2.0, 3.0), (3.0, 4.5), (4.5, 6.0))
_PRESSURE_SLOPE_HPA_PER_H = (0.08, 0.13)


@dataclass(frozen=True, slots=True)
class StationClimate:
    """Per-station parameters, each an (S,) array in station order (waves are (S, W))."""

    key: np.ndarray  # uint64: name_key of the station id, the station's identity for seeding
    latitude: np.ndarray
    longitude: np.ndarray
    elevation_m: np.ndarray
    mean_temp_c: np.ndarray
    season_amp_c: np.ndarray
    diurnal_amp_c: np.ndarray
    humidity_pct: np.ndarray
    msl_hpa: np.ndarray
    wind_ms: np.ndarray
    gust_factor: np.ndarray
    wind_dir_deg: np.ndarray
    pm25_ugm3: np.ndarray
    noise_db: np.ndarray
    temp_waves: Waves
    humidity_waves: Waves
    pressure_waves: Waves
    wind_waves: Waves
    dir_waves: Waves

    @classmethod
    def of(cls, stations: Sequence[Station], seed: int) -> StationClimate:
        keys = np.array([name_key(s.station_id) for s in stations], dtype=np.uint64)
        lat = np.array([s.latitude for s in stations], dtype=np.float64)
        # A station of unknown height is simulated at sea level.
        elevation = np.nan_to_num(np.array([s.elevation_m for s in stations], dtype=np.float64))
        abs_lat = np.abs(lat)
        north = lat >= 0
        draw = Draws(seed, keys)
        slope = draw.between("pressure.slope", *_PRESSURE_SLOPE_HPA_PER_H, len(_PRESSURE_BANDS))
        pressure = draw.waves("pressure", _PRESSURE_BANDS, (0.0, 1.0))
        # Trade winds blow from the east below ~30 degrees, westerlies above (Hadley and
        # Ferrel cells); the hemisphere mirrors the direction.
        prevailing = np.where(
            abs_lat < 30.0, np.where(north, 60.0, 120.0), np.where(north, 250.0, 290.0)
        )
        return cls(
            key=keys,
            latitude=lat,
            longitude=np.array([s.longitude for s in stations], dtype=np.float64),
            elevation_m=elevation,
            # Annual means fall off roughly with latitude squared (about 28 degC at the
            # equator, 11 degC at 51 N) and with height at the standard lapse rate 6.5 K/km.
            mean_temp_c=28.0
            - 0.0065 * lat**2
            - 0.0065 * elevation
            + draw.between("temp.mean", -1.5, 1.5),
            season_amp_c=0.18 * abs_lat * draw.between("temp.season", 0.8, 1.2),
            diurnal_amp_c=draw.between("temp.diurnal", 3.0, 6.0),
            # Drier under the subtropical highs (around 25 degrees), moister elsewhere.
            humidity_pct=72.0
            - 18.0 * np.exp(-(((abs_lat - 25.0) / 10.0) ** 2))
            + draw.between("humidity.mean", -6.0, 6.0),
            # Subtropical highs near 30 degrees, subpolar lows near 60 degrees.
            msl_hpa=1013.0
            + 4.0 * np.exp(-(((abs_lat - 30.0) / 12.0) ** 2))
            - 5.0 * np.exp(-(((abs_lat - 60.0) / 10.0) ** 2))
            + draw.between("pressure.mean", -1.5, 1.5),
            wind_ms=2.5 + 0.04 * abs_lat + draw.between("wind.mean", 0.0, 2.0),
            # Gust factors of 1.3-1.8 over open to rough terrain (WMO-No. 8, Annex 5.B).
            gust_factor=draw.between("wind.gust", 1.3, 1.8),
            wind_dir_deg=prevailing + draw.between("wind.dir", -30.0, 30.0),
            pm25_ugm3=draw.between("pm25.mean", 6.0, 25.0),
            noise_db=draw.between("noise.mean", 40.0, 48.0),
            temp_waves=draw.waves("temp", ((2.0, 3.0), (3.0, 4.5), (4.5, 6.0)), (0.5, 1.5)),
            humidity_waves=draw.waves("humidity", ((1.0, 2.0), (2.0, 4.0)), (2.0, 6.0)),
            pressure_waves=Waves(
                pressure.period_s,
                slope * (pressure.period_s / HOUR_S) / (2.0 * np.pi),
                pressure.phase,
            ),
            wind_waves=draw.waves("wind", ((0.3, 0.8), (0.8, 1.5), (1.5, 3.0)), (0.08, 0.14)),
            dir_waves=draw.waves("dir", ((0.5, 1.0), (1.0, 2.0), (2.0, 3.0)), (15.0, 30.0)),
        )
