"""One anomaly per event: a burst of alarms on one series is one row of the log.

A storm front sets off the z-score, the EWMA chart and the CUSUM on the same pressure series
within minutes, and the rules re-arm and fire again as a gusty spell goes on: each is a true
alarm, but a log of a dozen rows for one event buries the next one. So the alarms of one
series and one kind (the statistical detectors together; each rule, each sensor check on its
own) that follow each other within ``gap_s`` of observed time are one event:

* its first alarm is told at once, as it always was;
* a later one is told only if it is the event's new peak (a higher score, or a higher
  severity: an advisory that becomes a warning), carrying the event's start in
  ``event_start``: the log replaces the event's row with it;
* the rest are folded in silently.

Alerts are not grouped here: the alert book sees every rule anomaly (it has its own
hysteresis), and so do the persistence and maintenance watches. ``mass-tui score`` scores every
row as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from pipeline.alerts import SEVERITY_RANK
from pipeline.anomaly import Anomaly
from pipeline.detector_axis import STATISTICAL

EventKey = tuple[str, str, str]  # station id, variable, kind


def event_kind(detector: str) -> str:
    """The statistical detectors' alarms on one series make events together; the rest each
    their own."""
    return "statistical" if detector in STATISTICAL else detector


def event_key(anomaly: Anomaly) -> tuple[str, str, str, float]:
    """Which event an anomaly is of: the same for an event's first anomaly and its peaks."""
    start = anomaly.observed_at if anomaly.event_start is None else anomaly.event_start
    return (anomaly.station_id, anomaly.variable, event_kind(anomaly.detector), start)


@dataclass(slots=True)
class _Event:
    start: float
    last: float
    peak: float
    severity: int  # the highest so far, as SEVERITY_RANK ranks it


class EventGrouper:
    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._open: dict[EventKey, _Event] = {}

    def group(self, anomalies: Iterable[Anomaly]) -> list[Anomaly]:
        """The anomalies to tell, in time order: each event's first, then its new peaks."""
        told = []
        for anomaly in sorted(anomalies, key=lambda a: a.observed_at):
            key = (anomaly.station_id, anomaly.variable, event_kind(anomaly.detector))
            event = self._open.get(key)
            severity = SEVERITY_RANK.get(anomaly.severity or "", 0)
            if event is None or anomaly.observed_at - event.last > self.gap_s:
                self._open[key] = _Event(
                    anomaly.observed_at, anomaly.observed_at, anomaly.score, severity
                )
                told.append(anomaly)
                continue
            event.last = max(event.last, anomaly.observed_at)
            if severity > event.severity or (
                severity == event.severity and anomaly.score > event.peak
            ):
                event.peak, event.severity = anomaly.score, severity
                told.append(msgspec.structs.replace(anomaly, event_start=event.start))
        return told

    def close_before(self, now: float) -> None:
        """Forget the events that ended more than ``gap_s`` before ``now``: they are over."""
        ended = [key for key, event in self._open.items() if event.last < now - self.gap_s]
        for key in ended:
            del self._open[key]

    def forget(self, station_ids: list[str]) -> None:
        gone = set(station_ids)
        for key in [key for key in self._open if key[0] in gone]:
            del self._open[key]
