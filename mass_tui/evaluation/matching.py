"""Anomalies matched with labelled events: recall per event kind, precision per detector,
false alarms per station-day, detection delay, and a windowed score that rewards early
detection and penalises false alarms.

An anomaly is *explained* by an event on its station (the whole station's, or its variable's)
between the event's start and ``grace`` after its end: a frozen sensor that recovers jumps
back, a spike lingers in the rolling window. An event is *detected* when an anomaly of a
detector that can report it explains it: a front, a pressure fall or a squall only by a rule
(a z-score on a front is not a weather warning); a fault or a windy or calm spell by any.
Every anomaly that no event explains is a false alarm. Per kind, precision is over the
anomalies of the detectors that report that kind, so a noisy z-score does not lower the
pressure-fall rule's figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.alerts import NO_DATA
from pipeline.anomaly import Anomaly
from pipeline.detector_axis import DETECTORS, GAP, RULE_NAMES, STUCK
from pipeline.detectors.consistency import partners
from pipeline.detectors.quality import QC_DETECTORS
from pipeline.events import event_key
from pipeline.settings import QcSettings
from pipeline.simulation.station_simulator import LabelledEvent

WEATHER_RULES = frozenset(RULE_NAMES)
DEFAULT_QC = QcSettings()  # the pairs the evaluation's runs check (it runs the defaults)
SENSOR_CHECKS = frozenset({*QC_DETECTORS, DETECTORS[STUCK], DETECTORS[GAP], NO_DATA})
WARNING_KINDS = frozenset({"frontal_passage", "squall", "pressure_fall"})
"""Weather a rule is there to warn of: only a rule's anomaly counts as detecting it."""
FAULT_KINDS = frozenset({"spike", "step", "drift", "stuck", "dropout"})
UNJUDGED_KINDS = frozenset({"splice"})
"""Events that explain anomalies but need not be detected: the seams of a spliced record."""

# The windowed score, after the Numenta Anomaly Benchmark's standard profile (Lavin and
# Ahmad 2015): a detection at an event's start earns almost 1, one at its end 0; a missed
# event costs 1, each false alarm 0.11. Normalised so that detecting nothing scores 0 and
# detecting every event at its start 100.
TRUE_POSITIVE_WEIGHT = 1.0
FALSE_POSITIVE_WEIGHT = 0.11
MISS_WEIGHT = 1.0


def family(detector: str) -> str:
    """weather, sensor or statistical: what kind of report an anomaly of ``detector`` is."""
    if detector in WEATHER_RULES:
        return "weather"
    if detector in SENSOR_CHECKS:
        return "sensor"
    return "statistical"


def reports(detector: str, kind: str) -> bool:
    """Whether an anomaly of ``detector`` counts as reporting an event of ``kind``."""
    if kind in WARNING_KINDS:
        return detector in WEATHER_RULES
    return True


@dataclass(slots=True)
class KindFigures:
    events: int = 0
    detected: int = 0
    delays: list[float] = field(default_factory=list)
    true_anomalies: int = 0  # anomalies of its reporting detectors that it explains
    false_anomalies: int = 0  # false alarms of those detectors

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else math.nan

    @property
    def precision(self) -> float:
        total = self.true_anomalies + self.false_anomalies
        return self.true_anomalies / total if total else math.nan

    def as_dict(self) -> dict[str, object]:
        return {
            "events": self.events,
            "detected": self.detected,
            "recall": _round(self.recall),
            "precision": _round(self.precision),
            "f1": _round(f1(self.precision, self.recall)),
            "median_delay_s": float(np.median(self.delays)) if self.delays else None,
        }


@dataclass(slots=True)
class Matched:
    """Events and anomalies of one run, matched."""

    by_kind: dict[str, KindFigures]
    by_detector: dict[str, list[int]]  # detector -> [explained, false]
    false_alarms: int
    anomalies: int
    station_days: float
    windowed_score: float

    def as_dict(self) -> dict[str, object]:
        explained = self.anomalies - self.false_alarms
        recall_hits = sum(k.detected for k in self.by_kind.values())
        recall_total = sum(k.events for k in self.by_kind.values())
        delays = [d for figures in self.by_kind.values() for d in figures.delays]
        precision = explained / self.anomalies if self.anomalies else math.nan
        recall = recall_hits / recall_total if recall_total else math.nan
        return {
            "anomalies": self.anomalies,
            "false_alarms": self.false_alarms,
            "false_alarms_per_station_day": _round(
                self.false_alarms / self.station_days if self.station_days else math.nan
            ),
            "precision": _round(precision),
            "recall": _round(recall),
            "f1": _round(f1(precision, recall)),
            "windowed_score": _round(self.windowed_score, 1),
            "median_delay_s": float(np.median(delays)) if delays else None,
            "by_kind": {kind: f.as_dict() for kind, f in sorted(self.by_kind.items())},
            "by_detector": {
                name: {"explained": counts[0], "false": counts[1]}
                for name, counts in sorted(self.by_detector.items())
            },
        }


def weather_alarms_on_faults(
    events: Sequence[LabelledEvent], anomalies: Iterable[Anomaly], grace: float
) -> int:
    """Weather-rule anomalies that a sensor fault explains and no weather event does: a
    fault taken for weather (the target is none)."""
    faults = [e for e in events if e.kind in FAULT_KINDS]
    weather = [e for e in events if e.kind not in FAULT_KINDS]
    return sum(
        anomaly.detector in WEATHER_RULES
        and any(explains(e, anomaly, grace) for e in faults)
        and not any(explains(e, anomaly, grace) for e in weather)
        for anomaly in anomalies
    )


def f1(precision: float, recall: float) -> float:
    if math.isnan(precision) or math.isnan(recall) or precision + recall == 0:
        return math.nan
    return 2 * precision * recall / (precision + recall)


def explains(event: LabelledEvent, anomaly: Anomaly, grace: float) -> bool:
    """Whether ``event`` caused ``anomaly``: at its station and variable, while it lasted or
    within ``grace`` after. An inconsistent pair is the fault of either of its readings."""
    variables = {"*", anomaly.variable}
    if anomaly.detector == "inconsistent":
        variables |= partners(anomaly.variable, DEFAULT_QC)
    return (
        event.station_id == anomaly.station_id
        and event.variable in variables
        and event.start <= anomaly.observed_at <= event.end + grace
    )


def match(
    events: Sequence[LabelledEvent],
    anomalies: Iterable[Anomaly],
    *,
    grace: float,
    run: tuple[float, float],
    station_days: float,
) -> Matched:
    """Recall counts events wholly inside ``run`` (one cut off at either end cannot be
    judged); every event, cut off or not, explains the anomalies it causes."""
    anomalies = list(anomalies)
    # Every anomaly can detect an event, but false alarms and precision count what the log
    # shows: one row per burst (pipeline.events), by its first anomaly.
    first_of_burst: dict[tuple, Anomaly] = {}
    for anomaly in sorted(anomalies, key=lambda a: a.observed_at):
        first_of_burst.setdefault(event_key(anomaly), anomaly)
    shown = {id(a) for a in first_of_burst.values()}
    by_station: dict[str, list[LabelledEvent]] = defaultdict(list)
    for event in events:
        by_station[event.station_id].append(event)
    by_kind: dict[str, KindFigures] = defaultdict(KindFigures)
    by_detector: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    first_report: dict[int, float] = {}
    false_by_detector: dict[str, int] = defaultdict(int)
    for anomaly in anomalies:
        causes = [e for e in by_station[anomaly.station_id] if explains(e, anomaly, grace)]
        if id(anomaly) in shown:
            by_detector[anomaly.detector][0 if causes else 1] += 1
            if not causes:
                false_by_detector[anomaly.detector] += 1
            for kind in {e.kind for e in causes if reports(anomaly.detector, e.kind)}:
                by_kind[kind].true_anomalies += 1
        for event in causes:
            if reports(anomaly.detector, event.kind):
                key = id(event)
                first_report[key] = min(first_report.get(key, math.inf), anomaly.observed_at)
    judged = [
        e for e in events if e.start >= run[0] and e.end <= run[1] and e.kind not in UNJUDGED_KINDS
    ]
    score = 0.0
    for event in judged:
        figures = by_kind[event.kind]
        figures.events += 1
        found = first_report.get(id(event))
        if found is None:
            score -= MISS_WEIGHT
            continue
        figures.detected += 1
        figures.delays.append(found - event.start)
        score += TRUE_POSITIVE_WEIGHT * _early(found, event.start, event.end + grace)
    for kind, figures in by_kind.items():
        figures.false_anomalies = sum(
            n for detector, n in false_by_detector.items() if reports(detector, kind)
        )
    false_alarms = sum(false_by_detector.values())
    score -= FALSE_POSITIVE_WEIGHT * false_alarms
    null, perfect = -MISS_WEIGHT * len(judged), TRUE_POSITIVE_WEIGHT * _early(0, 0, 1) * len(judged)
    windowed = 100 * (score - null) / (perfect - null) if judged else math.nan
    return Matched(
        dict(by_kind), dict(by_detector), false_alarms, len(shown), station_days, windowed
    )


def _early(found: float, start: float, end: float) -> float:
    """NAB's scaled sigmoid: about 1 for a detection at the window's start, 0 at its end."""
    width = max(end - start, 1e-9)
    y = (found - end) / width  # -1 at the start, 0 at the end
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def _round(value: float, digits: int = 4) -> float | None:
    return None if math.isnan(value) else round(value, digits)
