"""Sensor faults, each on one variable of one station, as they happen in the field.

* a **spike**: one reading off by a large amount (a loose connection, a bird on the sensor);
* a **stuck** sensor repeating its last good reading for one to three days (a frozen vane, a
  logger that lost the sensor): a sound sensor sits on one value for hours, a failed one for
  days;
* a **dropout**: readings missing for minutes to an hour;
* a **step**: the readings shifted by a fixed offset for hours to two days, then back (a sensor
  swapped for a badly calibrated one, until someone notices);
* a **drift**: an offset that grows steadily for half a day to two days, then snaps back at
  re-calibration.

Each kind strikes only where it makes sense: no spikes, steps or drifts on a variable without
a baseline to leave (rain, gusts, wind direction), no stuck or dropout faults on one reported
only when there is something to report (rain, gusts).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.simulation.climate import DAY_S
from pipeline.simulation.schedule import DailySchedule
from pipeline.variables import VariableSpec

_FAULT_STREAM = 1  # weather draws from stream 0: a day's weather and faults are independent

FAULT_KINDS = ("spike", "stuck", "dropout", "step", "drift")
STUCK_HOURS = (26.0, 72.0)
DROPOUT_SAMPLES = (5, 60)
STEP_HOURS = (6.0, 48.0)
DRIFT_HOURS = (12.0, 48.0)

# Spike sizes (low, high) in each variable's unit: large next to its noise and its natural
# change between samples, so a sound detector should catch every one.
SPIKE_SIZES = {
    "temperature_c": (6.0, 15.0),
    "humidity_pct": (20.0, 40.0),
    "pressure_hpa": (6.0, 20.0),
    "pressure_msl_hpa": (6.0, 20.0),
    "wind_speed_ms": (15.0, 30.0),
    "wind_gust_ms": (15.0, 30.0),
    "wind_dir_deg": (90.0, 180.0),
    "precip_mm": (5.0, 20.0),
    "aqi": (100.0, 200.0),
    "pm25_ugm3": (50.0, 150.0),
    "noise_db": (20.0, 35.0),
}
GENERIC_SPIKE_FRACTION = (0.15, 0.35)  # of the variable's plausible range
# Offsets of a step, and the offset a drift reaches, (low, high) in the variable's unit.
STEP_SIZES = {
    "temperature_c": (3.0, 8.0),
    "humidity_pct": (10.0, 25.0),
    "pressure_hpa": (5.0, 40.0),
    "pressure_msl_hpa": (5.0, 40.0),
    "wind_speed_ms": (3.0, 6.0),
}
DRIFT_SIZES = {
    "temperature_c": (3.0, 6.0),
    "humidity_pct": (15.0, 25.0),
    "pressure_hpa": (4.0, 10.0),
    "pressure_msl_hpa": (4.0, 10.0),
    "wind_speed_ms": (1.0, 3.0),  # a worn anemometer bearing reads low
}
GENERIC_SHIFT_FRACTION = (0.05, 0.15)  # of the plausible range, for other variables


@dataclass(frozen=True, slots=True)
class Fault:
    """A sensor fault on one variable over sample steps ``first..last`` (inclusive).

    Steps are ``round(time / interval)``. A spike moves its one sample by ``size`` in direction
    ``sign``, reversed where that would leave the plausible range; a step moves every sample
    by it, a drift by a growing share of it (all of it at the last); stuck and dropout faults
    have size 0.
    """

    kind: str
    station: int
    variable: int
    first: int
    last: int
    size: float
    sign: float


class FaultSchedule(DailySchedule[Fault]):
    """Spikes, stuck sensors and dropouts at a Poisson rate per station and day.

    Faults are counted in samples, so a schedule belongs to one sampling interval. Two faults
    on the same variable never overlap or touch, so a stuck sensor's frozen value is always a
    sound reading.
    """

    def __init__(
        self,
        seed: int,
        keys: np.ndarray,
        variables: Sequence[VariableSpec],
        targets: Sequence[int],
        faults_per_day: float,
        interval: float,
    ) -> None:
        def samples(hours: tuple[float, float]) -> tuple[int, int]:
            """Bounds in hours as bounds in samples, at least one each."""
            low, high = (max(1, math.ceil(h * 3600.0 / interval)) for h in hours)
            return low, high

        self._lengths: dict[str, tuple[int, int]] = {
            "stuck": samples(STUCK_HOURS),
            "dropout": DROPOUT_SAMPLES,
            "step": samples(STEP_HOURS),
            "drift": samples(DRIFT_HOURS),
        }
        self._longest = max(high for _, high in self._lengths.values())
        lookback_days = math.ceil((self._longest + 1) * interval / DAY_S) + 1
        super().__init__(seed, keys, _FAULT_STREAM, lookback_days)
        self._variables = variables
        shifted = [i for i in targets if variables[i].statistical]
        self._targets = {
            "spike": shifted,
            "stuck": [i for i in targets if variables[i].stuck_check],
            "dropout": [i for i in targets if variables[i].gap_check],
            "step": shifted,
            "drift": shifted,
        }
        self._rate = faults_per_day
        self._interval = interval

    def between(self, stations: Iterable[int], first: int, last: int) -> list[Fault]:
        """Faults of ``stations`` touching steps ``first..last``, in order of station then step."""
        if not any(self._targets.values()) or self._rate == 0:
            return []
        # A day's margin either side: the day a step falls in is decided by rounding.
        first_day = math.floor((first - self._longest) * self._interval / DAY_S) - 1
        last_day = math.floor(last * self._interval / DAY_S) + 1
        days = [self.kept_on(day) for day in range(first_day, last_day + 1)]
        found: list[Fault] = []
        for station in stations:
            faults = (fault for day in days for fault in day[station])
            found.extend(
                sorted(
                    (f for f in faults if f.last >= first and f.first <= last),
                    key=lambda f: f.first,
                )
            )
        return found

    def _start(self, fault: Fault) -> float:
        return fault.first

    def _reach(self, fault: Fault) -> float:
        return fault.last + 1  # at least one sound sample between two faults

    def _group(self, fault: Fault) -> Hashable:
        return fault.variable

    def _draw(self, rng: np.random.Generator, station: int, day: int) -> tuple[Fault, ...]:
        lowest = math.ceil(day * DAY_S / self._interval)
        steps = math.ceil((day + 1) * DAY_S / self._interval) - lowest
        faults = []
        for u in rng.random((rng.poisson(self._rate), 6)).tolist():
            kind = FAULT_KINDS[int(u[0] * len(FAULT_KINDS))]
            targets = self._targets[kind]
            if steps <= 0 or not targets:
                continue
            variable = targets[int(u[2] * len(targets))]
            length = 1 if kind == "spike" else _samples(self._lengths[kind], u[3])
            begin = lowest + int(u[1] * steps)
            faults.append(
                Fault(
                    kind=kind,
                    station=station,
                    variable=variable,
                    first=begin,
                    last=begin + length - 1,
                    size=self._size(kind, variable, u[4]),
                    sign=1.0 if u[5] < 0.5 else -1.0,
                )
            )
        return tuple(faults)

    def _size(self, kind: str, variable: int, u: float) -> float:
        if kind in ("stuck", "dropout"):
            return 0.0
        name = self._variables[variable].name
        sizes, fraction = {
            "spike": (SPIKE_SIZES, GENERIC_SPIKE_FRACTION),
            "step": (STEP_SIZES, GENERIC_SHIFT_FRACTION),
            "drift": (DRIFT_SIZES, GENERIC_SHIFT_FRACTION),
        }[kind]
        if name in sizes:
            low, high = sizes[name]
        else:
            spec = self._variables[variable]
            width = spec.maximum - spec.minimum
            low, high = (share * width for share in fraction)
        return low + (high - low) * u


def _samples(bounds: tuple[int, int], u: float) -> int:
    """An integer in bounds (inclusive) from a uniform draw ``u`` in [0, 1)."""
    return bounds[0] + int(u * (bounds[1] - bounds[0] + 1))
