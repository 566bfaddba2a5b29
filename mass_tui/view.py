"""What the console shows, computed from a pipeline snapshot and the view's state: plain
functions with no Textual in them, so the rules (which stations a search keeps, in which
order, what a list's title counts, how an alert is worded) are tested without a running app.

:class:`ConsoleView` is the person's choices (station, variable, span, units, zone, the
list's search and order, the log's filter); the console screen holds it as one reactive and
redraws whenever it changes. The selected station's panels and chart are
:mod:`mass_tui.focus_view`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from mass_tui.anomaly_filter import AnomalyFilter
from pipeline.alerts import NO_DATA, SEVERITY_RANK, Alert
from pipeline.anomaly import Anomaly
from pipeline.events import event_key
from pipeline.maintenance import FROZEN, IMPLAUSIBLE, INCONSISTENT, SPIKING, STEPPED
from pipeline.runtime import PipelineSnapshot
from pipeline.threshold_catalogue import ThresholdKey
from pipeline.times import clock_text, station_zone
from pipeline.units import (
    METRIC,
    QUANTITY_UNITS,
    UnitSystem,
    display_unit,
    unit_choices,
)
from pipeline.variables import VariableSpec
from widgets.alert_panel import AlertRow
from widgets.anomaly_log import AnomalyRow
from widgets.station_list import STATES, StationRow
from widgets.status_bar import StatusLine

SPANS_S = (900.0, 3600.0, 6 * 3600.0, 24 * 3600.0)
SPAN_LABELS = ("15 min", "1 h", "6 h", "24 h")
LOG_ROWS = 200  # more are a filter away (the filter reaches the store)

STATION_ORDERS = (
    "as configured",
    "by name",
    "alerting first",
    "latest anomaly first",
    "no data first",
)
CONDITION_VARIABLES = ("temperature_c", "pressure_msl_hpa", "wind_speed_ms")


@dataclass(frozen=True, slots=True)
class StationListState:
    """How the person has the station list: a search, an order, grouped by state or not."""

    query: str = ""  # the finder's text, case-folded
    order: str = STATION_ORDERS[0]
    grouped: bool = False


@dataclass(frozen=True, slots=True)
class ConsoleView:
    """What the person has chosen to see. Changed only whole (``dataclasses.replace``), so
    one comparison tells the screen to redraw."""

    station_id: str | None  # the selected station (None until there is one)
    variable: str  # the focused variable: the chart's, and the threshold keys' target
    span_index: int = 1  # into SPANS_S
    units: UnitSystem = METRIC  # a preset, or a unit per quantity
    time_shown: str = "utc"  # or "station": each station's local time
    paused: bool = False
    stations: StationListState = field(default_factory=StationListState)
    anomaly_filter: AnomalyFilter = field(default_factory=AnomalyFilter)
    filter_text: str = ""  # the filter as typed, for the log's subtitle
    # The threshold +/- act on, per variable, once one was picked in the editor.
    chosen_thresholds: Mapping[str, ThresholdKey] = field(default_factory=dict)

    @property
    def span_s(self) -> float:
        return SPANS_S[self.span_index]

    @property
    def span_label(self) -> str:
        return SPAN_LABELS[self.span_index]


def age_text(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def zones(snap: PipelineSnapshot, time_shown: str) -> Callable[[str | None], tzinfo]:
    """The zone each station's clock times are shown in: UTC, or the station's own (its
    configured zone, else the one its position lies in)."""
    if time_shown == "utc":
        return lambda station_id: UTC
    by_id = {s.station_id: s for s in snap.stations}  # one index a snapshot, not a scan a row

    def zone(station_id: str | None) -> tzinfo:
        station = by_id.get(station_id or "")
        if station is None:
            return UTC
        return station_zone(station.timezone, station.latitude, station.longitude)

    return zone


def status_line(snap: PipelineSnapshot, view: ConsoleView, running: str) -> StatusLine:
    """The top line. A failing worker, store or source is a problem it names."""
    problems = [
        f"{w.name} {w.state}: {w.detail}" if w.detail else f"{w.name} {w.state}"
        for w in snap.health
        if w.state in ("failed", "stalled", "failing")
    ]
    source_state = snap.source_state
    if source_state.startswith(("retrying", "failing")):  # a failing API is a problem too
        problems.insert(0, f"{snap.source} {source_state}")
        source_state = ""
    hour_ago = snap.now - 3600
    zone = zones(snap, view.time_shown)(view.station_id)
    return StatusLine(
        clock=clock_text(snap.now, zone, date=True) if snap.now > 0 else "no data yet",
        time=clock_text(snap.now, zone, zone_named=True) if snap.now > 0 else "no data yet",
        source=snap.source,
        source_state=source_state,
        bus=snap.bus,
        bus_depth=snap.bus_depth,
        bus_state=snap.bus_state,
        rate=snap.rate,
        anomalies_last_hour=sum(a.observed_at >= hour_ago for a in snap.anomalies),
        problems=tuple(problems),
        paused=view.paused,
        units=units_text(view.units),
        running=running,
    )


def units_text(units: UnitSystem) -> str:
    """A preset's name, or the units that differ from metric ("°F kn")."""
    if isinstance(units, str):
        return units
    changed = [u for q, u in unit_choices(units).items() if u != QUANTITY_UNITS[q][0]]
    return " ".join(changed) or METRIC


def log_rows(
    anomalies: Iterable[Anomaly], snap: PipelineSnapshot, view: ConsoleView
) -> tuple[list[AnomalyRow], dict[str, Anomaly]]:
    """The anomaly log: one row per event, showing its peak (the latest told of it), newest
    first by observed time (a watching console gets them in arrival order, which mixes
    partitions and workers); and each row's key -> its anomaly."""
    zone = zones(snap, view.time_shown)
    peaks: dict[tuple, Anomaly] = {}
    for anomaly in sorted(anomalies, key=lambda a: a.observed_at):
        peaks[event_key(anomaly)] = anomaly
    newest = sorted(peaks.values(), key=lambda a: a.observed_at, reverse=True)[:LOG_ROWS]
    labels = {v.name: v.short_label for v in snap.variables}
    shown = {v.name: display_unit(v.unit, view.units) for v in snap.variables}
    unknown = display_unit("", view.units)
    rows = [
        AnomalyRow(
            key="|".join(map(str, event_key(a))),
            time=clock_text(a.observed_at, zone(a.station_id)),
            station=a.station_id,
            variable=labels.get(a.variable, a.variable),
            value=shown.get(a.variable, unknown).format(a.value),
            detector=a.detector,
            score=a.score,
        )
        for a in newest
    ]
    return rows, {row.key: a for row, a in zip(rows, newest, strict=True)}


def alert_rows(snap: PipelineSnapshot, units: UnitSystem, fault_window_h: float) -> list[AlertRow]:
    return [
        AlertRow(
            alert_id=alert.id,
            severity=alert.severity,
            station=alert.station_id,
            what=alert_text(alert, snap.variables, units, fault_window_h),
            age=age_text(snap.now - alert.opened_at),
            state="silenced"
            if alert.state == "active" and alert.is_silenced(snap.now)
            else alert.state,
        )
        for alert in snap.alerts
    ]


def alert_text(
    alert: Alert,
    variables: Iterable[VariableSpec],
    units: UnitSystem,
    fault_window_h: float,
) -> str:
    """What an alert is about, in a panel's width: "Press fell 6.4 hPa", "Temp sensor
    frozen, 40 repeats". ``fault_window_h``: the window repeated sensor faults are counted
    over (``alerts.sensor_faults.window_hours``)."""
    if alert.rule == "persistent_anomalies":
        return f"{alert.quantity:.0f} anomalies in a row"
    if alert.rule == NO_DATA:
        what = "no data" if alert.variable == "*" else f"no {alert.variable}"
        return f"{what} for {age_text(alert.quantity or 0.0)}"
    spec = next((v for v in variables if v.name == alert.variable), None)
    label = spec.short_label if spec else alert.variable
    quantity = alert.quantity if alert.quantity is not None else alert.value
    if alert.rule == FROZEN:
        return f"{label} sensor frozen, {quantity:.0f} repeats"
    repeated = {SPIKING: "spiking", IMPLAUSIBLE: "impossible", INCONSISTENT: "inconsistent"}
    if alert.rule in repeated:
        window = age_text(fault_window_h * 3600)
        return f"{label} sensor {repeated[alert.rule]}, {quantity:.0f} in {window}"
    # An amount of the variable: a fall, a change, a step (a gust is a speed, which has no
    # offset to get wrong).
    amount = display_unit(spec.unit if spec else "", units).format_difference(quantity)
    if alert.rule == STEPPED:
        return f"{label} sensor step {amount}"
    verb = {"pressure_fall": "fell", "gust": "", "rapid_change": "Δ"}.get(alert.rule, "")
    return " ".join(part for part in (label, verb, amount) if part)


@dataclass(frozen=True, slots=True)
class StationOverview:
    rows: list[StationRow]  # in the order listed
    titles: tuple[str, ...]  # the list's border title, with its counts: longest first

    @property
    def title(self) -> str:
        return self.titles[0]


def station_overview(
    snap: PipelineSnapshot,
    state: StationListState,
    units: UnitSystem,
    *,
    compact: bool = False,
) -> StationOverview:
    """Every station's row (its condition, worst open alert, the snapshot's tail as its
    sparkline unless ``compact``), those the search keeps, in the order asked for."""
    names = [v.name for v in snap.variables]
    worst: dict[str, str] = {}
    for alert in snap.alerts:
        if alert.is_open and SEVERITY_RANK.get(alert.severity, 0) > SEVERITY_RANK.get(
            worst.get(alert.station_id, ""), 0
        ):
            worst[alert.station_id] = alert.severity
    newest_anomaly: dict[str, float] = {}
    for anomaly in snap.anomalies:  # newest first: the first seen per station is its newest
        newest_anomaly.setdefault(anomaly.station_id, anomaly.observed_at)
    # One display unit a column, not one a value: a thousand rows are built each refresh.
    shown_columns = [
        (names.index(n), display_unit(snap.variables[names.index(n)].unit, units))
        for n in CONDITION_VARIABLES
        if n in names
    ]
    rows = []
    for index, station in enumerate(snap.stations):
        parts = []
        if index < len(snap.latest_values):
            for column, unit in shown_columns:
                value = snap.latest_values[index, column]
                if not math.isnan(value):
                    parts.append(unit.format(value))
        latest = snap.latest_time[index] if index < len(snap.latest_time) else math.nan
        # A compact list has no room for the sparkline beside the condition.
        tail = tuple(snap.tail[index].tolist()) if index < len(snap.tail) and not compact else ()
        rows.append(
            StationRow(
                station.station_id,
                station.name,
                " ".join(parts[: 1 if compact else 2]) or "no data yet",
                worst.get(station.station_id),
                stale=math.isnan(latest),
                tail=tail,
                latest_anomaly=newest_anomaly.get(station.station_id, math.nan),
            )
        )
    shown = [r for r in rows if _matches(r, state.query)]
    # The counts are of the stations listed: those a search found, or all of them.
    count = f"{len(shown)}/{len(rows)}" if state.query else f"{len(rows)}"
    alerting = sum(r.alert is not None for r in shown)
    stale = sum(r.stale for r in shown)

    def title(prefix: str, alert_word: str, with_stale: bool) -> str:
        parts = [prefix + count]
        if alerting:
            parts.append(f"{alerting} {alert_word}")
        if stale and with_stale:
            parts.append(f"{stale} no data")
        return " · ".join(parts)

    titles = (  # longest first: the list shows the longest that fits its width
        title("Stations ", "alerting", True),
        title("", "alerting", True),
        title("", "alert", True),
        title("", "alert", False),
    )
    shown.sort(key=lambda row: _order_key(row, state.order))  # stable: ties keep config order
    if state.grouped:
        shown.sort(key=lambda row: STATES.index(row.state))
    return StationOverview(shown, titles)


def _matches(row: StationRow, query: str) -> bool:
    return not query or query in row.station_id.casefold() or query in row.name.casefold()


def _order_key(row: StationRow, order: str) -> tuple:
    if order == "by name":
        return (row.name.casefold(),)
    if order == "alerting first":
        return (-SEVERITY_RANK.get(row.alert or "", 0),)
    if order == "latest anomaly first":  # those with none last
        return (1, 0.0) if math.isnan(row.latest_anomaly) else (0, -row.latest_anomaly)
    if order == "no data first":
        return (not row.stale,)
    return ()
