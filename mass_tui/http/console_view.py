"""``/api/v1/console``: everything an attached console shows, in one document, so a console
polls one call a refresh (not one per panel). Console and service are the same program, so
this is the pipeline's own snapshot encoded as it is (times as epoch seconds), not a stable
public format: the public endpoints are the documented ones."""

from __future__ import annotations

import math

import msgspec
import numpy as np

from pipeline.alerts import Alert, StationSilence
from pipeline.anomaly import Anomaly
from pipeline.detectors import Threshold
from pipeline.health import Counters, WorkerHealth
from pipeline.runtime import Pipeline, PipelineSnapshot
from pipeline.stations import Station
from pipeline.variables import VariableSpec

RECENT_ANOMALIES = 300


class StationSeries(msgspec.Struct):
    times: list[float]
    values: list[list[float]]  # per reading, per variable
    zscores: list[float]


class ConsoleView(msgspec.Struct, kw_only=True):
    pid: int
    now: float
    source: str
    source_state: str
    bus: str
    bus_depth: int
    bus_state: str
    rate: float
    counters: Counters
    health: list[WorkerHealth]
    stations: list[Station]
    variables: list[VariableSpec]
    latest_time: list[float]
    latest_values: list[list[float]]
    anomalies: list[Anomaly]
    alerts: list[Alert]
    store_error: str | None
    thresholds: dict[str, list[Threshold]]
    silences: dict[str, StationSilence]
    series: dict[str, StationSeries]
    tail_of: str = ""
    tail: list[list[float]] = []  # per station, the newest readings of ``tail_of``


def _spelled(value):
    """NaN and infinities as strings (JSON has neither; msgspec writes NaN as null, which a
    float field refuses): read back by a non-strict decode as the floats they were."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list):
        return [_spelled(v) for v in value]
    if isinstance(value, dict):
        return {k: _spelled(v) for k, v in value.items()}
    return value


def console_view(
    pipeline: Pipeline, series_of: list[str], pid: int, tail_of: str = "", points: int = 0
) -> bytes:
    snap = pipeline.snapshot(tail_of or None, points)
    book = pipeline.analytics.alerts
    series = {}
    for station_id in series_of:
        if pipeline.registry.get(station_id) is None:
            continue
        times, values = pipeline.recent_series(station_id)
        series[station_id] = StationSeries(
            times.tolist(), values.tolist(), pipeline.latest_zscores(station_id).tolist()
        )
    silences = {
        s.station_id: silence
        for s in snap.stations
        if (silence := book.station_silence(s.station_id)) is not None
    }
    view = ConsoleView(
        pid=pid,
        now=snap.now,
        source=snap.source,
        source_state=snap.source_state,
        bus=snap.bus,
        bus_depth=snap.bus_depth,
        bus_state=snap.bus_state,
        rate=snap.rate,
        counters=snap.counters,
        health=snap.health,
        stations=snap.stations,
        variables=list(snap.variables),
        latest_time=snap.latest_time.tolist(),
        latest_values=snap.latest_values.tolist(),
        anomalies=snap.anomalies[:RECENT_ANOMALIES],
        alerts=snap.alerts,
        store_error=snap.store_error,
        thresholds={v.name: pipeline.thresholds(v.name) for v in snap.variables},
        silences=silences,
        series=series,
        tail_of=tail_of if snap.tail.size else "",
        tail=snap.tail.tolist() if snap.tail.size else [],
    )
    return msgspec.json.encode(_spelled(msgspec.to_builtins(view)))


def _array(values: list, width: int | None = None) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    return array.reshape(len(values), width) if width is not None else array


def decode_view(data: bytes) -> ConsoleView:
    return msgspec.json.decode(data, type=ConsoleView, strict=False)


def snapshot_of(view: ConsoleView) -> PipelineSnapshot:
    """The console's snapshot from a service's view (arrays back from lists)."""
    width = len(view.variables)
    return PipelineSnapshot(
        now=view.now,
        source=view.source,
        source_state=view.source_state,
        bus=view.bus,
        bus_depth=view.bus_depth,
        bus_state=view.bus_state,
        rate=view.rate,
        counters=view.counters,
        health=view.health,
        stations=view.stations,
        variables=tuple(view.variables),
        latest_time=_array(view.latest_time),
        latest_values=_array(view.latest_values, width),
        anomalies=view.anomalies,
        alerts=view.alerts,
        store_error=view.store_error,
        tail=_array(view.tail, len(view.tail[0])) if view.tail else np.empty((0, 0)),
    )


def series_arrays(series: StationSeries, width: int) -> tuple[np.ndarray, np.ndarray]:
    return _array(series.times), _array(series.values, width)
