"""The selected station in detail: its variable panels and the chart of the focused
variable, built from the snapshot's :class:`~pipeline.runtime.StationFocus` and the view's
state. Pure, like :mod:`mass_tui.view`: where the chart's longer history comes from (the
store, read off the UI thread) is the screen's business; what it draws from it is here."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mass_tui.view import ConsoleView, zones
from pipeline.detectors import Threshold, control_band
from pipeline.runtime import PipelineSnapshot
from pipeline.settings import DetectorSettings
from pipeline.threshold_catalogue import CATALOGUE, OWN_UNITS
from pipeline.units import UnitSystem, display_unit, format_value
from pipeline.variables import VariableSpec
from widgets.trend_chart import ChartData
from widgets.variable_panel import PanelData

RECENT_ANOMALY_S = 15 * 60.0  # a panel stays highlighted this long after an anomaly
SPARK_POINTS = 60
ENVELOPE_FROM_S = 6 * 3600.0  # longer chart spans show each minute's range
# The rules' thresholds, one value for every variable they watch: what +/- move by default.
RULE_DETECTORS = CATALOGUE.shared_rules()


def selected_threshold(view: ConsoleView, thresholds: Sequence[Threshold]) -> Threshold | None:
    """The threshold +/- act on: the one chosen in the editor, else the rule (what people
    watch) if one applies, else the first (the z-score)."""
    if not thresholds:
        return None
    chosen = view.chosen_thresholds.get(thresholds[0].variable)
    for threshold in thresholds:
        if threshold.key == chosen:
            return threshold
    rules = [t for t in thresholds if t.detector in RULE_DETECTORS]
    return (rules or list(thresholds))[0]


def amount_text(amount: float, unit: str, variable_unit: str, units: UnitSystem) -> str:
    """A threshold or a detector's statistic as the console shows it: in one of the
    catalogue's :data:`OWN_UNITS` (σ, samples, spacings) as it is; else an amount of the
    variable (``variable_unit``, canonical), in the variable's display unit."""
    if unit in OWN_UNITS:
        return f"{amount:.3g} {unit}"
    return display_unit(variable_unit, units).format_difference(amount, extra_decimals=1)


def threshold_value(threshold: Threshold, spec: VariableSpec, units: UnitSystem) -> str:
    """A threshold's value as the console shows it (:func:`amount_text`)."""
    return amount_text(threshold.value, threshold.unit, spec.unit, units)


def threshold_label(threshold: Threshold | None, spec: VariableSpec, units: UnitSystem) -> str:
    """A panel's threshold line, e.g. ``fall ≥ 3.0 hPa`` (empty: none applies)."""
    if threshold is None:
        return ""
    name = CATALOGUE.short_label(threshold.detector, threshold.parameter)
    return f"{name} {threshold_value(threshold, spec, units)}"


def panels(snap: PipelineSnapshot, view: ConsoleView) -> list[PanelData]:
    """Each variable's panel for the selected station; none until there is one."""
    focus = snap.focus
    if focus is None:
        return []
    recent = {
        a.variable
        for a in snap.anomalies
        if a.station_id == focus.station_id and a.observed_at >= snap.now - RECENT_ANOMALY_S
    }
    recent |= {a.variable for a in snap.alerts if a.station_id == focus.station_id and a.is_open}
    shown = []
    for column, spec in enumerate(snap.variables):
        series = focus.values[:, column] if len(focus.values) else np.empty(0)
        series = series[~np.isnan(series)]
        unit = display_unit(spec.unit, view.units)
        history = np.asarray(unit.convert(series[-SPARK_POINTS:]), dtype=float)
        z = float(focus.zscores[column]) if column < len(focus.zscores) else math.nan
        threshold = selected_threshold(view, snap.thresholds.get(spec.name, []))
        shown.append(
            PanelData(
                variable=spec.name,
                label=spec.label,
                value=format_value(series[-1] if len(series) else math.nan, spec.unit, view.units),
                trend=trend(series, spec.resolution),
                zscore=None if math.isnan(z) else z,
                threshold=threshold_label(threshold, spec, view.units),
                history=tuple(history.tolist()),
                anomalous=spec.name in recent,
            )
        )
    return shown


def trend(series: np.ndarray, resolution: float) -> str:
    """Compare the mean of the last five readings with the five before them."""
    if len(series) < 10:
        return ""
    change = float(np.mean(series[-5:]) - np.mean(series[-10:-5]))
    if abs(change) < 2 * resolution:
        return "→"
    return "↑" if change > 0 else "↓"


def chart(
    snap: PipelineSnapshot,
    view: ConsoleView,
    times: np.ndarray,
    series: np.ndarray,
    detectors: DetectorSettings,
) -> ChartData:
    """The focused variable's chart over the view's span: ``times``/``series`` are its
    readings (the recent history, or the store's with a lead-in that warms the EWMA band up
    by the left edge; minute ranges for the longest spans, which get no band)."""
    spec = next(v for v in snap.variables if v.name == view.variable)
    since = snap.now - view.span_s
    envelope = view.span_s > ENVELOPE_FROM_S
    known = ~np.isnan(series)
    times, series = times[known], series[known]
    station = next((s.name for s in snap.stations if s.station_id == view.station_id), "")
    unit = display_unit(spec.unit, view.units)
    title = f"{station} · {spec.label} · last {view.span_label}"
    bands: tuple[np.ndarray | None, ...] = (None, None, None)
    if spec.statistical and len(times) and not envelope:
        bands = control_band(
            times, series, detectors.ewma, spec.resolution, max_gap_s=detectors.max_gap_s
        )
    inside = times >= since
    times, series = times[inside], series[inside]
    ewma, lower, upper = (
        None if band is None else np.asarray(unit.convert(band[inside]), dtype=float)
        for band in bands
    )
    lines = tuple(
        (f"{t.detector} {t.parameter.split('_')[0]}", float(unit.convert(t.value)))
        for t in snap.thresholds.get(view.variable, [])
        if t.detector == "gust"
    )
    markers = tuple(
        (a.observed_at, float(unit.convert(a.value)))
        for a in snap.anomalies
        if a.station_id == view.station_id
        and a.variable == view.variable
        and a.observed_at >= since
    )
    return ChartData(
        title,
        unit.symbol,
        snap.now,
        view.span_s,
        times,
        np.asarray(unit.convert(series), dtype=float),
        ewma,
        lower,
        upper,
        lines,
        markers,
        zones(snap, view.time_shown)(view.station_id),
    )
