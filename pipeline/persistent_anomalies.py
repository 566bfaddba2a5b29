"""An alert for a station whose statistical anomalies persist (optional, ``[alerts.persistence]``).

One z-score or CUSUM alarm is a curiosity; ``count`` of them at one station within
``window_min`` is a sensor or a situation someone should look at. This turns such a run into a
rule-like anomaly (detector ``persistent_anomalies``, variable ``*``) that the alert book opens
an alert for, and keeps it holding while the run lasts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from pipeline.alerts import RULES
from pipeline.anomaly import Anomaly
from pipeline.detectors.quality import QC_DETECTORS

PERSISTENT = "persistent_anomalies"


class PersistenceWatch:
    def __init__(self, *, enabled: bool, count: int, window_s: float) -> None:
        self.enabled = enabled
        self.count = count
        self.window_s = window_s
        self._times: dict[str, deque[float]] = {}

    def forget(self, station_ids: list[str]) -> None:
        for station_id in station_ids:
            self._times.pop(station_id, None)

    def observe(self, anomalies: Iterable[Anomaly]) -> list[Anomaly]:
        """Rule-like anomalies for stations whose run of statistical anomalies reached
        ``count`` within the window."""
        if not self.enabled:
            return []
        raised = []
        for anomaly in anomalies:
            if anomaly.detector in RULES or anomaly.detector in QC_DETECTORS:
                continue  # weather has its own alerts; a sensor fault is no weather
            times = self._times.setdefault(anomaly.station_id, deque())
            times.append(anomaly.observed_at)
            while times and times[0] < anomaly.observed_at - self.window_s:
                times.popleft()
            if len(times) >= self.count:
                raised.append(
                    Anomaly(
                        station_id=anomaly.station_id,
                        variable="*",
                        value=float(len(times)),
                        detector=PERSISTENT,
                        score=len(times) / (len(times) + self.count),
                        threshold=float(self.count),
                        observed_at=anomaly.observed_at,
                        statistic=float(len(times)),
                        quantity=float(len(times)),
                        severity="advisory",
                    )
                )
        return raised

    def holding(self, now: float) -> set[tuple[str, str, str]]:
        """Stations whose run still counts ``count`` anomalies within the window of ``now``."""
        if not self.enabled:
            return set()
        held = set()
        for station_id, times in self._times.items():
            while times and times[0] < now - self.window_s:
                times.popleft()
            if len(times) >= self.count:
                held.add((station_id, PERSISTENT, "*"))
        return held
