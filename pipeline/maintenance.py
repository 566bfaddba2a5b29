"""Maintenance alerts: a sensor fault that persists is an alert of its own kind, never weather.

Quality control and the stuck check report a fault once, as an anomaly of the log. Someone has
to go and fix a sensor that stays frozen, that stepped to a new level, or that keeps spiking;
so each becomes an advisory of a maintenance rule, which the alert panel shows, notifications
send, and the bell never rings for (it is not a warning):

* ``frozen_sensor`` while the stuck check holds (the sensor repeats one value for longer than
  ``detectors.stuck.min_hours``), cleared once it moves again;
* ``sensor_step`` for ``window_hours`` after a level shift that did not recover (a sensor
  swapped, re-calibrated or broken: its readings may all be wrong by the step);
* ``repeated_spikes`` while a series has had ``spikes`` or more spikes within ``window_hours``
  (one glitch is a curiosity, a pattern is a loose connection);
* ``implausible_readings`` and ``inconsistent_readings`` while a series' readings are
  impossible at the station's height or beside the message's others (see
  :mod:`pipeline.detectors.consistency`), cleared once they are sound again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TypeVar

import msgspec

from pipeline.anomaly import Anomaly
from pipeline.settings import SensorFaultSettings

FROZEN, STEPPED, SPIKING = "frozen_sensor", "sensor_step", "repeated_spikes"
IMPLAUSIBLE, INCONSISTENT = "implausible_readings", "inconsistent_readings"
REPEATED = {"spike": SPIKING}
"""Faults a single one of which is a curiosity: the rule a pattern of them raises."""
WHILE_HELD = {"implausible": IMPLAUSIBLE, "inconsistent": INCONSISTENT}
"""Faults that are a condition while their run of readings lasts: the rule it holds."""
MAINTENANCE_RULES = frozenset({FROZEN, STEPPED, *REPEATED.values(), *WHILE_HELD.values()})

Series = tuple[str, str]  # (station id, variable)
K = TypeVar("K", bound=tuple[str, ...])  # a key led by the station id
V = TypeVar("V")


class SensorFaultWatch:
    def __init__(self, settings: SensorFaultSettings) -> None:
        self.enabled = settings.enabled
        self.spikes = settings.spikes
        self.window_s = settings.window_hours * 3600.0
        self._repeats: dict[tuple[str, str, str], deque[float]] = {}  # (*series, rule)
        self._steps: dict[Series, float] = {}  # when each series last stepped

    def observe(self, anomalies: Iterable[Anomaly]) -> list[Anomaly]:
        """The maintenance conditions ``anomalies`` raise, as rule-like anomalies."""
        if not self.enabled:
            return []
        raised = []
        for anomaly in anomalies:
            series = (anomaly.station_id, anomaly.variable)
            if anomaly.detector == "stuck":
                raised.append(_condition(anomaly, FROZEN, anomaly.statistic))
            elif anomaly.detector in WHILE_HELD:
                raised.append(_condition(anomaly, WHILE_HELD[anomaly.detector], anomaly.statistic))
            elif anomaly.detector == "step":
                self._steps[series] = anomaly.observed_at
                raised.append(_condition(anomaly, STEPPED, anomaly.quantity or 0.0))
            elif anomaly.detector in REPEATED:
                rule = REPEATED[anomaly.detector]
                times = self._repeats.setdefault((*series, rule), deque())
                times.append(anomaly.observed_at)
                _drop_before(times, anomaly.observed_at - self.window_s)
                if len(times) >= self.spikes:
                    raised.append(_condition(anomaly, rule, float(len(times))))
        return raised

    def holding(
        self, now: float, frozen: set[Series], faulty: set[tuple[str, str, str]]
    ) -> set[tuple[str, str, str]]:
        """(station, rule, variable) of every maintenance condition that still holds at
        ``now``; ``frozen``: the series whose stuck check holds, ``faulty``: (station,
        detector, variable) of the runs of implausible or inconsistent readings open (the
        detector bank knows both)."""
        if not self.enabled:
            return set()
        held = {(station, FROZEN, variable) for station, variable in frozen}
        held |= {(station, WHILE_HELD[kind], variable) for station, kind, variable in faulty}
        for (station, variable), when in list(self._steps.items()):
            if when >= now - self.window_s:
                held.add((station, STEPPED, variable))
            else:
                del self._steps[(station, variable)]
        for (station, variable, rule), times in list(self._repeats.items()):
            _drop_before(times, now - self.window_s)
            if len(times) >= self.spikes:
                held.add((station, rule, variable))
            elif not times:
                del self._repeats[(station, variable, rule)]
        return held

    def forget(self, station_ids: list[str]) -> None:
        gone = set(station_ids)
        _drop_stations(self._repeats, gone)
        _drop_stations(self._steps, gone)


def _drop_stations(table: dict[K, V], gone: set[str]) -> None:
    """Drop the keys of ``gone`` stations (generic: the two tables' keys differ in length)."""
    for key in [k for k in table if k[0] in gone]:
        del table[key]


def _drop_before(times: deque[float], cutoff: float) -> None:
    while times and times[0] < cutoff:
        times.popleft()


def _condition(anomaly: Anomaly, rule: str, quantity: float) -> Anomaly:
    """The fault ``anomaly`` as the rule-like anomaly of a maintenance condition."""
    return msgspec.structs.replace(anomaly, detector=rule, quantity=quantity, severity="advisory")
