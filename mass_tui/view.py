"""What the console shows, computed from a pipeline snapshot and the view's state: plain
functions with no Textual in them, so the rules (which stations a search keeps, in which
order, what a list's title counts) are tested without a running app."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.alerts import SEVERITY_RANK
from pipeline.runtime import PipelineSnapshot
from pipeline.units import format_value
from widgets.station_list import STATES, StationRow

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
class StationOverview:
    rows: list[StationRow]  # in the order listed
    title: str  # the list's border title, with its counts


def station_overview(
    snap: PipelineSnapshot,
    state: StationListState,
    units: str | dict[str, str],
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
    shown_columns = [
        (names.index(n), snap.variables[names.index(n)]) for n in CONDITION_VARIABLES if n in names
    ]
    rows = []
    for index, station in enumerate(snap.stations):
        parts = []
        if index < len(snap.latest_values):
            for column, spec in shown_columns:
                value = snap.latest_values[index, column]
                if not math.isnan(value):
                    parts.append(format_value(value, spec.unit, units))
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
    title = f"Stations {len(shown)}/{len(rows)}" if state.query else f"Stations {len(rows)}"
    title += f" · {len(worst)} alerting" if worst else ""
    stale = sum(r.stale for r in rows)
    title += f" · {stale} no data" if stale else ""
    shown.sort(key=lambda row: _order_key(row, state.order))  # stable: ties keep config order
    if state.grouped:
        shown.sort(key=lambda row: STATES.index(row.state))
    return StationOverview(shown, title)


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
