"""The API's JSON documents, as msgspec structs: encoded by msgspec, and described in the
OpenAPI document by ``msgspec.json.schema_components`` from the same definitions, so the
document cannot drift from what is sent."""

from __future__ import annotations

import math

import msgspec

from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.detectors import Threshold
from pipeline.health import WorkerHealth
from pipeline.rollup import PeriodStats
from pipeline.times import iso_utc


class Doc(msgspec.Struct, kw_only=True, omit_defaults=False):
    pass


class Error(Doc):
    error: str


class Worker(Doc):
    name: str
    state: str
    detail: str


class Health(Doc):
    status: str  # ok | failing
    role: str
    workers: list[Worker]
    problems: list[str]


class StationState(Doc):
    id: str
    name: str
    latitude: float | None
    longitude: float | None
    elevation_m: float | None
    latest_at: str | None
    latest: dict[str, float | None]
    state: str  # ok | advisory | warning | no data
    open_alerts: int
    silenced_until: str | None


class Point(Doc):
    t: str
    value: float


class RolledPoint(Doc):
    t: str
    count: int
    min: float
    mean: float
    max: float


class Series(Doc):
    station: str
    variable: str
    unit: str
    step_s: float  # 0: the readings themselves
    points: list[Point] = []
    periods: list[RolledPoint] = []


class AnomalyDoc(Doc):
    station_id: str
    variable: str
    value: float | None
    detector: str
    score: float | None
    threshold: float | None
    observed_at: str
    statistic: float | None
    quantity: float | None
    severity: str | None
    event_start: str | None


class AlertDoc(Doc):
    id: int
    station_id: str
    rule: str
    variable: str
    severity: str
    state: str
    opened_at: str
    updated_at: str
    value: float | None
    quantity: float | None
    threshold: float | None
    cleared_at: str | None
    acknowledged_by: str | None
    acknowledged_at: str | None
    silenced_until: str | None
    silenced_by: str | None
    last_transition: str


class AlertsChanged(Doc):
    changed: list[AlertDoc]


class SilenceRequest(Doc):
    minutes: float = 60.0


class ThresholdDoc(Doc):
    detector: str
    parameter: str
    variable: str
    value: float
    step: float
    unit: str
    setting: str


class ThresholdUpdate(Doc):
    detector: str
    parameter: str
    variable: str
    value: float


class ThresholdChanged(Doc):
    setting: str
    value: float
    saved: bool
    note: str
    thresholds: list[ThresholdDoc]


class StatsRow(Doc):
    station: str
    variable: str
    period_start: str
    count: int
    min: float
    mean: float
    max: float
    stddev: float | None


class Stats(Doc):
    period: str
    rows: list[StatsRow]


DOCUMENTS = (
    Error,
    Health,
    StationState,
    Series,
    AnomalyDoc,
    AlertDoc,
    AlertsChanged,
    SilenceRequest,
    ThresholdDoc,
    ThresholdUpdate,
    ThresholdChanged,
    Stats,
)


def number(value: float | None) -> float | None:
    """JSON has no NaN: an unknown value is null."""
    return None if value is None or math.isnan(value) else float(value)


def anomaly_doc(a: Anomaly) -> AnomalyDoc:
    return AnomalyDoc(
        station_id=a.station_id,
        variable=a.variable,
        value=number(a.value),
        detector=a.detector,
        score=number(a.score),
        threshold=number(a.threshold),
        observed_at=iso_utc(a.observed_at) or "",
        statistic=number(a.statistic),
        quantity=number(a.quantity),
        severity=a.severity,
        event_start=iso_utc(a.event_start),
    )


def alert_doc(a: Alert) -> AlertDoc:
    return AlertDoc(
        id=a.id,
        station_id=a.station_id,
        rule=a.rule,
        variable=a.variable,
        severity=a.severity,
        state=a.state,
        opened_at=iso_utc(a.opened_at) or "",
        updated_at=iso_utc(a.updated_at) or "",
        value=number(a.value),
        quantity=number(a.quantity),
        threshold=number(a.threshold),
        cleared_at=iso_utc(a.cleared_at),
        acknowledged_by=a.acknowledged_by,
        acknowledged_at=iso_utc(a.acknowledged_at),
        silenced_until=iso_utc(a.silenced_until),
        silenced_by=a.silenced_by,
        last_transition=a.last_transition,
    )


def threshold_doc(t: Threshold, setting: str) -> ThresholdDoc:
    return ThresholdDoc(
        detector=t.detector,
        parameter=t.parameter,
        variable=t.variable,
        value=t.value,
        step=t.step,
        unit=t.unit,
        setting=setting,
    )


def stats_row(s: PeriodStats) -> StatsRow:
    return StatsRow(
        station=s.station_id,
        variable=s.variable,
        period_start=iso_utc(s.start) or "",
        count=s.count,
        min=s.minimum,
        mean=s.mean,
        max=s.maximum,
        stddev=number(s.stddev),
    )


def worker_doc(w: WorkerHealth) -> Worker:
    return Worker(name=w.name, state=w.state, detail=w.detail)
