"""The M.A.S.S. console: a Textual app over the embedded pipeline.

The app owns the pipeline. At the refresh rate it reads one snapshot and hands each widget the
part it shows (widgets never reach into the pipeline); the user's intents — a threshold step,
an acknowledgement, a unit or theme change — come back as actions and messages and are turned
into calls on the pipeline and the settings file here, in one place.
"""

from __future__ import annotations

import getpass
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, tzinfo
from functools import partial
from pathlib import Path

import numpy as np
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import DataTable, Footer, Input

from mass_tui.anomaly_filter import AnomalyFilter
from mass_tui.attached import AttachedPipeline, ServiceReader
from mass_tui.background_reads import BackgroundReads
from mass_tui.screens.commands import ConsoleCommands
from mass_tui.screens.threshold_editor import ThresholdEditor, ThresholdRow
from mass_tui.settings_layers import ConfigSaveError, LoadedSettings, save_settings
from mass_tui.threshold_changes import change_threshold
from mass_tui.view import STATION_ORDERS, StationListState, station_overview
from pipeline.alerts import NO_DATA, Alert
from pipeline.anomaly import Anomaly
from pipeline.detectors import Threshold, control_band
from pipeline.events import event_key
from pipeline.export import ExportError, ExportRequest, export
from pipeline.maintenance import FROZEN, IMPLAUSIBLE, INCONSISTENT, SPIKING, STEPPED
from pipeline.runtime import Pipeline, PipelineSnapshot
from pipeline.stations import Station
from pipeline.store import StoreReader
from pipeline.text import printable
from pipeline.threshold_catalogue import ThresholdKey, setting_key
from pipeline.times import clock_text, file_stamp, station_zone
from pipeline.units import (
    IMPERIAL,
    METRIC,
    QUANTITY_UNITS,
    display_unit,
    format_value,
    quantity_of,
    unit_choices,
)
from themes import CONSOLE_CSS, THEME_NAMES, THEMES
from widgets.alert_panel import AlertPanel, AlertRow
from widgets.anomaly_log import AnomalyLog, AnomalyRow
from widgets.station_list import SPARK_CELLS, StationList
from widgets.status_bar import StatusBar, StatusLine
from widgets.trend_chart import ChartData, TrendChart
from widgets.variable_panel import PanelData, VariablePanel

log = logging.getLogger(__name__)

SPANS_S = (900.0, 3600.0, 6 * 3600.0, 24 * 3600.0)
SPAN_LABELS = ("15 min", "1 h", "6 h", "24 h")
RECENT_ANOMALY_S = 15 * 60.0  # a panel stays highlighted this long after an anomaly
LOG_ROWS = 200  # more are a filter away (the filter reaches the store)
SPARK_POINTS = 60
CHART_QUERY_EVERY_S = 1.0
LISTS_EVERY_S = 2.0
BAND_LEAD_IN_S = 3 * 3600.0
ENVELOPE_FROM_S = 6 * 3600.0  # longer chart spans show each minute's range
# ...read again this often: SQLite takes ~60 ms to aggregate a day of 1 Hz readings, and the
# chart's right edge moves a pixel in minutes (bench/console_reads.py)
LONG_SPAN_QUERY_EVERY_S = 30.0
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30
HELD_NOTIFICATION_S = 24 * 3600.0  # deterministic mode: a notification stays until dismissed
RULE_DETECTORS = ("pressure_fall", "gust")


def age_text(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class MassApp(App[None]):
    TITLE = "M.A.S.S. console"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    CSS_PATH = str(CONSOLE_CSS)
    # Each binding has an id, by which ``[ui.keymap]`` gives it other keys, and a tooltip: the
    # help screen's line for it (see ``action_help``).
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help", tooltip="this help (Esc closes)"),
        Binding("q", "quit", "Quit", id="quit", tooltip="quit (the store is flushed first)"),
        Binding(
            "p",
            "pause",
            "Pause",
            id="pause",
            tooltip="pause / resume the display; the pipeline keeps running",
        ),
        Binding(
            "u",
            "units",
            "Units",
            id="units",
            tooltip="metric / imperial display (°F, mph, inHg, in); storage stays metric",
        ),
        Binding(
            "U",
            "quantity_unit",
            "Unit",
            show=False,
            id="quantity-unit",
            tooltip="the next unit of the focused variable's quantity: °C °F; m/s km/h mph kn; "
            "hPa inHg kPa mmHg; mm in (saved in [ui.units])",
        ),
        Binding(
            "T",
            "time_zone",
            "Time",
            show=False,
            id="time-zone",
            tooltip="times in UTC or in each station's local time (its configured zone, else "
            "the one its position lies in); saved",
        ),
        Binding(
            "t",
            "next_theme",
            "Theme",
            id="theme",
            tooltip="next theme: the console's three, then Textual's; saved",
        ),
        Binding(
            "a",
            "acknowledge",
            "Ack",
            id="acknowledge",
            tooltip="acknowledge the selected alert: the top one, or the one chosen in the "
            "alert panel",
        ),
        Binding(
            "z",
            "silence",
            "Mute",
            id="silence",
            tooltip="silence the selected alert (alerts.silence_min); again: lift it",
        ),
        Binding(
            "Z",
            "silence_station",
            "Silence station",
            show=False,
            id="silence-station",
            tooltip="silence every alert of the selected alert's station; again: lift it",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            id="filter",
            tooltip="filter the anomaly log: station:lon variable:pressure detector:cusum "
            "score>0.6",
        ),
        Binding(
            "x",
            "export",
            "Export",
            show=False,
            id="export",
            tooltip="export the selected station's readings over the chart's span to CSV, "
            "in <data_dir>/exports/ (all of them: mass-tui export)",
        ),
        Binding(
            "f",
            "find_station",
            "Find",
            show=False,
            id="find-station",
            tooltip="find stations as you type (id or name); Enter keeps the list filtered, "
            "an empty box shows them all",
        ),
        Binding(
            "o",
            "sort_stations",
            "Sort",
            show=False,
            id="sort-stations",
            tooltip="sort the stations: as configured, by name, alerting first, latest anomaly "
            "first, no data first",
        ),
        Binding(
            "g",
            "group_stations",
            "Group",
            show=False,
            id="group-stations",
            tooltip="group the stations by state (alerting, no data, ok) under a count each",
        ),
        Binding(
            "S",
            "statistics",
            "Stats",
            show=False,
            id="statistics",
            tooltip="statistics of the focused variable at the selected station: count, min, "
            "mean, max, stddev and anomalies, hour by hour (h) or day by day (d)",
        ),
        Binding(
            "s",
            "screenshot",
            "Shot",
            id="screenshot",
            tooltip="save a screenshot (SVG) and say where",
        ),
        Binding(
            "e",
            "edit_thresholds",
            "Tune",
            id="thresholds",
            tooltip="edit the thresholds of the focused variable and the rules",
        ),
        Binding(
            "plus,equals_sign",
            "threshold_step(1)",
            "+thr",
            show=False,
            id="threshold-up",
            tooltip="raise the selected threshold of the focused variable",
        ),
        Binding(
            "minus,underscore",
            "threshold_step(-1)",
            "-thr",
            show=False,
            id="threshold-down",
            tooltip="lower the selected threshold of the focused variable",
        ),
        Binding(
            "left_square_bracket",
            "span(-1)",
            "Span",
            show=False,
            id="span-shorter",
            tooltip="shorter chart span: 24 h, 6 h, 1 h, 15 min of observed time",
        ),
        Binding(
            "right_square_bracket",
            "span(1)",
            "Span",
            id="span-longer",
            tooltip="longer chart span: 15 min, 1 h, 6 h, 24 h of observed time",
        ),
    ]

    def __init__(
        self,
        loaded: LoadedSettings,
        pipeline: Pipeline | AttachedPipeline,
        *,
        reader: StoreReader | ServiceReader | None = None,
        start_pipeline: bool = True,
        user: str | None = None,
        screenshot_dir: Path | None = None,
        deterministic: bool = False,
    ) -> None:
        """``deterministic``: what is on screen depends only on the data and the keys pressed,
        never on when a timer fired (snapshot tests). There is no refresh timer and no
        throttling: the view is redrawn in full at mount, after every user action and on each
        ``refresh_view()`` call; the chart draws every change at once; notifications stay until
        dismissed. The terminal size is read at mount and at each redraw (no tick follows a
        resize). Off (the default), the view refreshes at ``ui.refresh_hz`` and the chart,
        lists and tables are throttled as below."""
        super().__init__()
        self.loaded = loaded
        self.pipeline = pipeline
        self.reader = reader
        self.start_pipeline = start_pipeline
        self.user = user or _user_name()
        self.screenshot_dir = screenshot_dir or loaded.data_dir / "screenshots"
        self.deterministic = deterministic
        self.variables = pipeline.settings.variables
        self._labels = {v.name: v.short_label for v in self.variables}  # narrow places
        self.units: str | dict[str, str] = loaded.settings.ui.units
        self.time_shown = loaded.settings.ui.time  # "utc", or "station": its local time
        self._stations_of: list[Station] | None = None
        self._station_by_id: dict[str, Station] = {}
        self._saved_theme = loaded.settings.ui.theme  # what the user config file says
        self.paused = False
        self.station_id: str | None = None
        self.variable = self.variables[0].name if self.variables else ""
        self.span_index = 1
        self.anomaly_filter = AnomalyFilter()
        self.selected_threshold: dict[str, ThresholdKey] = {}
        self._problems_told: set[str] = set()
        self._warned: set[int] = set()  # warnings the bell has rung for
        self._alerts: list[Alert] = []
        self._log_rows: dict[str, Anomaly] = {}  # the anomaly log's row keys -> their anomaly
        self.station_list = StationListState()
        self._lists_due = 0.0
        self._chart_key: tuple = ()
        self._chart_due = 0.0
        self._filtered: tuple[AnomalyFilter, list[Anomaly]] | None = None
        self.reads = BackgroundReads(
            lambda: self.call_from_thread(self.refresh_now),
            lambda problem: self.call_from_thread(
                self.notify, f"cannot read the history: {problem}", severity="warning"
            ),
            inline=deterministic,
        )

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            with Vertical(id="station-column"):
                yield Input(placeholder="find: id or name", id="station-filter")
                yield StationList(id="stations")
            with Vertical(id="main"):
                with Vertical(id="panels"):
                    for spec in self.variables:
                        yield VariablePanel(
                            spec.name, spec.label, spec.short_label, id=f"panel-{spec.name}"
                        )
                yield TrendChart(
                    min_interval_s=0.0
                    if self.deterministic
                    else self.loaded.settings.ui.chart_interval_s,
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
        self._apply_keymap(self.loaded.settings.ui.keymap)
        for theme in THEMES:
            self.register_theme(theme)
        for name in [n for n, t in self.available_themes.items() if t.ansi]:
            # The terminal's own default colours cannot be blended (``$foreground 70%``), and
            # the console's styles blend: such a theme would stop it with an error.
            self.unregister_theme(name)
        configured = self.loaded.settings.ui.theme
        if configured in self.available_themes:
            self.theme = configured
        else:
            self.theme = THEME_NAMES[0]
            self.notify(
                f"unknown theme {printable(configured, 40)!r}: using {THEME_NAMES[0]} "
                "(t cycles through the themes, ctrl+p lists them)",
                severity="warning",
            )
        # Whichever way the theme changes (t, the command palette), it is remembered.
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_size()
        if isinstance(self.pipeline, AttachedPipeline):  # the service's answers to our keys
            self.pipeline.tell = lambda message, severity: self.call_from_thread(
                self.notify, message, severity=severity, timeout=6
            )
        if self.start_pipeline:
            self.run_worker(self._start_pipeline, thread=True, name="pipeline-start")
        self.refresh_view()
        if not self.deterministic:
            self.set_interval(1 / self.loaded.settings.ui.refresh_hz, self.refresh_view)
        self.main.query_one(f"#panel-{self.variable}", VariablePanel).focus()

    @property
    def main(self) -> Screen:
        """The console's own screen: widgets are found there even while help or the threshold
        editor is on top (``App.query_one`` would search the screen on top)."""
        return self.screen_stack[0]

    def _start_pipeline(self) -> None:
        try:
            self.pipeline.start()
        except Exception as exc:  # shown in the UI and the log, never a traceback on screen
            log.exception("pipeline failed to start")
            self.call_from_thread(self.notify, f"pipeline failed to start: {exc}", severity="error")

    def _apply_size(self) -> None:
        """Compact layout below 100x30. Checked on every refresh tick: the App is not sent the
        terminal's resize events (its screen is), and the tick follows a resize within 250 ms."""
        compact = self.size.width < COMPACT_WIDTH or self.size.height < COMPACT_HEIGHT
        if compact != self.main.has_class("compact"):
            self.main.set_class(compact, "compact")
            self._lists_due = 0.0
            # Every key in 80 columns: no padding around the keys, and ctrl+p (which opens the
            # palette all the same) not spelt out.
            footer = self.main.query_one(Footer)
            footer.compact = compact
            footer.show_command_palette = not compact

    # -- the refresh tick ------------------------------------------------------------------

    def refresh_view(self) -> None:
        if not self.is_running:
            return
        try:
            self._refresh_view()
        except NoMatches:  # the timer fired while the app was shutting its screen down
            if self.is_running:
                raise

    def _refresh_view(self) -> None:
        self._apply_size()
        snap = self.pipeline.snapshot(self.variable, SPARK_CELLS)
        self._tell_problems(snap)
        self._ring_for_new_warnings(snap)
        self.main.query_one(StatusBar).show(self._status(snap))
        if self.paused:
            return
        if self.station_id is None and snap.stations:
            self.station_id = snap.stations[0].station_id
        self._show_panels(snap)
        self._show_chart(snap)
        # Lists and tables cost far more to redraw than a value or a sparkline, and change
        # less often: they follow at most once a second (at once after a user action).
        if not self._held_back(self._lists_due):
            self._lists_due = time.monotonic() + LISTS_EVERY_S
            self._show_stations(snap)
            self._show_log(snap)
            self._alerts = snap.alerts
            self.main.query_one(AlertPanel).show(self._alert_rows(snap))

    def _held_back(self, due: float) -> bool:
        """True while a throttle's ``due`` time (``time.monotonic()``) is ahead; never in
        deterministic mode, where every redraw is complete."""
        return not self.deterministic and time.monotonic() < due

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """As ``App.notify``, but the message is text, not markup: it carries station ids and
        names and error messages from outside (an alert of station "[/]" raised MarkupError),
        with control characters escaped again. In deterministic mode the toast does not
        expire by the clock."""
        if self.deterministic:
            timeout = HELD_NOTIFICATION_S
        message = message if markup else printable(message)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def refresh_now(self) -> None:
        """Redraw everything at once (after a key press), not at the next slow tick."""
        self._lists_due = 0.0
        self.refresh_view()

    def _status(self, snap: PipelineSnapshot) -> StatusLine:
        hour_ago = snap.now - 3600
        problems = [
            f"{w.name} {w.state}: {w.detail}" if w.detail else f"{w.name} {w.state}"
            for w in snap.health
            if w.state in ("failed", "stalled", "failing")
        ]
        source_state = snap.source_state
        if source_state.startswith(("retrying", "failing")):  # a failing API is a problem too
            problems.insert(0, f"{snap.source} {source_state}")
            source_state = ""
        return StatusLine(
            clock=clock_text(snap.now, self._zone(self.station_id, snap), date=True)
            if snap.now > 0
            else "no data yet",
            source=snap.source,
            source_state=source_state,
            bus=snap.bus,
            bus_depth=snap.bus_depth,
            bus_state=snap.bus_state,
            rate=snap.rate,
            anomalies_last_hour=sum(a.observed_at >= hour_ago for a in snap.anomalies),
            problems=tuple(problems),
            paused=self.paused,
            units=self.units
            if isinstance(self.units, str)
            else " ".join(
                unit for q, unit in unit_choices(self.units).items() if unit != QUANTITY_UNITS[q][0]
            )
            or METRIC,
            running=self._how_it_runs()[0],
        )

    def _how_it_runs(self) -> tuple[str, str]:
        """How this console runs: a label for the status line, a paragraph for the help."""
        if isinstance(self.pipeline, AttachedPipeline):
            return (
                f"attached · service pid {self.pipeline.service_pid}",
                f"Attached to the service at {printable(self.pipeline.client.url)} (pid "
                f"{self.pipeline.service_pid}): analysis and notifications go on when you quit. "
                "Acknowledgements, silences and threshold changes are sent to it; it applies and "
                "saves them.",
            )
        if self.pipeline.desk.goes_to:
            return (
                "watching",
                f"Watching: {self.pipeline.desk.goes_to} do the analysis and go on when you "
                "quit; your acknowledgements and silences are sent to them.",
            )
        return (
            "embedded · stops when you quit",
            "Embedded: this console runs the pipeline itself, and analysis and notifications stop "
            "when you quit. To keep them running, start `mass-tui service` on this data "
            "directory (or install `docs/mass-tui.service` for systemd): `mass-tui` then "
            "attaches to it, and any number of consoles can.",
        )

    def _tell_problems(self, snap: PipelineSnapshot) -> None:
        """A new worker or store problem is announced once; the status line keeps showing it."""
        for worker in snap.health:
            if worker.state in ("failed", "failing"):
                message = f"{worker.name} {worker.state}: {worker.detail}"
                told = re.sub(r"\d+", "#", message)  # "for 8 s" and "for 9 s" are one problem
                if told not in self._problems_told:
                    self._problems_told.add(told)
                    self.notify(message, severity="error", timeout=10)

    def _show_stations(self, snap: PipelineSnapshot) -> None:
        overview = station_overview(
            snap, self.station_list, self.units, compact=self.main.has_class("compact")
        )
        listed = self.main.query_one(StationList)
        if listed.border_title != overview.title:  # assigning repaints, even the same text
            listed.border_title = overview.title
        listed.show(overview.rows, grouped=self.station_list.grouped)

    def _show_panels(self, snap: PipelineSnapshot) -> None:
        if self.station_id is None:
            return
        _, values = self.pipeline.recent_series(self.station_id)
        zscores = self.pipeline.latest_zscores(self.station_id)
        recent = {
            a.variable
            for a in snap.anomalies
            if a.station_id == self.station_id and a.observed_at >= snap.now - RECENT_ANOMALY_S
        }
        recent |= {a.variable for a in snap.alerts if a.station_id == self.station_id and a.is_open}
        for column, spec in enumerate(self.variables):
            series = values[:, column] if len(values) else np.empty(0)
            series = series[~np.isnan(series)]
            unit = display_unit(spec.unit, self.units)
            shown = np.asarray(unit.convert(series[-SPARK_POINTS:]), dtype=float)
            z = float(zscores[column]) if column < len(zscores) else math.nan
            self.main.query_one(f"#panel-{spec.name}", VariablePanel).show(
                PanelData(
                    variable=spec.name,
                    label=spec.label,
                    value=format_value(
                        series[-1] if len(series) else math.nan, spec.unit, self.units
                    ),
                    trend=_trend(series, spec.resolution),
                    zscore=None if math.isnan(z) else z,
                    threshold=self._threshold_label(spec.name),
                    history=tuple(shown.tolist()),
                    anomalous=spec.name in recent,
                )
            )

    def _threshold_label(self, variable: str) -> str:
        threshold = self._selected(variable)
        if threshold is None:
            return ""
        return f"{_short(threshold)} {self._threshold_value(threshold)}"

    # -- chart -----------------------------------------------------------------------------

    def _show_chart(self, snap: PipelineSnapshot) -> None:
        chart = self.main.query_one(TrendChart)
        if not chart.display or self.station_id is None:
            return
        # Rebuilding the chart's data (a store query for long spans, the EWMA band) is done at
        # most once a second unless what is charted changes; the chart throttles its redraws.
        key = (self.station_id, self.variable, self.span_index, self.units, self.time_shown)
        if key == self._chart_key and self._held_back(self._chart_due):
            return
        self._chart_key, self._chart_due = key, time.monotonic() + CHART_QUERY_EVERY_S
        chart.show(self._chart_data(snap, SPANS_S[self.span_index]))

    def _chart_data(self, snap: PipelineSnapshot, span: float) -> ChartData | None:
        column = [v.name for v in self.variables].index(self.variable)
        spec = self.variables[column]
        times, values = self.pipeline.recent_series(self.station_id or "")
        series = values[:, column] if len(values) else np.empty(0)
        since = snap.now - span
        envelope = span > ENVELOPE_FROM_S
        if self.reader is not None and (not len(times) or times[0] > since):
            # The in-memory history is short: longer spans come from the store (read off the
            # UI thread; the recent history shows meanwhile), with a lead-in so the EWMA band
            # is warmed up by the left edge; the longest as each minute's range.
            stored = self.reads.get(
                ("chart", self.station_id, self.variable, span),
                partial(
                    _stored_series,
                    self.reader,
                    self.station_id or "",
                    self.variable,
                    since,
                    snap.now,
                    envelope=envelope,
                ),
                LONG_SPAN_QUERY_EVERY_S if envelope else CHART_QUERY_EVERY_S,
            )
            if stored is not None:
                times, series = stored
        known = ~np.isnan(series)
        times, series = times[known], series[known]
        station = next((s.name for s in snap.stations if s.station_id == self.station_id), "")
        unit = display_unit(spec.unit, self.units)
        title = f"{station} · {spec.label} · last {SPAN_LABELS[self.span_index]}"
        bands: tuple[np.ndarray | None, ...] = (None, None, None)
        if spec.statistical and len(times) and not envelope:  # a band of minute ranges is none
            settings = self.pipeline.settings.detectors
            bands = control_band(
                times, series, settings.ewma, spec.resolution, max_gap_s=settings.max_gap_s
            )
        inside = times >= since
        times, series = times[inside], series[inside]
        ewma, lower, upper = (
            None if band is None else np.asarray(unit.convert(band[inside]), dtype=float)
            for band in bands
        )
        lines = tuple(
            (f"{t.detector} {t.parameter.split('_')[0]}", float(unit.convert(t.value)))
            for t in self.pipeline.thresholds(self.variable)
            if t.detector == "gust"
        )
        markers = tuple(
            (a.observed_at, float(unit.convert(a.value)))
            for a in snap.anomalies
            if a.station_id == self.station_id
            and a.variable == self.variable
            and a.observed_at >= since
        )
        return ChartData(
            title,
            unit.symbol,
            snap.now,
            span,
            times,
            np.asarray(unit.convert(series), dtype=float),
            ewma,
            lower,
            upper,
            lines,
            markers,
            self._zone(self.station_id, snap),
        )

    # -- anomaly log and alerts ------------------------------------------------------------

    def _show_log(self, snap: PipelineSnapshot) -> None:
        anomalies = snap.anomalies
        subtitle = f"{snap.counters.anomalies:,} since start"
        if self.anomaly_filter.active:
            anomalies = self._filtered_anomalies(snap)
            subtitle = f"filter: {self.main.query_one('#filter', Input).value}  ({len(anomalies)})"
        units = {v.name: v.unit for v in self.variables}
        # One row per event, showing its peak (the latest told of it); newest first by
        # observed time: a watching console gets them in arrival order, which mixes
        # partitions and workers.
        peaks: dict[tuple, Anomaly] = {}
        for anomaly in sorted(anomalies, key=lambda a: a.observed_at):
            peaks[event_key(anomaly)] = anomaly
        anomalies = sorted(peaks.values(), key=lambda a: a.observed_at, reverse=True)[:LOG_ROWS]
        rows = [
            AnomalyRow(
                key="|".join(map(str, event_key(a))),
                time=clock_text(a.observed_at, self._zone(a.station_id, snap)),
                station=a.station_id,
                variable=self._labels.get(a.variable, a.variable),
                value=format_value(a.value, units.get(a.variable, ""), self.units),
                detector=a.detector,
                score=a.score,
            )
            for a in anomalies
        ]
        self._log_rows = {row.key: a for row, a in zip(rows, anomalies, strict=True)}
        time_title = "local" if self.time_shown == "station" else "time"
        self.main.query_one(AnomalyLog).show(rows, subtitle, time_title)

    def _filtered_anomalies(self, snap: PipelineSnapshot) -> list[Anomaly]:
        """Matches from memory, topped up from the store, so the filter reaches past what the
        console has seen since it started."""
        recent = [
            a
            for a in snap.anomalies
            if self.anomaly_filter.matches(a, self._labels.get(a.variable, ""))
        ]
        if self.reader is None:
            return recent
        if self._filtered is None or self._filtered[0] != self.anomaly_filter:
            stored = self.reads.get(
                ("anomalies", self.anomaly_filter),
                partial(
                    self.reader.anomalies, limit=20_000, min_score=self.anomaly_filter.min_score
                ),
                math.inf,
            )
            if stored is None:  # being read
                return recent
            self._filtered = (
                self.anomaly_filter,
                [
                    a
                    for a in stored
                    if self.anomaly_filter.matches(a, self._labels.get(a.variable, ""))
                ],
            )
        seen = {(a.station_id, a.variable, a.detector, a.observed_at) for a in recent}
        older = [
            a
            for a in self._filtered[1]
            if (a.station_id, a.variable, a.detector, a.observed_at) not in seen
        ]
        return sorted(recent + older, key=lambda a: -a.observed_at)

    def _alert_rows(self, snap: PipelineSnapshot) -> list[AlertRow]:
        return [
            AlertRow(
                alert_id=alert.id,
                severity=alert.severity,
                station=alert.station_id,
                what=self._alert_text(alert),
                age=age_text(snap.now - alert.opened_at),
                state="silenced"
                if alert.state == "active" and alert.is_silenced(snap.now)
                else alert.state,
            )
            for alert in snap.alerts
        ]

    def _ring_for_new_warnings(self, snap: PipelineSnapshot) -> None:
        """The terminal bell for a warning that opened or escalated, unless silenced or the
        bell is off (``alerts.bell``). Reaches an operator looking at another window."""
        warnings = {
            a.id
            for a in snap.alerts
            if a.severity == "warning" and a.state == "active" and not a.is_silenced(snap.now)
        }
        if warnings - self._warned and self.loaded.settings.alerts.bell:
            self.bell()
        self._warned |= warnings

    def _alert_text(self, alert: Alert) -> str:
        if alert.rule == "persistent_anomalies":
            return f"{alert.quantity:.0f} anomalies in a row"
        if alert.rule == NO_DATA:
            what = "no data" if alert.variable == "*" else f"no {alert.variable}"
            return f"{what} for {age_text(alert.quantity or 0.0)}"
        spec = next((v for v in self.variables if v.name == alert.variable), None)
        label = spec.short_label if spec else alert.variable
        quantity = alert.quantity if alert.quantity is not None else alert.value
        if alert.rule == FROZEN:
            return f"{label} sensor frozen, {quantity:.0f} repeats"
        repeated = {SPIKING: "spiking", IMPLAUSIBLE: "impossible", INCONSISTENT: "inconsistent"}
        if alert.rule in repeated:
            window = age_text(self.loaded.settings.alerts.sensor_faults.window_hours * 3600)
            return f"{label} sensor {repeated[alert.rule]}, {quantity:.0f} in {window}"
        amount = format_value(quantity, spec.unit if spec else "", self.units)
        if alert.rule == STEPPED:
            return f"{label} sensor step {amount}"
        verb = {"pressure_fall": "fell", "gust": "", "rapid_change": "Δ"}.get(alert.rule, "")
        return " ".join(part for part in (label, verb, amount) if part)

    # -- thresholds ------------------------------------------------------------------------

    def _thresholds(self, variable: str) -> list[Threshold]:
        return self.pipeline.thresholds(variable)

    def _selected(self, variable: str) -> Threshold | None:
        thresholds = self._thresholds(variable)
        if not thresholds:
            return None
        chosen = self.selected_threshold.get(variable)
        for threshold in thresholds:
            if threshold.key == chosen:
                return threshold
        # By default +/- moves the rule (what people watch) if one applies, else the z-score.
        rules = [t for t in thresholds if t.detector in RULE_DETECTORS]
        return (rules or thresholds)[0]

    def _threshold_value(self, threshold: Threshold) -> str:
        if threshold.unit in ("σ", "samples", "× spacing"):
            return f"{threshold.value:g} {threshold.unit}"
        spec = next(v for v in self.variables if v.name == threshold.variable)
        shown = display_unit(spec.unit, self.units)
        return f"{threshold.value * shown.scale:.{shown.decimals + 1}f} {shown.symbol}"

    def _editor_rows(self) -> list[ThresholdRow]:
        thresholds = list(self._thresholds(self.variable))
        for spec in self.variables:  # the rules' thresholds, whatever variable is focused
            thresholds += [t for t in self._thresholds(spec.name) if t.detector in RULE_DETECTORS]
        rows, seen = [], set()
        for t in thresholds:
            key = setting_key(t.key)
            if key in seen:
                continue
            seen.add(key)
            rows.append(ThresholdRow(t.key, self._threshold_value(t), key))
        return rows

    def apply_threshold(self, threshold: Threshold, value: float) -> bool:
        """Apply at once to the running detectors, then save; True when it applied (sent, for
        an attached console: the service applies and saves it, and its answer is told)."""
        if isinstance(self.pipeline, AttachedPipeline):
            self.pipeline.put_threshold(threshold, value, self.user)
            self.notify(f"{setting_key(threshold.key)} = {value:g}: sent to the service", timeout=3)
            return True
        try:
            change = change_threshold(
                self.loaded, self.pipeline, [v.name for v in self.variables], threshold, value
            )
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return False
        shown = self._threshold_value(self._find(threshold))
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

    def _find(self, threshold: Threshold) -> Threshold:
        return next(t for t in self._thresholds(threshold.variable) if t.key == threshold.key)

    def _step(self, threshold: Threshold, direction: int) -> None:
        value = round(threshold.value + direction * threshold.step, 6)
        if value <= 0:
            self.notify("thresholds must stay above zero", severity="warning")
            return
        self.apply_threshold(threshold, value)
        self.refresh_now()

    def _sync_focus(self) -> None:
        """The variable keys act on is the focused panel's, even before its Focused message
        has been handled."""
        if isinstance(self.focused, VariablePanel):
            self.variable = self.focused.variable

    def action_threshold_step(self, direction: int) -> None:
        self._sync_focus()
        threshold = self._selected(self.variable)
        if threshold is None:
            self.notify(f"no threshold applies to {self.variable}", severity="warning")
            return
        self._step(threshold, direction)

    def action_edit_thresholds(self) -> None:
        self._sync_focus()
        selected = self._selected(self.variable)
        title = f"Thresholds — {self.variable} and the rules"
        self.push_screen(
            ThresholdEditor(title, self._editor_rows(), selected.key if selected else None)
        )

    @on(ThresholdEditor.Selected)
    def _editor_selected(self, event: ThresholdEditor.Selected) -> None:
        self.selected_threshold[event.key.variable] = event.key
        self.refresh_now()  # the panel shows the threshold +/- now act on

    @on(ThresholdEditor.Step)
    def _editor_step(self, event: ThresholdEditor.Step) -> None:
        threshold = next(
            (t for t in self._thresholds(event.key.variable) if t.key == event.key), None
        )
        if threshold is not None:
            self._step(threshold, event.direction)
        if isinstance(self.screen, ThresholdEditor):
            self.screen.show(self._editor_rows())

    # -- other intents ---------------------------------------------------------------------

    def station_names(self) -> dict[str, str]:
        """Station id -> name, as the station list shows them (the command palette's list)."""
        return self.main.query_one(StationList).names()

    def show_station(self, station_id: str) -> None:
        self.main.query_one(StationList).select_station(station_id)

    @on(DataTable.RowSelected, "#log")
    def _anomaly_chosen(self, event: DataTable.RowSelected) -> None:
        anomaly = self._log_rows.get(str(event.row_key.value))
        if anomaly is not None:
            self._open_detail(anomaly=anomaly)

    @on(DataTable.RowSelected, "#alerts")
    def _alert_chosen(self, event: DataTable.RowSelected) -> None:
        alert = next((a for a in self._alerts if str(a.id) == event.row_key.value), None)
        if alert is not None:
            self._open_detail(alert=alert)

    def _open_detail(self, *, anomaly: Anomaly | None = None, alert: Alert | None = None) -> None:
        from mass_tui.screens.detail import DetailScreen, DetailSources

        notifications = getattr(self.pipeline, "notifications", None)  # embedded only
        history = notifications.history if notifications is not None else None
        spec = {v.name: v for v in self.variables}
        variable = (anomaly or alert).variable  # type: ignore[union-attr]
        unit = spec[variable].unit if variable in spec else ""
        sources = DetailSources(
            reader=self.reader,
            alert_events=None if history is None else history.events,
            shown=display_unit(unit, self.units),
            label=self._labels.get(variable, variable),
        )
        self.push_screen(DetailScreen(sources, anomaly=anomaly, alert=alert))

    @on(StationList.Chosen)
    def _station_chosen(self, event: StationList.Chosen) -> None:
        self.station_id = event.station_id
        self.refresh_now()

    @on(VariablePanel.Focused)
    def _variable_focused(self, event: VariablePanel.Focused) -> None:
        self.variable = event.variable
        self.refresh_now()

    def action_help(self) -> None:
        from mass_tui.screens.help import HelpScreen  # Markdown: loaded when first asked for

        keys: dict[str, list[str]] = {}  # binding id -> its keys now, remapped or not
        for active in self.main.active_bindings.values():
            if active.node is self and active.binding.id:
                keys.setdefault(active.binding.id, []).append(self.get_key_display(active.binding))
        rows = [
            (" ".join(f"`{k}`" for k in keys.get(b.id, [])) or "(none)", b.id, b.tooltip)
            for b in self.BINDINGS
            if isinstance(b, Binding) and b.id
        ]
        self.push_screen(HelpScreen(rows, self._how_it_runs()[1]))

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.notify(
            "display paused (the pipeline keeps running)" if self.paused else "resumed", timeout=2
        )
        self.refresh_now()

    def action_units(self) -> None:
        """The presets: metric, then imperial (a table of units set per quantity -> metric)."""
        self.units = IMPERIAL if self.units == METRIC else METRIC
        self._remember("ui.units", self.units)
        self.notify(f"units: {self.units}", timeout=2)
        self.refresh_now()

    def action_time_zone(self) -> None:
        self.time_shown = "station" if self.time_shown == "utc" else "utc"
        self._remember("ui.time", self.time_shown)
        told = "each station's local time" if self.time_shown == "station" else "UTC"
        self.notify(f"times in {told}", timeout=2)
        self.refresh_now()

    def _zone(self, station_id: str | None, snap: PipelineSnapshot) -> tzinfo:
        """The clock times of ``station_id`` are shown on: UTC, or the station's own."""
        if self.time_shown == "utc" or station_id is None:
            return UTC
        if self._stations_of is not snap.stations:  # one index per snapshot, not a scan a row
            self._stations_of = snap.stations
            self._station_by_id = {s.station_id: s for s in snap.stations}
        station = self._station_by_id.get(station_id)
        if station is None:
            return UTC
        return station_zone(station.timezone, station.latitude, station.longitude)

    def action_quantity_unit(self) -> None:
        """The next unit of the focused variable's quantity (°C/°F, m/s, km/h, mph, kn...),
        the other quantities as they are shown now."""
        spec = next((v for v in self.variables if v.name == self.variable), None)
        quantity = quantity_of(spec.unit) if spec is not None else None
        if spec is None or quantity is None:
            self.notify("this variable has one unit", timeout=2)
            return
        choices = unit_choices(self.units)
        units = QUANTITY_UNITS[quantity]
        now = choices.get(quantity, units[0])
        choices[quantity] = units[(units.index(now) + 1) % len(units)]
        self.units = choices
        self._remember("ui.units", choices)
        self.notify(f"{quantity}: {choices[quantity]}", timeout=2)
        self.refresh_now()

    def action_next_theme(self) -> None:
        """The console's own themes first, then Textual's, from wherever the theme is now."""
        names = [*THEME_NAMES, *sorted(set(self.available_themes) - set(THEME_NAMES))]
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    def _apply_keymap(self, keymap: Mapping[str, str]) -> None:
        """``[ui.keymap]``: binding id -> keys (``"ctrl+a"``, ``"x,y"``). An id no binding has
        is said, not silently ignored."""
        known = {b.id for b in self.BINDINGS if isinstance(b, Binding) and b.id}
        unknown = sorted(set(keymap) - known)
        if unknown:
            self.notify(
                f"ui.keymap: no key binding {printable(', '.join(unknown), 80)} "
                f"(the ids: {', '.join(sorted(known))})",
                severity="warning",
                timeout=15,
            )
        self.set_keymap({k: v for k, v in keymap.items() if k in known})

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name != self._saved_theme:
            self._saved_theme = theme.name
            self._remember("ui.theme", theme.name)
        self.refresh_now()

    def _remember(self, key: str, value: str | dict[str, str]) -> None:
        try:
            save_settings(self.loaded.user_config, {key: value})
        except ConfigSaveError as exc:
            log.warning("%s", exc)

    def action_span(self, direction: int) -> None:
        self.span_index = min(max(self.span_index + direction, 0), len(SPANS_S) - 1)
        self.notify(f"chart span: {SPAN_LABELS[self.span_index]}", timeout=2)
        self.refresh_now()

    def _done(self, what: str) -> str:
        """ "acknowledged by ann"; a watching console's commands go to the workers, and the
        alert changes when their transition comes back."""
        if not self.pipeline.desk.goes_to:
            return f"{what} by {self.user}"
        return f"{what} by {self.user}: sent to {self.pipeline.desk.goes_to}"

    def _selected_alert(self, doing: str) -> Alert | None:
        """The alert under the alert panel's cursor, or None (said) when there is none."""
        alert_id = self.main.query_one(AlertPanel).selected_alert
        alert = next((a for a in self._alerts if a.id == alert_id), None)
        if alert is None:
            self.notify(f"no alert to {doing}", timeout=2)
        return alert

    def _naming(self, alert: Alert) -> str:
        """How a message names an alert: as the panel shows it (ids are not shown)."""
        return f"{alert.station_id} {self._alert_text(alert)}"

    def action_acknowledge(self) -> None:
        self.acknowledge(self._selected_alert("acknowledge"))

    def acknowledge(self, alert: Alert | None) -> None:
        """Acknowledge ``alert`` as this console's user (the panel's or a detail view's)."""
        if alert is None:
            return
        if self.pipeline.desk.acknowledge(alert.id, self.user) is None:
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
        if alert.is_silenced(self.pipeline.clock.now()):
            changed = self.pipeline.desk.unsilence(self.user, alert_id=alert.id)
            done = "silence lifted"
        else:
            changed = self.pipeline.desk.silence(self.user, alert_id=alert.id)
            done = f"silenced for {self.loaded.settings.alerts.silence_min:g} min"
        if changed:
            self.notify(f"{self._naming(alert)} {self._done(done)}")
        else:
            state = "has cleared" if not alert.is_open else "was changed meanwhile"
            self.notify(f"{self._naming(alert)} {state}", severity="warning", timeout=3)
        self.refresh_now()

    def action_silence_station(self) -> None:
        """Silence every alert of the selected alert's station (or the selected station),
        now and arising, or lift the station's silence (a toggle)."""
        panel = self.main.query_one(AlertPanel)
        alert = next((a for a in self._alerts if a.id == panel.selected_alert), None)
        station_id = alert.station_id if alert is not None else self.station_id
        if station_id is None:
            return
        if self.pipeline.desk.station_silenced(station_id):
            self.pipeline.desk.unsilence(self.user, station_id=station_id)
            done = "silence lifted"
        else:
            self.pipeline.desk.silence(self.user, station_id=station_id)
            done = f"silenced for {self.loaded.settings.alerts.silence_min:g} min"
        self.notify(f"station {station_id} {self._done(done)}")
        self.refresh_now()

    def action_find_station(self) -> None:
        self._open_box("#station-filter")

    def _open_box(self, selector: str) -> None:
        """Show a hidden input box (the station finder, the anomaly filter) and type in it."""
        box = self.main.query_one(selector, Input)
        box.add_class("shown")
        # At once, not at the next turn of the event loop (``focus()``): keys typed fast after
        # ``f`` are already queued, and must go to the box ("-" would lower a threshold).
        self.main.set_focus(box)

    @on(Input.Changed, "#station-filter")
    def _station_filter_changed(self, event: Input.Changed) -> None:
        self.station_list = replace(self.station_list, query=event.value.strip().casefold())
        self._lists_due = 0.0
        self.refresh_now()

    @on(Input.Submitted, "#station-filter")
    def _station_filter_submitted(self, event: Input.Submitted) -> None:
        if not self.station_list.query:
            event.input.remove_class("shown")
        self.main.query_one(StationList).focus()

    def action_sort_stations(self) -> None:
        order = self.station_list.order
        order = STATION_ORDERS[(STATION_ORDERS.index(order) + 1) % len(STATION_ORDERS)]
        self.station_list = replace(self.station_list, order=order)
        self.notify(f"stations: {order}", timeout=2)
        self.refresh_now()

    def action_group_stations(self) -> None:
        grouped = not self.station_list.grouped
        self.station_list = replace(self.station_list, grouped=grouped)
        self.notify("stations grouped by state" if grouped else "stations not grouped", timeout=2)
        self.refresh_now()

    def action_filter(self) -> None:
        self._open_box("#filter")

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        try:
            self.anomaly_filter = AnomalyFilter.parse(event.value)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._filtered = None
        if not self.anomaly_filter.active:
            event.input.remove_class("shown")
        self.main.query_one(AnomalyLog).focus()
        self.refresh_now()

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Textual's parameters kept (the override must accept them); the key passes none."""
        try:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            stamp = file_stamp(time.time())
            path = self.save_screenshot(
                filename or f"mass-tui-{stamp}.svg", path or str(self.screenshot_dir)
            )
        except OSError as exc:
            self.notify(f"cannot save screenshot: {exc}", severity="error")
            return
        self.notify(f"screenshot saved to {path}", timeout=6)

    def action_statistics(self) -> None:
        from mass_tui.screens.statistics import StatisticsScreen

        reader, station_id, variable = self.reader, self.station_id, self.variable
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

        spec = next(v for v in self.variables if v.name == variable)
        self.push_screen(
            StatisticsScreen(
                reader,
                anomalies,
                station_id,
                variable,
                spec.label,
                self.pipeline.snapshot().now,
                display_unit(spec.unit, self.units),
            )
        )

    def action_export(self) -> None:
        """In a thread: a long span of a busy store must not hold the screen."""
        if self.station_id is None:
            self.notify("no station to export yet", severity="warning")
            return
        until = self.pipeline.snapshot().now
        since = until - SPANS_S[self.span_index]
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", self.station_id)[:40] or "station"
        stamp = file_stamp(until)
        path = self.loaded.data_dir / "exports" / f"{safe}-{stamp}.csv"
        request = ExportRequest("observations", "csv", since, until, (self.station_id,))
        self.run_worker(partial(self._export, request, path), thread=True, name="export")

    def _export(self, request: ExportRequest, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            count = export(self.loaded.database_path, request, str(path)).count
        except (ExportError, OSError) as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        span = SPAN_LABELS[self.span_index]
        self.call_from_thread(
            self.notify, f"exported {count:,} readings ({span}) to {path}", timeout=8
        )

    async def action_quit(self) -> None:
        self.notify("stopping: flushing the store…", timeout=2)
        await self.run_worker(self.pipeline.stop, thread=True, name="pipeline-stop").wait()
        self.reads.close()
        self.exit()


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


def _trend(series: np.ndarray, resolution: float) -> str:
    """Compare the mean of the last five readings with the five before them."""
    if len(series) < 10:
        return ""
    change = float(np.mean(series[-5:]) - np.mean(series[-10:-5]))
    if abs(change) < 2 * resolution:
        return "→"
    return "↑" if change > 0 else "↓"


def _short(threshold: Threshold) -> str:
    """A panel-sized name for a threshold: ``z ≥``, ``fall ≥``, ``gust warn ≥``."""
    names = {
        "zscore": "z",
        "ewma": "EWMA L",
        "cusum": "CUSUM h",
        "stuck": "stuck",
        "gap": "gap ×",
        "rapid_change": "Δ",
        "pressure_fall": "fall",
        "gust": "gust",
    }
    name = names.get(threshold.detector, threshold.detector)
    if threshold.parameter.startswith("warning"):
        name += " warn"
    return f"{name} ≥"


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
