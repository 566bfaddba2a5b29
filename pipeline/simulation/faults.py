"""Sensor faults: spikes, stuck sensors and dropouts, each on one variable of one station."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.simulation.climate import DAY_S
from pipeline.simulation.schedule import DailySchedule
from pipeline.variables import VariableSpec

_FAULT_STREAM = 1  # weather draws from stream 0: a day's weather and faults are independent

FAULT_KINDS = ("spike", "stuck", "dropout")
STUCK_SAMPLES = (20, 90)
DROPOUT_SAMPLES = (5, 60)
LONGEST_FAULT = max(STUCK_SAMPLES[1], DROPOUT_SAMPLES[1])

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


@dataclass(frozen=True, slots=True)
class Fault:
    """A sensor fault on one variable over sample steps ``first..last`` (inclusive).

    Steps are ``round(time / interval)``. A spike moves its one sample by ``size`` in direction
    ``sign``, reversed where that would leave the plausible range; other kinds have size 0.
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
        lookback_days = math.ceil((LONGEST_FAULT + 1) * interval / DAY_S) + 1
        super().__init__(seed, keys, _FAULT_STREAM, lookback_days)
        self._variables = variables
        self._targets = list(targets)
        self._stuck_targets = [i for i in targets if variables[i].stuck_check]
        self._rate = faults_per_day
        self._interval = interval

    def between(self, stations: Iterable[int], first: int, last: int) -> list[Fault]:
        """Faults of ``stations`` touching steps ``first..last``, in order of station then step."""
        if not self._targets or self._rate == 0:
            return []
        # A day's margin either side: the day a step falls in is decided by rounding.
        first_day = math.floor((first - LONGEST_FAULT) * self._interval / DAY_S) - 1
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
            targets = self._stuck_targets if kind == "stuck" else self._targets
            if steps <= 0 or not targets:
                continue
            variable = targets[int(u[2] * len(targets))]
            length = {
                "spike": 1,
                "stuck": _samples(STUCK_SAMPLES, u[3]),
                "dropout": _samples(DROPOUT_SAMPLES, u[3]),
            }[kind]
            begin = lowest + int(u[1] * steps)
            faults.append(
                Fault(
                    kind=kind,
                    station=station,
                    variable=variable,
                    first=begin,
                    last=begin + length - 1,
                    size=self._spike_size(variable, u[4]) if kind == "spike" else 0.0,
                    sign=1.0 if u[5] < 0.5 else -1.0,
                )
            )
        return tuple(faults)

    def _spike_size(self, variable: int, u: float) -> float:
        spec = self._variables[variable]
        if spec.name in SPIKE_SIZES:
            low, high = SPIKE_SIZES[spec.name]
        else:
            width = spec.maximum - spec.minimum
            low, high = (fraction * width for fraction in GENERIC_SPIKE_FRACTION)
        return low + (high - low) * u


def _samples(bounds: tuple[int, int], u: float) -> int:
    """An integer in bounds (inclusive) from a uniform draw ``u`` in [0, 1)."""
    return bounds[0] + int(u * (bounds[1] - bounds[0] + 1))
