"""What each measured variable is: canonical unit, plausible range, noise floor.

A new sensor type (PM10, CO2, illuminance...) is a new :class:`VariableSpec` built from
configuration; nothing else in the pipeline names variables, except the meteorological rules,
which are configured with the names they watch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
"""Variable names become SQLite column names, so they are kept to a safe identifier shape."""


# No physical reading a station reports comes near this, and squares of differences of readings
# within it stay far inside float64 (a 1e308 reading overflowed to inf and poisoned the series).
MAX_MAGNITUDE = 1e12


VariableKind = Literal["continuous", "bounded", "zero_inflated", "sporadic", "circular"]
"""How a variable behaves, which decides the detectors that make sense for it:

* ``continuous`` (temperature, pressure): every statistical detector, the stuck-sensor and the
  gap checks.
* ``bounded`` (humidity, wind speed): the same, but a value resting at its minimum or maximum is
  not stuck: humidity at 100 % in fog, wind at 0 m/s in a calm.
* ``zero_inflated`` (precipitation): zero most of the time, so a mean and a standard deviation
  describe nothing and every shower would be "σ away": no statistical detector, no stuck or
  gap check (a rain gauge that reports only when it rains is not silent). Rules watch it.
* ``sporadic`` (gusts): reported only when there is something to report: no statistics, no
  stuck or gap check; rules watch it.
* ``circular`` (wind direction): 359° and 1° are neighbours, so no linear statistic; stuck and
  gap checks apply (a frozen vane is a fault).
"""
VARIABLE_KINDS: tuple[str, ...] = get_args(VariableKind)


@dataclass(frozen=True, slots=True)
class VariableSpec:
    """One named numeric variable, in its canonical unit.

    ``minimum``/``maximum`` bound physically plausible values: outside them a reading is
    quarantined, not analysed. ``resolution`` is the smallest meaningful change (sensor
    resolution); it floors the standard deviations the statistical detectors divide by, so a
    series that sat perfectly still does not turn its first tiny change into an infinite score.
    ``kind`` (:data:`VariableKind`) says which detectors apply.
    """

    name: str
    unit: str
    label: str
    minimum: float
    maximum: float
    resolution: float
    kind: VariableKind = "continuous"
    short: str = ""
    overshoot: float = 0.0
    """Readings up to this far past ``maximum`` are taken as ``maximum``, not rejected: a
    capacitive humidity sensor reads 100.5 % in fog (BSRN Payerne, June 2016: 37 % of its
    minutes). WMO practice (ZAMG's AWS checks): humidity below 104 % is plausible, and
    above 100 % set to 100 %."""
    """A label of a few letters for narrow places (table columns, the compact layout)."""

    @property
    def short_label(self) -> str:
        return self.short or self.label

    @property
    def statistical(self) -> bool:
        """Whether the z-score, EWMA and CUSUM detectors apply."""
        return self.kind in ("continuous", "bounded")

    @property
    def stuck_check(self) -> bool:
        """Whether a value frozen for many readings is a fault."""
        return self.kind in ("continuous", "bounded", "circular")

    @property
    def gap_check(self) -> bool:
        """Whether a silence longer than usual is a dropout."""
        return self.kind in ("continuous", "bounded", "circular")

    @property
    def rests_at_bounds(self) -> bool:
        """Whether a value at its minimum or maximum may stay there (it is then not stuck)."""
        return self.kind == "bounded"

    def plausible(self, value: float) -> float | None:
        """``value`` as it is analysed (past the maximum by up to ``overshoot``: the
        maximum), or None when it is outside the plausible range."""
        if self.minimum <= value <= self.maximum:
            return value
        if self.maximum < value <= self.maximum + self.overshoot:
            return self.maximum
        return None

    def __post_init__(self) -> None:
        if not VARIABLE_NAME.match(self.name):
            raise ValueError(
                f"variable name {self.name!r} must be lower-case letters, digits and _"
            )
        if not self.minimum < self.maximum:
            raise ValueError(f"variable {self.name}: minimum must be below maximum")
        if not (self.minimum >= -MAX_MAGNITUDE and self.maximum <= MAX_MAGNITUDE):
            raise ValueError(
                f"variable {self.name}: minimum and maximum must lie within ±{MAX_MAGNITUDE:g}"
                " (the detectors square differences of readings; beyond that they overflow)"
            )
        if not self.overshoot >= 0:
            raise ValueError(f"variable {self.name}: overshoot must not be negative")
        if self.resolution <= 0:
            raise ValueError(f"variable {self.name}: resolution must be positive")
        if self.kind not in VARIABLE_KINDS:
            raise ValueError(
                f"variable {self.name}: kind {self.kind!r} is not one of "
                + ", ".join(VARIABLE_KINDS)
            )


# The standard variables some checks pair up by name (consistency, a vane in a calm).
STATION_PRESSURE, SEA_LEVEL_PRESSURE = "pressure_hpa", "pressure_msl_hpa"
VANE, ANEMOMETER = "wind_dir_deg", "wind_speed_ms"

SEA_LEVEL_RANGE_HPA = (850.0, 1090.0)
"""Mean sea-level pressure ever observed lies within this (870 and 1084.8 hPa on record);
station pressure at a known height is checked against it reduced to that height."""

# Plausible ranges follow the extremes on record (WMO archive of weather and climate extremes),
# widened a little: -95..65 °C air temperature, 850..1090 hPa sea-level pressure, 113 m/s gust.
STANDARD_VARIABLES: tuple[VariableSpec, ...] = (
    VariableSpec("temperature_c", "°C", "Temperature", -95.0, 65.0, 0.05, short="Temp"),
    VariableSpec(
        "humidity_pct", "%", "Humidity", 0.0, 100.0, 0.5, "bounded", short="RH", overshoot=4.0
    ),
    # Station pressure at the barometer's height; at high stations it is far below 1000 hPa.
    VariableSpec("pressure_hpa", "hPa", "Pressure (station)", 300.0, 1100.0, 0.05, short="P stn"),
    # Mean sea-level pressure: the station reading reduced to sea level.
    VariableSpec(
        "pressure_msl_hpa", "hPa", "Pressure (sea level)", *SEA_LEVEL_RANGE_HPA, 0.05, short="P msl"
    ),
    VariableSpec("wind_speed_ms", "m/s", "Wind", 0.0, 120.0, 0.1, "bounded", short="Wind"),
    VariableSpec("wind_gust_ms", "m/s", "Gust", 0.0, 120.0, 0.1, "sporadic", short="Gust"),
    VariableSpec("wind_dir_deg", "°", "Wind direction", 0.0, 360.0, 1.0, "circular", short="Dir"),
    VariableSpec(
        "precip_mm", "mm", "Precipitation", 0.0, 500.0, 0.1, "zero_inflated", short="Rain"
    ),
)

ENVIRONMENTAL_VARIABLES: tuple[VariableSpec, ...] = (
    VariableSpec("aqi", "", "Air quality index", 0.0, 500.0, 1.0, short="AQI"),
    VariableSpec("pm25_ugm3", "µg/m³", "PM2.5", 0.0, 1000.0, 0.5, "bounded", short="PM2.5"),
    VariableSpec("noise_db", "dB(A)", "Noise", 0.0, 140.0, 0.5, short="Noise"),
)
