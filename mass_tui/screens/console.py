"""The console's own screen: the widgets, the keys and what they do.

At the refresh rate it reads one snapshot (the selected station's history and the thresholds
in it) and hands each widget the part it shows, built by :mod:`mass_tui.view` and
:mod:`mass_tui.focus_view` (widgets never reach into the pipeline). What the person chose to
see is one reactive :class:`~mass_tui.view.ConsoleView`: an action replaces it, and the
screen redraws. The person's other intents (a threshold step, an acknowledgement) become calls
on the pipeline here; themes, saving settings and the pipeline's lifecycle are the App's.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from textual import events, on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input

from mass_tui.anomaly_filter import AnomalyFilter
from mass_tui.attached import AttachedPipeline, ServiceReader
from mass_tui.background_reads import BackgroundReads
from mass_tui.focus_view import (
    ENVELOPE_FROM_S,
    RULE_DETECTORS,
    chart,
    panels,
    selected_threshold,
    threshold_value,
)
from mass_tui.screens.commands import ConsoleCommands
from mass_tui.screens.console_keys import CONSOLE_KEYS
from mass_tui.screens.threshold_editor import ThresholdEditor, ThresholdRow
from mass_tui.threshold_changes import change_threshold
from mass_tui.view import (
    SPANS_S,
    STATION_ORDERS,
    ConsoleView,
    alert_rows,
    alert_text,
    log_rows,
    station_overview,
    status_line,
)
from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.detectors import Threshold
from pipeline.export import ExportError, ExportRequest, export
from pipeline.runtime import PipelineSnapshot
from pipeline.store import StoreReader
from pipeline.threshold_catalogue import setting_key
from pipeline.times import file_stamp
from pipeline.units import IMPERIAL, METRIC, QUANTITY_UNITS, display_unit, quantity_of, unit_choices
from widgets.alert_panel import AlertPanel
from widgets.anomaly_log import AnomalyLog
from widgets.station_list import SPARK_CELLS, StationList
from widgets.status_bar import StatusBar
from widgets.trend_chart import TrendChart
from widgets.variable_panel import VariablePanel

if TYPE_CHECKING:
    from mass_tui.app import MassApp

log = logging.getLogger(__name__)

CHART_QUERY_EVERY_S = 1.0
LISTS_EVERY_S = 2.0
BAND_LEAD_IN_S = 3 * 3600.0
# ...read again this often: SQLite takes ~60 ms to aggregate a day of 1 Hz readings, and the
# chart's right edge moves a pixel in minutes (bench/console_reads.py)
LONG_SPAN_QUERY_EVERY_S = 30.0
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30


class ConsoleScreen(Screen[None]):
    COMMANDS = Screen.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = list(CONSOLE_KEYS)

    view: var[ConsoleView] = var(ConsoleView(None, ""), init=False)

    def __init__(self, view: ConsoleView) -> None:
        super().__init__()
        self.set_reactive(ConsoleScreen.view, view)
        self._composed = False  # nothing to draw on before on_mount
        self._problems_told: set[str] = set()
        self._warned: set[int] = set()  # warnings the bell has rung for
        self._alerts: list[Alert] = []  # as the alert panel lists them
        self._log_rows: dict[str, Anomaly] = {}  # the anomaly log's row keys -> their anomaly
        self._lists_due = 0.0
        self._chart_key: tuple = ()
        self._chart_due = 0.0
        self._filtered: tuple[AnomalyFilter, list[Anomaly]] | None = None
        self.reads = BackgroundReads(
            lambda: self.app.call_from_thread(self.refresh_now),
            lambda problem: self.app.call_from_thread(
                self.notify, f"cannot read the history: {problem}", severity="warning"
            ),
            inline=self.mass.deterministic,
        )

    @property
    def mass(self) -> MassApp:
        return self.app  # type: ignore[return-value]  # the only App that pushes this screen

    @property
    def pipeline(self):
        return self.mass.pipeline

    @property
    def reader(self) -> StoreReader | ServiceReader | None:
        return self.mass.reader

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            with Vertical(id="station-column"):
                yield Input(placeholder="find: id or name", id="station-filter")
                yield StationList(id="stations")
            with Vertical(id="main"):
                with Vertical(id="panels"):
                    for spec in self.pipeline.settings.variables:
                        yield VariablePanel(
                            spec.name, spec.label, spec.short_label, id=f"panel-{spec.name}"
                        )
                yield TrendChart(
                    min_interval_s=0.0
                    if self.mass.deterministic
                    else self.mass.loaded.settings.ui.chart_interval_s,
                    id="chart",
                )
        with Horizontal(id="bottom"):
            with Vertical(id="log-column"):
                yield Input(
                    placeholder="station:lon variable:pressure detector:cusum score>0.6",
                    id="filter",
                )
                yield AnomalyLog(id="log")
            yield AlertPanel(id="alerts")
        yield Footer()

    def on_mount(self) -> None:
        self._composed = True
        self._apply_size()
        self.refresh_view()
        if not self.mass.deterministic:
            self.set_interval(1 / self.mass.loaded.settings.ui.refresh_hz, self.refresh_view)
        if self.view.variable:
            self.query_one(f"#panel-{self.view.variable}", VariablePanel).focus()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size()

    def _apply_size(self) -> None:
        """The compact layout below 100x30."""
        size = self.app.size
        compact = size.width < COMPACT_WIDTH or size.height < COMPACT_HEIGHT
        if compact != self.has_class("compact"):
            self.set_class(compact, "compact")
            self._lists_due = 0.0
            # Every key in 80 columns: no padding around the keys, and ctrl+p (which opens the
            # palette all the same) not spelt out.
            footer = self.query_one(Footer)
            footer.compact = compact
            footer.show_command_palette = not compact

    def watch_view(self, old: ConsoleView, new: ConsoleView) -> None:
        """Redraw what the change shows differently: a keystroke in the station finder, or a
        new order or grouping, redraws the station list alone (at 1,000 stations the rest of
        a tick costs ten times the list; bench/station_overview.py); anything else, all."""
        if replace(old, stations=new.stations) == new and not new.paused:
            self._show_stations(self.pipeline.snapshot(new.variable, SPARK_CELLS))
        else:
            self.refresh_now()

    def _change(self, **changes) -> None:
        """The person changed what they see (the screen redraws: :meth:`watch_view`)."""
        self.view = replace(self.view, **changes)

    # -- the refresh tick ------------------------------------------------------------------

    def refresh_view(self) -> None:
        if not (self._composed and self.is_attached):
            return
        try:
            self._refresh_view()
        except NoMatches:  # the timer fired while the app was shutting its screen down
            if self.is_attached and self.app.is_running:
                raise

    def refresh_now(self) -> None:
        """Redraw everything at once (after a key press), not at the next slow tick."""
        self._lists_due = 0.0
        self.refresh_view()

    def _refresh_view(self) -> None:
        view = self.view
        snap = self.pipeline.snapshot(view.variable, SPARK_CELLS, focus=view.station_id)
        self._tell_problems(snap)
        self._ring_for_new_warnings(snap)
        self.query_one(StatusBar).show(status_line(snap, view, self.mass.how_it_runs()[0]))
        if view.paused:
            return
        if view.station_id is None and snap.stations:
            self._change(station_id=snap.stations[0].station_id)  # redraws with its focus
            return
        for data in panels(snap, view):
            self.query_one(f"#panel-{data.variable}", VariablePanel).show(data)
        self._show_chart(snap)
        # Lists and tables cost far more to redraw than a value or a sparkline, and change
        # less often: they follow at most once a second (at once after a user action).
        if not self._held_back(self._lists_due):
            self._lists_due = time.monotonic() + LISTS_EVERY_S
            self._show_stations(snap)
            self._show_log(snap)
            self._alerts = snap.alerts
            window_h = self.mass.loaded.settings.alerts.sensor_faults.window_hours
            self.query_one(AlertPanel).show(alert_rows(snap, view.units, window_h))

    def _held_back(self, due: float) -> bool:
        """True while a throttle's ``due`` time (``time.monotonic()``) is ahead; never in
        deterministic mode, where every redraw is complete."""
        return not self.mass.deterministic and time.monotonic() < due

    def _tell_problems(self, snap: PipelineSnapshot) -> None:
        """A new worker or store problem is announced once; the status line keeps showing it."""
        for worker in snap.health:
            if worker.state in ("failed", "failing"):
                message = f"{worker.name} {worker.state}: {worker.detail}"
                told = re.sub(r"\d+", "#", message)  # "for 8 s" and "for 9 s" are one problem
                if told not in self._problems_told:
                    self._problems_told.add(told)
                    self.notify(message, severity="error", timeout=10)

    def _ring_for_new_warnings(self, snap: PipelineSnapshot) -> None:
        """The terminal bell for a warning that opened or escalated, unless silenced or the
        bell is off (``alerts.bell``). Reaches an operator looking at another window."""
        warnings = {
            a.id
            for a in snap.alerts
            if a.severity == "warning" and a.state == "active" and not a.is_silenced(snap.now)
        }
        if warnings - self._warned and self.mass.loaded.settings.alerts.bell:
            self.app.bell()
        self._warned |= warnings

    def _show_stations(self, snap: PipelineSnapshot) -> None:
        overview = station_overview(
            snap, self.view.stations, self.view.units, compact=self.has_class("compact")
        )
        listed = self.query_one(StationList)
        listed.show_titles(overview.titles)
        listed.show(overview.rows, grouped=self.view.stations.grouped)

    def _show_chart(self, snap: PipelineSnapshot) -> None:
        trend = self.query_one(TrendChart)
        view = self.view
        if not trend.display or snap.focus is None:
            return
        # Rebuilding the chart's data (a store query for long spans, the EWMA band) is done at
        # most once a second unless what is charted changes; the chart throttles its redraws.
        key = (view.station_id, view.variable, view.span_index, view.units, view.time_shown)
        if key == self._chart_key and self._held_back(self._chart_due):
            return
        changed = key != self._chart_key
        self._chart_key, self._chart_due = key, time.monotonic() + CHART_QUERY_EVERY_S
        times, series = self._charted_series(snap)
        data = chart(snap, view, times, series, self.pipeline.settings.detectors)
        trend.show(data, at_once=changed)
        # A long span's first read from the store: the recent history shows under a loading
        # indicator until it comes.
        trend.loading = self.reads.waiting(self._chart_read_key())

    def _charted_series(self, snap: PipelineSnapshot) -> tuple[np.ndarray, np.ndarray]:
        """The focused variable's readings over the span: the recent history in memory; when
        it is shorter than the span, the store's (read off the UI thread; the recent history
        shows meanwhile), with a lead-in for the EWMA band, the longest as minute ranges."""
        view, focus = self.view, snap.focus
        assert focus is not None
        column = [v.name for v in snap.variables].index(view.variable)
        times = focus.times
        series = focus.values[:, column] if len(focus.values) else np.empty(0)
        since = snap.now - view.span_s
        if self.reader is None or (len(times) and times[0] <= since):
            return times, series
        envelope = view.span_s > ENVELOPE_FROM_S
        stored = self.reads.get(
            self._chart_read_key(),
            partial(
                _stored_series,
                self.reader,
                focus.station_id,
                view.variable,
                since,
                snap.now,
                envelope=envelope,
            ),
            LONG_SPAN_QUERY_EVERY_S if envelope else CHART_QUERY_EVERY_S,
        )
        return (times, series) if stored is None else stored

    def _chart_read_key(self) -> tuple:
        return ("chart", self.view.station_id, self.view.variable, self.view.span_s)

    def _show_log(self, snap: PipelineSnapshot) -> None:
        anomalies = snap.anomalies
        subtitle = f"{snap.counters.anomalies:,} since start"
        if self.view.anomaly_filter.active:
            anomalies = self._filtered_anomalies(snap)
            subtitle = f"filter: {self.view.filter_text}  ({len(anomalies)})"
        rows, self._log_rows = log_rows(anomalies, snap, self.view)
        time_title = "local" if self.view.time_shown == "station" else "time"
        self.query_one(AnomalyLog).show(rows, subtitle, time_title)

    def _filtered_anomalies(self, snap: PipelineSnapshot) -> list[Anomaly]:
        """Matches from memory, topped up from the store, so the filter reaches past what the
        console has seen since it started."""
        wanted = self.view.anomaly_filter
        labels = {v.name: v.short_label for v in snap.variables}
        recent = [a for a in snap.anomalies if wanted.matches(a, labels.get(a.variable, ""))]
        if self.reader is None:
            return recent
        if self._filtered is None or self._filtered[0] != wanted:
            stored = self.reads.get(
                ("anomalies", wanted),
                partial(self.reader.anomalies, limit=20_000, min_score=wanted.min_score),
                math.inf,
            )
            if stored is None:  # being read
                return recent
            matching = [a for a in stored if wanted.matches(a, labels.get(a.variable, ""))]
            self._filtered = (wanted, matching)
        seen = {(a.station_id, a.variable, a.detector, a.observed_at) for a in recent}
        older = [
            a
            for a in self._filtered[1]
            if (a.station_id, a.variable, a.detector, a.observed_at) not in seen
        ]
        return sorted(recent + older, key=lambda a: -a.observed_at)

    # -- thresholds ------------------------------------------------------------------------

    def _spec(self, variable: str):
        return next(v for v in self.pipeline.settings.variables if v.name == variable)

    def _shown_value(self, threshold: Threshold) -> str:
        return threshold_value(threshold, self._spec(threshold.variable), self.view.units)

    def _editor_rows(self) -> list[ThresholdRow]:
        thresholds = list(self.pipeline.thresholds(self.view.variable))
        for spec in self.pipeline.settings.variables:  # the rules', whatever is focused
            thresholds += [
                t for t in self.pipeline.thresholds(spec.name) if t.detector in RULE_DETECTORS
            ]
        rows, seen = [], set()
        for t in thresholds:
            key = setting_key(t.key)
            if key not in seen:
                seen.add(key)
                rows.append(ThresholdRow(t.key, self._shown_value(t), key))
        return rows

    def apply_threshold(self, threshold: Threshold, value: float) -> bool:
        """Apply at once to the running detectors, then save; True when it applied (sent, for
        an attached console: the service applies and saves it, and its answer is told)."""
        pipeline = self.pipeline
        if isinstance(pipeline, AttachedPipeline):
            pipeline.put_threshold(threshold, value, self.mass.user)
            self.notify(f"{setting_key(threshold.key)} = {value:g}: sent to the service", timeout=3)
            return True
        names = [v.name for v in pipeline.settings.variables]
        try:
            change = change_threshold(self.mass.loaded, pipeline, names, threshold, value)
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return False
        now = next(t for t in pipeline.thresholds(threshold.variable) if t.key == threshold.key)
        shown = self._shown_value(now)
        if change.problem:
            saved = "saved, but" if change.saved else ""
            self.notify(
                f"{change.key} = {shown} {saved} {change.problem}".replace("  ", " "),
                severity="warning",
                timeout=8,
            )
        else:
            self.notify(f"{change.key} = {shown} (saved)", timeout=3)
        return True

    def _step(self, threshold: Threshold, direction: int) -> None:
        value = round(threshold.value + direction * threshold.step, 6)
        if value <= 0:
            self.notify("thresholds must stay above zero", severity="warning")
            return
        self.apply_threshold(threshold, value)
        self.refresh_now()

    def _focused_variable(self) -> str:
        """The variable keys act on is the focused panel's, even before its Focused message
        has been handled."""
        if isinstance(self.focused, VariablePanel) and self.focused.variable != self.view.variable:
            self._change(variable=self.focused.variable)
        return self.view.variable

    def action_threshold_step(self, direction: int) -> None:
        variable = self._focused_variable()
        threshold = selected_threshold(self.view, self.pipeline.thresholds(variable))
        if threshold is None:
            self.notify(f"no threshold applies to {variable}", severity="warning")
            return
        self._step(threshold, direction)

    def action_edit_thresholds(self) -> None:
        variable = self._focused_variable()
        selected = selected_threshold(self.view, self.pipeline.thresholds(variable))
        title = f"Thresholds — {variable} and the rules"
        self.app.push_screen(
            ThresholdEditor(
                title, self._editor_rows(), selected.key if selected else None, report_to=self
            )
        )

    @on(ThresholdEditor.Selected)
    def _editor_selected(self, event: ThresholdEditor.Selected) -> None:
        chosen = {**self.view.chosen_thresholds, event.key.variable: event.key}
        self._change(chosen_thresholds=chosen)  # the panel shows the threshold +/- act on

    @on(ThresholdEditor.Step)
    def _editor_step(self, event: ThresholdEditor.Step) -> None:
        threshold = next(
            (t for t in self.pipeline.thresholds(event.key.variable) if t.key == event.key), None
        )
        if threshold is not None:
            self._step(threshold, event.direction)
        if isinstance(self.app.screen, ThresholdEditor):
            self.app.screen.show(self._editor_rows())

    # -- stations, variables, details ------------------------------------------------------

    def station_names(self) -> dict[str, str]:
        """Station id -> name, as the station list shows them (the command palette's list)."""
        return self.query_one(StationList).names()

    def show_station(self, station_id: str) -> None:
        self.query_one(StationList).select_station(station_id)

    @on(StationList.Chosen)
    def _station_chosen(self, event: StationList.Chosen) -> None:
        self._change(station_id=event.station_id)

    @on(VariablePanel.Focused)
    def _variable_focused(self, event: VariablePanel.Focused) -> None:
        self._change(variable=event.variable)

    @on(DataTable.RowSelected, "#log")
    def _anomaly_chosen(self, event: DataTable.RowSelected) -> None:
        anomaly = self._log_rows.get(self.query_one(AnomalyLog).key_at(event.cursor_row) or "")
        if anomaly is not None:
            self._open_detail(anomaly=anomaly)

    @on(DataTable.RowSelected, "#alerts")
    def _alert_chosen(self, event: DataTable.RowSelected) -> None:
        chosen = self.query_one(AlertPanel).selected_alert  # the row under the cursor
        alert = next((a for a in self._alerts if a.id == chosen), None)
        if alert is not None:
            self._open_detail(alert=alert)

    def _open_detail(self, *, anomaly: Anomaly | None = None, alert: Alert | None = None) -> None:
        from mass_tui.screens.detail import DetailScreen, DetailSources

        notifications = getattr(self.pipeline, "notifications", None)  # embedded only
        history = notifications.history if notifications is not None else None
        variable = (anomaly or alert).variable  # type: ignore[union-attr]
        spec = {v.name: v for v in self.pipeline.settings.variables}.get(variable)
        sources = DetailSources(
            reader=self.reader,
            alert_events=None if history is None else history.events,
            unit=spec.unit if spec else "",
            units=self.view.units,
            label=spec.short_label if spec else variable,
        )

        def chosen(intent: str | None) -> None:
            if alert is not None and intent == "acknowledge":
                self.acknowledge(alert)
            elif alert is not None and intent == "silence":
                self.toggle_silence(alert)

        self.app.push_screen(DetailScreen(sources, anomaly=anomaly, alert=alert), chosen)

    def action_help(self) -> None:
        from mass_tui.screens.help import HelpScreen  # Markdown: loaded when first asked for

        # The App's own keys do what our binding of the same action does (its ctrl+q: quit).
        app_actions = {b.action.removeprefix("app."): b.id for b in CONSOLE_KEYS if b.id}
        app_actions["quit_anywhere"] = app_actions["quit"]
        keys: dict[str, list[str]] = {}  # binding id -> its keys now, remapped or not
        for active in self.active_bindings.values():
            if active.node is self:
                binding_id = active.binding.id
            elif active.node is self.app:
                binding_id = app_actions.get(active.binding.action)
            else:
                continue
            if binding_id:
                keys.setdefault(binding_id, []).append(self.app.get_key_display(active.binding))
        rows = [
            (" ".join(f"`{k}`" for k in keys.get(b.id, [])) or "(none)", b.id, b.tooltip)
            for b in CONSOLE_KEYS
            if b.id
        ]
        self.app.push_screen(HelpScreen(rows, self.mass.how_it_runs()[1]))

    def action_statistics(self) -> None:
        from mass_tui.screens.statistics import StatisticsScreen

        reader, station_id, variable = self.reader, self.view.station_id, self.view.variable
        if reader is None or station_id is None:
            self.notify("statistics need the store: this console has none", severity="warning")
            return
        if isinstance(reader, ServiceReader):

            def anomalies(since: float) -> list[Anomaly]:
                found = reader.anomalies(limit=10_000)
                return [
                    a
                    for a in found
                    if (a.station_id, a.variable) == (station_id, variable)
                    and a.observed_at >= since
                ]
        else:

            def anomalies(since: float) -> list[Anomaly]:
                return reader.anomalies(
                    since=since, station_id=station_id, variable=variable, limit=10_000
                )

        spec = self._spec(variable)
        self.app.push_screen(
            StatisticsScreen(
                reader,
                anomalies,
                station_id,
                variable,
                spec.label,
                self.pipeline.snapshot().now,
                display_unit(spec.unit, self.view.units),
            )
        )

    # -- what is shown, and how --------------------------------------------------------------

    def action_pause(self) -> None:
        paused = not self.view.paused
        self.notify(
            "display paused (the pipeline keeps running)" if paused else "resumed", timeout=2
        )
        self._change(paused=paused)

    def action_units(self) -> None:
        """The presets: metric, then imperial (a table of units set per quantity -> metric)."""
        units = IMPERIAL if self.view.units == METRIC else METRIC
        self.mass.remember("ui.units", units)
        self.notify(f"units: {units}", timeout=2)
        self._change(units=units)

    def action_quantity_unit(self) -> None:
        """The next unit of the focused variable's quantity (°C/°F, m/s, km/h, mph, kn...),
        the other quantities as they are shown now."""
        variable = self._focused_variable()
        quantity = quantity_of(self._spec(variable).unit) if variable else None
        if quantity is None:
            self.notify("this variable has one unit", timeout=2)
            return
        choices = unit_choices(self.view.units)
        units = QUANTITY_UNITS[quantity]
        now = choices.get(quantity, units[0])
        choices[quantity] = units[(units.index(now) + 1) % len(units)]
        self.mass.remember("ui.units", choices)
        self.notify(f"{quantity}: {choices[quantity]}", timeout=2)
        self._change(units=choices)

    def action_time_zone(self) -> None:
        shown = "station" if self.view.time_shown == "utc" else "utc"
        self.mass.remember("ui.time", shown)
        told = "each station's local time" if shown == "station" else "UTC"
        self.notify(f"times in {told}", timeout=2)
        self._change(time_shown=shown)

    def action_span(self, direction: int) -> None:
        index = min(max(self.view.span_index + direction, 0), len(SPANS_S) - 1)
        self._change(span_index=index)
        self.notify(f"chart span: {self.view.span_label}", timeout=2)

    def action_find_station(self) -> None:
        self._open_box("#station-filter")

    def action_filter(self) -> None:
        self._open_box("#filter")

    def _open_box(self, selector: str) -> None:
        """Show a hidden input box (the station finder, the anomaly filter) and type in it."""
        box = self.query_one(selector, Input)
        box.add_class("shown")
        # At once, not at the next turn of the event loop (``focus()``): keys typed fast after
        # ``f`` are already queued, and must go to the box ("-" would lower a threshold).
        self.set_focus(box)

    @on(Input.Changed, "#station-filter")
    def _station_filter_changed(self, event: Input.Changed) -> None:
        query = event.value.strip().casefold()
        self._change(stations=replace(self.view.stations, query=query))

    @on(Input.Submitted, "#station-filter")
    def _station_filter_submitted(self, event: Input.Submitted) -> None:
        if not self.view.stations.query:
            event.input.remove_class("shown")
        self.query_one(StationList).focus()

    def action_sort_stations(self) -> None:
        order = self.view.stations.order
        order = STATION_ORDERS[(STATION_ORDERS.index(order) + 1) % len(STATION_ORDERS)]
        self.notify(f"stations: {order}", timeout=2)
        self._change(stations=replace(self.view.stations, order=order))

    def action_group_stations(self) -> None:
        grouped = not self.view.stations.grouped
        self.notify("stations grouped by state" if grouped else "stations not grouped", timeout=2)
        self._change(stations=replace(self.view.stations, grouped=grouped))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        try:
            wanted = AnomalyFilter.parse(event.value)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._filtered = None
        if not wanted.active:
            event.input.remove_class("shown")
        self.query_one(AnomalyLog).focus()
        self._change(anomaly_filter=wanted, filter_text=event.value)

    # -- alerts ----------------------------------------------------------------------------

    def _done(self, what: str) -> str:
        """ "acknowledged by ann"; a watching console's commands go to the workers, and the
        alert changes when their transition comes back."""
        user, goes_to = self.mass.user, self.pipeline.desk.goes_to
        return f"{what} by {user}: sent to {goes_to}" if goes_to else f"{what} by {user}"

    def _selected_alert(self, doing: str) -> Alert | None:
        """The alert under the alert panel's cursor, or None (said) when there is none."""
        alert_id = self.query_one(AlertPanel).selected_alert
        alert = next((a for a in self._alerts if a.id == alert_id), None)
        if alert is None:
            self.notify(f"no alert to {doing}", timeout=2)
        return alert

    def _naming(self, alert: Alert) -> str:
        """How a message names an alert: as the panel shows it (ids are not shown)."""
        window_h = self.mass.loaded.settings.alerts.sensor_faults.window_hours
        what = alert_text(alert, self.pipeline.settings.variables, self.view.units, window_h)
        return f"{alert.station_id} {what}"

    def action_acknowledge(self) -> None:
        self.acknowledge(self._selected_alert("acknowledge"))

    def acknowledge(self, alert: Alert | None) -> None:
        """Acknowledge ``alert`` as this console's user (the panel's or a detail view's)."""
        if alert is None:
            return
        if self.pipeline.desk.acknowledge(alert.id, self.mass.user) is None:
            state = "is acknowledged already" if alert.state == "acknowledged" else "has cleared"
            self.notify(f"{self._naming(alert)} {state}", severity="warning", timeout=3)
        else:
            self.notify(f"{self._naming(alert)} {self._done('acknowledged')}", timeout=3)
        self.refresh_now()

    def action_silence(self) -> None:
        self.toggle_silence(self._selected_alert("silence"))

    def toggle_silence(self, alert: Alert | None) -> None:
        """Silence ``alert``, or lift its silence."""
        if alert is None:
            return
        desk, user = self.pipeline.desk, self.mass.user
        if alert.is_silenced(self.pipeline.clock.now()):
            changed = desk.unsilence(user, alert_id=alert.id)
            done = "silence lifted"
        else:
            changed = desk.silence(user, alert_id=alert.id)
            done = f"silenced for {self.mass.loaded.settings.alerts.silence_min:g} min"
        if changed:
            self.notify(f"{self._naming(alert)} {self._done(done)}")
        else:
            state = "has cleared" if not alert.is_open else "was changed meanwhile"
            self.notify(f"{self._naming(alert)} {state}", severity="warning", timeout=3)
        self.refresh_now()

    def action_silence_station(self) -> None:
        """Silence every alert of the selected alert's station (or the selected station),
        now and arising, or lift the station's silence (a toggle)."""
        panel = self.query_one(AlertPanel)
        alert = next((a for a in self._alerts if a.id == panel.selected_alert), None)
        station_id = alert.station_id if alert is not None else self.view.station_id
        if station_id is None:
            return
        desk, user = self.pipeline.desk, self.mass.user
        if desk.station_silenced(station_id):
            desk.unsilence(user, station_id=station_id)
            done = "silence lifted"
        else:
            desk.silence(user, station_id=station_id)
            done = f"silenced for {self.mass.loaded.settings.alerts.silence_min:g} min"
        self.notify(f"station {station_id} {self._done(done)}")
        self.refresh_now()

    # -- export ----------------------------------------------------------------------------

    def action_export(self) -> None:
        """In a thread: a long span of a busy store must not hold the screen."""
        station_id = self.view.station_id
        if station_id is None:
            self.notify("no station to export yet", severity="warning")
            return
        until = self.pipeline.snapshot().now
        since = until - self.view.span_s
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", station_id)[:40] or "station"
        path = self.mass.loaded.data_dir / "exports" / f"{safe}-{file_stamp(until)}.csv"
        request = ExportRequest("observations", "csv", since, until, (station_id,))
        self.run_worker(
            partial(self._export, request, path, self.view.span_label), thread=True, name="export"
        )

    def _export(self, request: ExportRequest, path: Path, span: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            count = export(self.mass.loaded.database_path, request, str(path)).count
        except (ExportError, OSError) as exc:
            self.app.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        self.app.call_from_thread(
            self.notify, f"exported {count:,} readings ({span}) to {path}", timeout=8
        )


def _stored_series(
    reader: StoreReader | ServiceReader,
    station_id: str,
    variable: str,
    since: float,
    until: float,
    *,
    envelope: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """A chart's stored series: minute ranges for a long span, else the readings (thinned)."""
    if envelope:
        return reader.minute_envelope(station_id, variable, since, until)
    return reader.series(station_id, variable, since - BAND_LEAD_IN_S, until, max_points=4_000)
