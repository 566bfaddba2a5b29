"""The weather model: what each station reads at given times, before any sensor fault.

Values are computed on a grid of times (m,) by stations (S,), each a closed-form function of
time (climate, diurnal and seasonal cycles, slow waves, events) plus counter-based noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.simulation.climate import DAY_S, HOUR_S, Draws, StationClimate, Waves
from pipeline.simulation.hashing import mix, name_key, normal
from pipeline.simulation.weather_events import Front, Spell

# Station pressure from sea-level pressure with the isothermal scale height R*T/g at about
# 15 degC (8.434 km), the reduction the brief specifies.
SCALE_HEIGHT_M = 8434.0
YEAR_DAYS = 365.2422

# US EPA PM2.5 breakpoints (2024 revision of the AQI, 40 CFR 58 Appendix G), interpolated
# without the 0.1 ug/m3 gaps between categories.
_PM25_BREAKPOINTS = (0.0, 9.0, 35.4, 55.4, 125.4, 225.4, 325.4)
_AQI_BREAKPOINTS = (0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 500.0)


@dataclass(slots=True)
class Effects:
    """What fronts and spells add to the ordinary weather, each an (m, S) array."""

    pressure_hpa: np.ndarray
    temp_c: np.ndarray
    wind_ms: np.ndarray
    veer_deg: np.ndarray
    wet: np.ndarray  # 0..1: how far into a front's cloud and rain
    rain_mm: np.ndarray  # per sample interval
    calm: np.ndarray  # 0..1: weight of a calm spell's held wind
    calm_ms: np.ndarray

    @classmethod
    def of(
        cls,
        events: Iterable[Front | Spell],
        times: np.ndarray,
        columns: dict[int, int],
        interval: float,
    ) -> Effects:
        """Effects of ``events`` at ``times``; ``columns`` maps a station to its grid column."""
        shape = (times.shape[0], len(columns))
        effects = cls(*(np.zeros(shape) for _ in range(8)))
        for event in events:
            rows = slice(
                np.searchsorted(times, event.start, "left"),
                np.searchsorted(times, event.end, "right"),
            )
            at = times[rows]
            if at.size == 0:
                continue
            cell = (rows, columns[event.station])
            if isinstance(event, Front):
                shape_at = event.shape(at)
                effects.pressure_hpa[cell] -= event.depth_hpa * shape_at
                effects.temp_c[cell] -= event.cooling_c * shape_at
                effects.wind_ms[cell] += event.wind_ms * shape_at**2
                effects.veer_deg[cell] += event.veer_deg * shape_at
                effects.wet[cell] += shape_at
                effects.rain_mm[cell] += event.rain_mm(at, interval)
            elif event.windy:
                effects.wind_ms[cell] += event.magnitude * event.weight(at)
            else:
                effects.calm[cell] = event.weight(at)
                effects.calm_ms[cell] = event.magnitude
        return effects


class WeatherModel:
    """Readings of the stations in ``columns`` at ``times``, for the variables asked for."""

    def __init__(
        self,
        climate: StationClimate,
        columns: np.ndarray,
        times: np.ndarray,
        steps: np.ndarray,
        interval: float,
        effects: Effects,
        seed: int,
    ) -> None:
        self._seed = seed
        self._keys = climate.key[columns]
        self._steps = steps
        self._interval = interval
        self._times = times
        self._columns = columns
        self._climate = climate
        self._fx = effects
        self._cache: dict[str, np.ndarray] = {}
        self._local_h = (times[:, None] / HOUR_S + climate.longitude[columns] / 15.0) % 24.0

    def get(self, name: str, lower: float, upper: float) -> np.ndarray:
        """The variable ``name``: a modelled one, or a generic wander within [lower, upper]."""
        model = _MODELLED.get(name)
        values = model(self) if model else self._generic(name, lower, upper)
        return np.clip(values, lower, upper)

    def _memo(self, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    def _noise(self, name: str) -> np.ndarray:
        """Standard normal noise per (step, station), its own stream for each variable."""
        bits = mix(self._seed, self._keys[None, :], name_key(name), self._steps[:, None])
        return normal(bits)

    def _param(self, values: np.ndarray) -> np.ndarray:
        return values[self._columns]

    def _waves(self, waves: Waves) -> np.ndarray:
        return waves.at(self._times, self._columns)

    def _cycle(self, peak_hour: float) -> np.ndarray:
        """A daily cosine by local solar time (longitude / 15 h from UTC), 1 at ``peak_hour``."""
        return np.cos(2.0 * np.pi * (self._local_h - peak_hour) / 24.0)

    # --- temperature and humidity -----------------------------------------------------

    def _diurnal_c(self) -> np.ndarray:
        # Air temperature peaks mid-afternoon, some hours after the sun (Oke 1987, ch. 2).
        return self._memo(
            "diurnal", lambda: self._param(self._climate.diurnal_amp_c) * self._cycle(15.0)
        )

    def _temperature_c(self) -> np.ndarray:
        c = self._climate
        day_of_year = (self._times / DAY_S) % YEAR_DAYS
        # Coldest in mid-January in the north, mid-July in the south.
        winter = np.cos(2.0 * np.pi * (day_of_year - 15.0) / YEAR_DAYS)[:, None]
        season = -self._param(c.season_amp_c * np.sign(c.latitude)) * winter
        base = self._param(c.mean_temp_c) + season + self._waves(c.temp_waves)
        return base + self._diurnal_c() + self._fx.temp_c + 0.15 * self._noise("temperature_c")

    def _humidity_pct(self) -> np.ndarray:
        # Relative humidity moves against temperature (about 3 %/degC, saturation vapour
        # pressure rising ~6-7 %/degC) and up in a front's cloud and rain.
        c = self._climate
        raw = (
            self._param(c.humidity_pct)
            + self._waves(c.humidity_waves)
            - 3.0 * (self._diurnal_c() + self._fx.temp_c)
            + 25.0 * self._fx.wet
        )
        # A soft ceiling: mostly below 96 % instead of sitting clipped at 100 %.
        squashed = 50.0 + 46.0 * np.tanh((raw - 50.0) / 46.0)
        return squashed + 1.0 * self._noise("humidity_pct")

    # --- pressure ---------------------------------------------------------------------

    def _pressure_msl_hpa(self) -> np.ndarray:
        c = self._climate
        return self._memo(
            "msl",
            lambda: (
                self._param(c.msl_hpa)
                + self._waves(c.pressure_waves)
                + self._fx.pressure_hpa
                + 0.05 * self._noise("pressure_msl_hpa")
            ),
        )

    def _pressure_hpa(self) -> np.ndarray:
        height = self._param(self._climate.elevation_m)
        return self._pressure_msl_hpa() * np.exp(-height / SCALE_HEIGHT_M)

    # --- wind and rain ----------------------------------------------------------------

    def _wind_true_ms(self) -> np.ndarray:
        """Wind before measurement noise: a little stronger in the afternoon, when the
        boundary layer mixes momentum down, then spells and fronts."""

        def compute() -> np.ndarray:
            c, fx = self._climate, self._fx
            relative = 1.0 + 0.25 * self._cycle(14.0) + self._waves(c.wind_waves)
            ordinary = self._param(c.wind_ms) * relative
            return ordinary * (1.0 - fx.calm) + fx.calm_ms * fx.calm + fx.wind_ms

        return self._memo("wind_true", compute)

    def _wind_speed_ms(self) -> np.ndarray:
        return self._memo(
            "wind",
            lambda: np.maximum(self._wind_true_ms() + 0.4 * self._noise("wind_speed_ms"), 0.0),
        )

    def _wind_gust_ms(self) -> np.ndarray:
        gust = self._wind_true_ms() * self._param(self._climate.gust_factor)
        return np.maximum(gust + 0.7 * self._noise("wind_gust_ms"), self._wind_speed_ms())

    def _wind_dir_deg(self) -> np.ndarray:
        c = self._climate
        direction = self._param(c.wind_dir_deg) + self._waves(c.dir_waves) + self._fx.veer_deg
        return (direction + 8.0 * self._noise("wind_dir_deg")) % 360.0

    def _precip_mm(self) -> np.ndarray:
        return self._fx.rain_mm

    # --- city environment -------------------------------------------------------------

    def _activity(self) -> np.ndarray:
        """Traffic and city activity by local time: rush hours at 08 and 18, quiet nights."""

        def bump(centre: float, width: float) -> np.ndarray:
            offset = (self._local_h - centre + 12.0) % 24.0 - 12.0
            return np.exp(-0.5 * (offset / width) ** 2)

        return self._memo(
            "activity", lambda: bump(8.0, 1.5) + bump(18.0, 2.0) + 0.5 * bump(13.0, 4.0)
        )

    def _noise_db(self) -> np.ndarray:
        level = self._param(self._climate.noise_db) + 22.0 * self._activity()
        return level + 0.3 * self._wind_true_ms() + 1.5 * self._noise("noise_db")

    def _pm25_ugm3(self) -> np.ndarray:
        def compute() -> np.ndarray:
            fx = self._fx
            # Calm air lets particles accumulate, wind disperses them; rain washes them out.
            dispersion = 2.5 / (1.0 + 0.4 * np.maximum(self._wind_true_ms(), 0.0))
            rain_mm_h = fx.rain_mm * HOUR_S / self._interval
            washout = (1.0 - 0.6 * fx.wet) * np.exp(-0.5 * rain_mm_h)
            traffic = 0.7 + 0.6 * self._activity()
            level = self._param(self._climate.pm25_ugm3) * traffic * dispersion * washout
            return level * np.exp(0.05 * self._noise("pm25_ugm3"))

        return self._memo("pm25", compute)

    def _aqi(self) -> np.ndarray:
        return np.interp(self._pm25_ugm3(), _PM25_BREAKPOINTS, _AQI_BREAKPOINTS)

    # --- anything else ------------------------------------------------------------------

    def _generic(self, name: str, lower: float, upper: float) -> np.ndarray:
        """A user-added sensor: a slow wander around mid-range, a faint daily cycle, noise."""
        width = upper - lower
        waves = Draws(self._seed, self._keys).waves(
            f"generic.{name}", ((0.5, 1.0), (1.0, 2.0), (2.0, 4.0)), (0.03, 0.06)
        )
        wander = waves.at(self._times, np.arange(self._keys.shape[0]))
        level = lower + width * (0.5 + wander + 0.03 * self._cycle(15.0))
        return level + 0.003 * width * self._noise(name)


_MODELLED: dict[str, Callable[[WeatherModel], np.ndarray]] = {
    "temperature_c": WeatherModel._temperature_c,
    "humidity_pct": WeatherModel._humidity_pct,
    "pressure_hpa": WeatherModel._pressure_hpa,
    "pressure_msl_hpa": WeatherModel._pressure_msl_hpa,
    "wind_speed_ms": WeatherModel._wind_speed_ms,
    "wind_gust_ms": WeatherModel._wind_gust_ms,
    "wind_dir_deg": WeatherModel._wind_dir_deg,
    "precip_mm": WeatherModel._precip_mm,
    "aqi": WeatherModel._aqi,
    "pm25_ugm3": WeatherModel._pm25_ugm3,
    "noise_db": WeatherModel._noise_db,
}
