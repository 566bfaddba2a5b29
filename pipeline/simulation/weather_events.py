"""Weather events: frontal passages and windy or calm spells."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.simulation.climate import DAY_S, HOUR_S
from pipeline.simulation.schedule import DailySchedule

_WEATHER_STREAM = 0  # faults draw from stream 1: a day's weather and faults are independent

# A front falls 5-12 hPa in 2-4 h at no less than 1.6 hPa/h: even its gentlest 3 h then fall
# more than 3.5 hPa (the advisory threshold, after Met Office tendency terms) on top of the
# at most 1.2 hPa the background pressure waves can rise in that time.
MIN_FALL_HPA_PER_H = 1.6
FALL_H = (2.0, 4.0)
RECOVERY_H = (4.0, 10.0)
SPELL_H = (3.0, 12.0)
LONGEST_WEATHER_S = max(FALL_H[1] + RECOVERY_H[1], SPELL_H[1]) * HOUR_S


@dataclass(frozen=True, slots=True)
class Front:
    """A frontal passage: pressure falls to a trough and recovers; wind, cooling and rain peak
    at the trough, and the wind veers (backs in the southern hemisphere)."""

    station: int
    start: float
    depth_hpa: float
    fall_s: float
    recovery_s: float
    wind_ms: float
    cooling_c: float
    rain_mm_h: float
    rain_s: float
    veer_deg: float

    @property
    def end(self) -> float:
        return self.start + self.fall_s + self.recovery_s

    def shape(self, times: np.ndarray) -> np.ndarray:
        """0 at the start, 1 at the trough, 0 at the end: half-cosines down and back up."""
        since = times - self.start
        falling = 0.5 * (1.0 - np.cos(np.pi * np.clip(since / self.fall_s, 0.0, 1.0)))
        rising = 0.5 * (
            1.0 + np.cos(np.pi * np.clip((since - self.fall_s) / self.recovery_s, 0.0, 1.0))
        )
        return np.where(since <= self.fall_s, falling, rising)

    def rain_mm(self, times: np.ndarray, interval: float) -> np.ndarray:
        """Rain in each sample's interval (t - interval, t], from a burst centred on the trough."""
        rain_start = self.start + self.fall_s - 0.5 * self.rain_s
        wet_s = np.minimum(times, rain_start + self.rain_s) - np.maximum(
            times - interval, rain_start
        )
        return self.rain_mm_h * np.clip(wet_s, 0.0, None) / HOUR_S


@dataclass(frozen=True, slots=True)
class Spell:
    """A windy spell (``magnitude`` m/s added) or a calm one (wind held near ``magnitude``)."""

    station: int
    start: float
    end: float
    windy: bool
    magnitude: float

    def weight(self, times: np.ndarray) -> np.ndarray:
        """0 at both ends, 1 in between, with smooth ramps of up to an hour."""
        ramp = min(HOUR_S, 0.25 * (self.end - self.start))
        edge = np.clip(np.minimum(times - self.start, self.end - times) / ramp, 0.0, 1.0)
        return edge * edge * (3.0 - 2.0 * edge)


class WeatherSchedule(DailySchedule[Front | Spell]):
    """Fronts and wind spells at Poisson rates per station and day.

    Two fronts never overlap on a station (the recovery of one would hide the fall of the
    next from the pressure-fall rule), nor do two spells (calm and windy would contradict);
    a spell may run through a front, whose wind then blows on top of it.
    """

    def __init__(
        self,
        seed: int,
        keys: np.ndarray,
        latitudes: np.ndarray,
        fronts_per_day: float,
        spells_per_day: float,
    ) -> None:
        super().__init__(seed, keys, _WEATHER_STREAM, math.ceil(LONGEST_WEATHER_S / DAY_S))
        self._hemisphere = np.where(latitudes >= 0, 1.0, -1.0).tolist()
        fronts_h = sum(FALL_H) / 2 + sum(RECOVERY_H) / 2
        spells = _drawn_rate(2 * spells_per_day, sum(SPELL_H) / 2 / 24.0) / 2
        self._rates = [_drawn_rate(fronts_per_day, fronts_h / 24.0), spells, spells]
        self._injected: tuple[Front, ...] = ()

    def inject(self, front: Front) -> None:
        # Replaced, not appended in place: a generate() running in another thread keeps
        # the tuple it already read.
        self._injected = (*self._injected, front)

    def between(self, stations: Iterable[int], start: float, end: float) -> list[Front | Spell]:
        """Events of ``stations`` overlapping [start, end], in order of station then start."""
        # A day's margin early: a start drawn at the very end of a day may round into the next.
        first_day = math.floor((start - LONGEST_WEATHER_S) / DAY_S) - 1
        days = [self.kept_on(day) for day in range(first_day, math.floor(end / DAY_S) + 1)]
        injected = self._injected
        found: list[Front | Spell] = []
        for station in stations:
            own = [front for front in injected if front.station == station]
            events = [
                event
                for day in days
                for event in day[station]
                if not any(_clash(event, front) for front in own)
            ]
            found.extend(
                event
                for event in sorted(own + events, key=lambda e: e.start)
                if event.end >= start and event.start <= end
            )
        return found

    def _start(self, event: Front | Spell) -> float:
        return event.start

    def _reach(self, event: Front | Spell) -> float:
        return event.end

    def _group(self, event: Front | Spell) -> Hashable:
        # mypy checks a class object against Hashable by its instances' unbound __hash__
        return type(event)  # type: ignore[return-value]

    def _draw(self, rng: np.random.Generator, station: int, day: int) -> tuple[Front | Spell, ...]:
        n_fronts, n_windy, n_calm = rng.poisson(self._rates)
        day_start = day * DAY_S
        events: list[Front | Spell] = []
        for u in rng.random((n_fronts, 9)).tolist():
            depth = 5.0 + 7.0 * u[1]
            slowest_h = min(FALL_H[1], depth / MIN_FALL_HPA_PER_H)
            events.append(
                Front(
                    station=station,
                    start=day_start + u[0] * DAY_S,
                    depth_hpa=depth,
                    fall_s=_scale((FALL_H[0], slowest_h), u[2]) * HOUR_S,
                    recovery_s=_scale(RECOVERY_H, u[3]) * HOUR_S,
                    wind_ms=_scale((5.0, 12.0), u[4]),
                    cooling_c=_scale((3.0, 8.0), u[5]),
                    rain_mm_h=_scale((1.0, 6.0), u[6]),
                    rain_s=_scale((1.0, 3.0), u[7]) * HOUR_S,
                    veer_deg=_scale((30.0, 90.0), u[8]) * self._hemisphere[station],
                )
            )
        for windy, count in ((True, n_windy), (False, n_calm)):
            for u in rng.random((count, 3)).tolist():
                begin = day_start + u[0] * DAY_S
                end = begin + _scale(SPELL_H, u[1]) * HOUR_S
                magnitude = _scale((4.0, 10.0) if windy else (0.3, 1.0), u[2])
                events.append(Spell(station, begin, end, windy, magnitude))
        return tuple(events)

    def injected_front(
        self, station: int, start: float, depth_hpa: float, fall_hours: float
    ) -> Front:
        """A front of the given depth and fall time, its other traits scaled from the depth."""
        return Front(
            station=station,
            start=start,
            depth_hpa=depth_hpa,
            fall_s=fall_hours * HOUR_S,
            recovery_s=float(np.clip(2.5 * fall_hours, *RECOVERY_H)) * HOUR_S,
            wind_ms=float(np.clip(depth_hpa, 5.0, 12.0)),
            cooling_c=float(np.clip(0.6 * depth_hpa, 3.0, 8.0)),
            rain_mm_h=3.0,
            rain_s=min(2.0, fall_hours) * HOUR_S,
            veer_deg=60.0 * self._hemisphere[station],
        )


def _scale(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _drawn_rate(rate: float, mean_days: float) -> float:
    """The rate to draw at for ``rate`` per day to remain once overlaps are dropped.

    An event survives when no earlier Poisson arrival is still running, which happens with
    probability exp(-drawn * mean duration); the surviving rate x * exp(-x * m) rises only up
    to x = 1 / m, where a rate too dense to fit without overlaps is capped.
    """
    densest = 1.0 / mean_days
    if rate <= 0.0:
        return 0.0
    if rate >= densest * math.exp(-1.0):
        return densest
    low, high = rate, densest
    for _ in range(50):
        middle = 0.5 * (low + high)
        low, high = (
            (middle, high) if middle * math.exp(-middle * mean_days) < rate else (low, middle)
        )
    return high


def _clash(event: Front | Spell, front: Front) -> bool:
    """Whether a drawn event must give way to an injected front: fronts exclude each other."""
    return isinstance(event, Front) and event.start <= front.end and front.start <= event.end
