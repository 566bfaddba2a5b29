"""Pilot tests: every key of the console, as a person presses it."""

import html
import re
import sqlite3
import threading
import tomllib
from dataclasses import replace

import pytest
from textual.app import App
from textual.command import CommandList
from textual.widgets import Input

from mass_tui.screens.help import HelpScreen
from mass_tui.screens.threshold_editor import ThresholdEditor
from pipeline.threshold_catalogue import ThresholdKey
from tests.conftest import make_console
from themes import THEME_NAMES
from widgets.alert_panel import AlertPanel, AlertRow
from widgets.anomaly_log import AnomalyLog, AnomalyRow
from widgets.status_bar import StatusBar
from widgets.trend_chart import TrendChart
from widgets.variable_panel import VariablePanel

SIZE = (120, 40)


def panel_text(app, variable):
    panel = app.query_one(f"#panel-{variable}", VariablePanel)
    return str(panel.query_one(".value").render())


def threshold(pipeline, variable, detector, parameter):
    return next(
        t.value
        for t in pipeline.thresholds(variable)
        if (t.detector, t.parameter) == (detector, parameter)
    )


async def test_help_opens_and_closes(console):
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(console.app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(console.app.screen, HelpScreen)


async def test_pause_freezes_the_display_while_the_pipeline_keeps_running(console):
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        before = panel_text(console.app, "temperature_c")
        accepted = console.pipeline.analytics.counters.accepted
        console.feed(30)
        console.app.main.refresh_view()
        await pilot.pause()
        assert console.pipeline.analytics.counters.accepted == accepted + 150
        assert panel_text(console.app, "temperature_c") == before
        assert "PAUSED" in str(console.app.query_one(StatusBar).render())
        await pilot.press("p")
        await pilot.pause()
        assert panel_text(console.app, "temperature_c") != before


async def test_units_change_the_display_only(console, tmp_path):
    async with console.app.run_test(size=SIZE) as pilot:
        assert "°C" in panel_text(console.app, "temperature_c")
        stored_before = console.store.series("nyc", "temperature_c", 0)[1].tolist()
        await pilot.press("u")
        await pilot.pause()
        assert "°F" in panel_text(console.app, "temperature_c")
        assert "inHg" in panel_text(console.app, "pressure_msl_hpa")
        assert "mph" in panel_text(console.app, "wind_speed_ms")
        assert console.store.series("nyc", "temperature_c", 0)[1].tolist() == stored_before
        latest = console.pipeline.snapshot().latest_values[0, 0]
        assert -95 < latest < 65  # still Celsius inside the pipeline


async def test_t_cycles_the_own_themes_then_textuals_and_each_is_remembered(console):
    async with console.app.run_test(size=SIZE) as pilot:
        seen = [console.app.theme]
        for _ in range(4):
            await pilot.press("t")
            await pilot.pause()
            seen.append(console.app.theme)
        assert seen[:4] == ["mass-dark", "mass-light", "mass-high-contrast", seen[3]]
        assert seen[3] == min(set(console.app.available_themes) - set(seen[:3]))
        assert saved_theme(console) == seen[4]


def saved_theme(console) -> str:
    return tomllib.loads(console.loaded.user_config.read_text())["ui"]["theme"]


async def test_a_textual_theme_from_config_is_used_and_one_from_the_palette_saved(tmp_path):
    console = make_console(tmp_path, config='[ui]\ntheme = "nord"\n', steps=5)
    async with console.app.run_test(size=SIZE) as pilot:
        assert console.app.theme == "nord"
        assert not console.loaded.user_config.exists()  # nothing changed, nothing written
        console.app.theme = "gruvbox"  # what the command palette's theme picker does
        await pilot.pause()
        assert saved_theme(console) == "gruvbox"
        await pilot.press("t")  # on from gruvbox, not back to the first theme
        await pilot.pause()
        names = [*THEME_NAMES, *sorted(set(console.app.available_themes) - set(THEME_NAMES))]
        assert console.app.theme == names[names.index("gruvbox") + 1]


async def test_an_unknown_theme_is_said_and_the_default_used(tmp_path):
    console = make_console(tmp_path, config='[ui]\ntheme = "no-such"\n', steps=5)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert console.app.theme == THEME_NAMES[0]
        assert any("unknown theme 'no-such'" in n.message for n in console.app._notifications)


async def test_a_acknowledges_the_selected_alert(console):
    async with console.app.run_test(size=SIZE) as pilot:
        alerts = console.pipeline.snapshot().alerts
        assert alerts and alerts[0].state == "active"
        await pilot.press("a")
        await pilot.pause()
        acked = next(a for a in console.pipeline.snapshot().alerts if a.id == alerts[0].id)
        assert (acked.state, acked.acknowledged_by) == ("acknowledged", "tester")
        assert "acked" in console.app.query_one(AlertPanel).get_row_at(0)[4].plain
        said = console.app._notifications
        assert any(
            n.message.startswith(f"{acked.station_id} P ") and "acknowledged by tester" in n.message
            for n in said
        )


def alert_row(alert_id: int, state: str = "active") -> AlertRow:
    return AlertRow(alert_id, "warning", "lon", f"Gust {alert_id} m/s", "1 min", state)


async def test_the_alert_cursor_follows_a_choice_only_while_the_panel_has_focus():
    class PanelApp(App):
        def compose(self):
            yield AlertPanel()
            yield Input()

    app = PanelApp()
    async with app.run_test(size=(60, 12)) as pilot:
        panel = app.query_one(AlertPanel)
        panel.show([alert_row(1), alert_row(2)])
        panel.focus()
        await pilot.press("down")
        assert panel.selected_alert == 2
        panel.show([alert_row(3), alert_row(1), alert_row(2)])  # a new alert on top
        assert panel.selected_alert == 2
        app.query_one(Input).focus()
        await pilot.pause()
        panel.show([alert_row(4), alert_row(3), alert_row(1), alert_row(2)])
        assert panel.selected_alert == 4  # unattended: the newest, most severe


def log_row(n: int) -> AnomalyRow:
    return AnomalyRow(f"k{n}", f"00:{n:02d}:00", "lon", "Gust", f"{n} m/s", "gust", 0.6)


async def test_tables_updated_in_place_show_exactly_the_rows_given():
    """The log and the alert panel rewrite changed cells instead of rebuilding: whatever
    the rows do (new on top, some gone, fewer), every cell is what a fresh table shows, and
    a cursor off the top row stays on its anomaly."""

    class TablesApp(App):
        def compose(self):
            yield AnomalyLog()
            yield AlertPanel()

    app = TablesApp()
    async with app.run_test(size=(80, 30)) as pilot:
        log, panel = app.query_one(AnomalyLog), app.query_one(AlertPanel)
        log.show([log_row(n) for n in (3, 2, 1)])
        log.focus()
        await pilot.press("down")  # on k2
        for shown in ([5, 4, 3, 2, 1], [6, 5, 2], [9, 8, 7, 2, 1], [9, 1], [1]):
            log.show([log_row(n) for n in shown])
            cells = [[str(c) for c in log.get_row_at(i)] for i in range(log.row_count)]
            assert cells == [[str(c) for c in AnomalyLog._cells(log_row(n))] for n in shown]
            # on its anomaly while it is listed; then on the top row
            assert log.key_at(log.cursor_row) == ("k2" if 2 in shown else f"k{shown[0]}")
        for shown in ([1], [3, 2, 1], [4, 2], [5, 4, 2, 1, 6], [6]):
            panel.show([alert_row(n) for n in shown])
            whats = [panel.get_row_at(i)[2].plain for i in range(panel.row_count)]
            assert whats == [f"Gust {n} m/s" for n in shown]
            assert panel.selected_alert == shown[0]  # unattended: the top one


async def test_a_narrow_status_line_drops_its_least_telling_parts_not_the_backlog():
    """At 80 columns the line ended in "bus" (Kafka's state and the backlog cut off)."""
    from widgets.status_bar import StatusLine

    class BarApp(App):
        def compose(self):
            yield StatusBar()

    status = StatusLine(
        clock="2026-12-07 06:58:46Z",
        time="06:58:46Z",
        source="simulator",
        source_state="ok",
        bus="kafka",
        bus_depth=12_345,
        bus_state="up · 3/6 partitions",
        rate=1000.0,
        anomalies_last_hour=423,
        problems=(),
        units="imperial",
        running="embedded · stops when you quit",
    )
    for width, shown, gone in (
        (160, ["stops when you quit", "2026-12-07", "3/6 partitions", "lag 12,345"], []),
        (80, ["06:58:46Z", "anom/h", "lag 12,345", "imperial"], ["2026-12-07", "partitions"]),
    ):
        app = BarApp()
        async with app.run_test(size=(width, 3)) as pilot:
            bar = app.query_one(StatusBar)
            bar.show(status)
            await pilot.pause()
            line = bar.render().plain
            assert len(line) <= width - 2, line  # within its padding
            assert all(part in line for part in shown), line
            assert not any(part in line for part in gone), line


async def test_a_log_cell_rewritten_wider_than_its_column_widens_it():
    """``1004.4 hPa`` rewritten in place over ``5 m/s`` showed as ``1004.4 hP``. The columns
    widen to the widest cell written (they do not shrink back: measuring a narrower cell
    makes Textual re-measure its whole column, every cell of the log each refresh)."""

    class LogApp(App):
        def compose(self):
            yield AnomalyLog()

    def row(n: int, value: str) -> AnomalyRow:
        return replace(log_row(n), value=value, detector="pressure_fall" if n > 2 else "gust")

    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(AnomalyLog)
        log.show([row(2, "5 m/s"), row(1, "4 m/s")])
        await pilot.pause()
        log.show([row(3, "1004.4 hPa"), row(2, "5 m/s"), row(1, "4 m/s")])
        await pilot.pause()
        value, detector = log.columns[log._columns[3]], log.columns[log._columns[4]]
        assert value.content_width == len("1004.4 hPa")
        assert detector.content_width == len("pressure_fall")
        assert "1004.4 hPa" in str(log.render_line(1).text)


async def test_a_station_id_longer_than_its_column_shows_that_it_was_cut():
    """``nyc_central`` showed as ``nyc_``: a different station, as far as anyone could tell.
    The column is as wide as the longest id, up to 12; a longer one ends in an ellipsis."""

    class PanelApp(App):
        def compose(self):
            yield AlertPanel()

    app = PanelApp()
    async with app.run_test(size=(60, 12)):
        panel = app.query_one(AlertPanel)
        panel.show([AlertRow(1, "warning", "nyc_central", "Gust 31 m/s", "1 min", "active")])
        assert panel.get_row_at(0)[1].plain == "nyc_central"
        assert panel.get_row_at(0)[2].plain == "Gust 31 m/s"
        panel.show([AlertRow(2, "warning", "nyc_central_park", "Gust 9 m/s", "1 min", "active")])
        assert panel.get_row_at(0)[1].plain == "nyc_central…"
        panel.show([AlertRow(3, "warning", "syn-0370", "x", "1 s", "active"), alert_row(4)])
        assert [panel.get_row_at(i)[1].plain for i in (0, 1)] == ["syn-0370", "lon"]


async def test_z_silences_the_selected_alert_and_shift_z_its_station(console):
    async with console.app.run_test(size=SIZE) as pilot:
        first = console.pipeline.snapshot().alerts[0]
        await pilot.press("z")
        await pilot.pause()
        silenced = {a.id: a for a in console.pipeline.snapshot().alerts}
        assert silenced[first.id].silenced_by == "tester"
        assert "muted" in console.app.query_one(AlertPanel).get_row_at(0)[4].plain
        await pilot.press("Z")
        await pilot.pause()
        station = [
            a for a in console.pipeline.snapshot().alerts if a.station_id == first.station_id
        ]
        assert all(
            a.silenced_by == "tester" and a.is_silenced(console.clock.now()) for a in station
        )


async def test_z_and_shift_z_again_lift_the_silence(console):
    """Same observed time throughout (a fixed clock): every press still toggles."""

    def muted() -> list[bool]:
        now = console.clock.now()
        return [a.is_silenced(now) for a in console.pipeline.snapshot().alerts if a.is_open]

    async with console.app.run_test(size=SIZE) as pilot:
        for key, expected in (("z", True), ("z", False), ("Z", True), ("Z", False)):
            await pilot.press(key)
            await pilot.pause()
            assert muted()[0] is expected, key
        assert not any(muted())
        assert "active" in console.app.query_one(AlertPanel).get_row_at(0)[4].plain
        assert any("silence lifted by tester" in n.message for n in console.app._notifications)


async def test_a_new_warning_rings_the_bell_once(console):
    rings = []
    console.app.bell = lambda: rings.append(1)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.6)  # a few refresh ticks
        assert any(a.severity == "warning" for a in console.pipeline.snapshot().alerts)
        assert rings == [1]


async def test_slash_filters_the_anomaly_log(console):
    async with console.app.run_test(size=SIZE) as pilot:
        log = console.app.query_one(AnomalyLog)
        rows = [
            (log.get_row_at(i)[2].plain, log.get_row_at(i)[4].plain) for i in range(log.row_count)
        ]
        assert ("P stn", "pressure_fall") in rows and ("P msl", "pressure_fall") in rows
        await pilot.press("slash", *"detector:pressure variable:msl", "enter")
        await pilot.pause()
        shown = {
            (log.get_row_at(i)[2].plain, log.get_row_at(i)[4].plain) for i in range(log.row_count)
        }
        assert shown == {("P msl", "pressure_fall")} and log.row_count < len(rows)
        assert "filter" in log.border_subtitle


async def test_the_log_shows_short_variable_labels_and_filters_by_them_or_by_name(console):
    async with console.app.run_test(size=SIZE) as pilot:
        log = console.app.query_one(AnomalyLog)
        for typed in ("variable:msl", "variable:pressure_msl"):
            await pilot.press("slash", "ctrl+u", *typed, "enter")
            await pilot.pause()
            assert log.row_count and {log.get_row_at(i)[2].plain for i in range(log.row_count)} == {
                "P msl"
            }


async def test_s_saves_a_screenshot_and_says_where(console, tmp_path):
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        shots = list((tmp_path / "shots").glob("*.svg"))
        assert len(shots) == 1 and shots[0].read_text().startswith("<svg")
        assert any(str(shots[0]) in n.message for n in console.app._notifications)


async def test_plus_on_a_panel_raises_the_threshold_the_detector_uses_and_saves_it(console):
    gust = "wind_gust_ms"
    before = threshold(console.pipeline, gust, "gust", "advisory_ms")
    async with console.app.run_test(size=SIZE) as pilot:
        console.app.query_one(f"#panel-{gust}", VariablePanel).focus()
        await pilot.pause()
        await pilot.press("plus", "plus", "minus", "plus")
        await pilot.pause()
    after = threshold(console.pipeline, gust, "gust", "advisory_ms")
    assert after == before + 1.0
    saved = tomllib.loads(console.loaded.user_config.read_text())
    assert saved["rules"]["gust"]["advisory_ms"] == after


async def test_threshold_editor_changes_the_selected_row(console):
    variable = "temperature_c"
    before = threshold(console.pipeline, variable, "zscore", "threshold")
    async with console.app.run_test(size=SIZE) as pilot:
        console.app.query_one(f"#panel-{variable}", VariablePanel).focus()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(console.app.screen, ThresholdEditor)
        editor = console.app.screen
        assert editor.current == ThresholdKey("zscore", "threshold", variable)
        await pilot.press("plus")
        await pilot.pause()
        await pilot.press("escape")
    assert threshold(console.pipeline, variable, "zscore", "threshold") == before + 0.5
    saved = tomllib.loads(console.loaded.user_config.read_text())
    assert saved["detectors"]["zscore"]["thresholds"][variable] == before + 0.5


async def test_unwritable_config_notifies_and_the_change_still_applies(tmp_path):
    console = make_console(tmp_path, steps=120)
    blocker = tmp_path / "user"
    blocker.write_text("a file where the config directory should be")
    gust = "wind_gust_ms"
    before = threshold(console.pipeline, gust, "gust", "advisory_ms")
    async with console.app.run_test(size=SIZE) as pilot:
        console.app.query_one(f"#panel-{gust}", VariablePanel).focus()
        await pilot.press("plus")
        await pilot.pause()
        messages = [n.message for n in console.app._notifications]
    assert threshold(console.pipeline, gust, "gust", "advisory_ms") == before + 0.5
    assert any("for this session only" in m and "cannot save settings" in m for m in messages)


async def test_q_quits_and_leaves_the_store_consistent(console):
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause(0.5)
    assert console.app.return_code == 0 or console.app.return_code is None
    accepted = console.pipeline.analytics.counters.accepted
    path = console.loaded.database_path
    assert not path.with_name(path.name + "-wal").exists() or (
        path.with_name(path.name + "-wal").stat().st_size == 0
    )
    with sqlite3.connect(path) as db:
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
        (rows,) = db.execute("select count(*) from observations").fetchone()
        # One per event: its first anomaly (its later peaks carry the event's start).
        (anomalies,) = db.execute(
            "select count(*) from anomalies where event_start is null"
        ).fetchone()
    assert rows == accepted
    assert anomalies == console.pipeline.analytics.counters.anomalies


async def test_resizing_switches_between_full_and_compact_layouts(console):
    async with console.app.run_test(size=SIZE) as pilot:
        chart = console.app.query_one("#chart")
        assert chart.display and not console.app.main.has_class("compact")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.4)
        assert console.app.main.has_class("compact")
        assert chart.region.width == 0  # the chart is not drawn in the compact layout
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.4)
        assert not console.app.main.has_class("compact") and chart.region.width > 0


async def test_brackets_change_the_chart_span(console):
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert "last 6 h" in console.app.main.query_one(TrendChart).given.title
        assert console.app.main.view.span_index == 2
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        assert console.app.main.view.span_index == 0


async def test_a_failing_api_source_shows_in_the_status_line(console):
    import socket

    from pipeline.clock import FixedClock
    from pipeline.sources.open_meteo import OpenMeteoSource

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FixedClock(0.0)
    source = OpenMeteoSource(
        list(console.loaded.stations), api_base=f"http://127.0.0.1:{port}", clock=clock
    )
    for _ in range(3):  # three refused connections, waiting out each backoff
        source.poll()
        clock.advance(400)
    console.pipeline.source = source
    try:
        async with console.app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            status = str(console.app.query_one(StatusBar).render())
        assert "✖ open-meteo failing since" in status
        assert "refused" in status
    finally:
        source.close()


CELL_PX = 12.2  # the width of a terminal cell in Textual's SVG screenshots
SVG_TEXT = re.compile(r'<text [^>]*x="([\d.]+)"[^>]*-line-(\d+)\)">([^<]*)</text>')


def screen_text(app) -> list[str]:
    """The screen as plain text, line by line, read back from the app's own screenshot."""
    grid: dict[int, list[str]] = {}
    for x, line, text in SVG_TEXT.findall(app.export_screenshot()):
        row = grid.setdefault(int(line), [" "] * 400)
        column = round(float(x) / CELL_PX)
        for offset, char in enumerate(html.unescape(text).replace("\xa0", " ")):
            row[column + offset] = char
    return ["".join(grid[n]).rstrip() for n in sorted(grid)]


async def test_text_from_messages_is_shown_as_it_is_never_as_markup(console):
    """A station whose id, name and source look like Rich markup (an unmatched closing tag
    raised MarkupError inside the render) or hold escape sequences: shown literally."""
    from pipeline.observation import Observation

    name, station_id = "[/]E[b]\x1b]0", "[/]"
    gust = {"wind_speed_ms": 20.0, "wind_gust_ms": 45.0}
    at = console.clock.now()
    console.pipeline.bus.publish([Observation(station_id, name, None, None, at, "t[/]", gust)])
    console.pipeline.process_pending()
    async with console.app.run_test(size=SIZE, notifications=True) as pilot:
        console.app.main.refresh_view()
        await pilot.pause()
        lines = screen_text(console.app)
        console.app.query_one(AlertPanel).focus()  # its first row: the "[/]" gust warning
        await pilot.press("a")
        await pilot.pause()
        toast = screen_text(console.app)
    assert any("[/] Gust" in line and "acknowledged" in line for line in toast), toast
    assert any("▲ [/]E[b]\\x1b]0" in line for line in lines)  # the station list
    assert any("[/]  Gust      45.0 m/s    gust" in line for line in lines)  # the anomaly log
    assert any("WARN  [/]   Gust 45.0 m/s" in line for line in lines)  # the alert panel


async def test_a_filter_that_looks_like_markup_is_shown_as_typed(console):
    """'station:[/]' in the filter raised MarkupError from the log's subtitle and ended the
    console with a traceback."""
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"station:[/]", "enter")
        await pilot.pause()
        console.app.main.refresh_view()
        await pilot.pause()
        assert any("filter: station:[/]  (0)" in line for line in screen_text(console.app))


async def test_a_station_id_of_the_longest_allowed_length_leaves_the_log_readable(console):
    from pipeline.observation import Observation

    station_id = "a" * 64
    gust = {"wind_speed_ms": 20.0, "wind_gust_ms": 45.0}
    at = console.clock.now()
    console.pipeline.bus.publish([Observation(station_id, "Long", None, None, at, "t", gust)])
    console.pipeline.process_pending()
    async with console.app.run_test(size=SIZE) as pilot:
        console.app.main.refresh_view()
        await pilot.pause()
        lines = screen_text(console.app)
    assert any("aaaaaaaaa…  Gust      45.0 m/s    gust" in line for line in lines), lines


async def test_every_footer_key_fits_in_80_columns(tmp_path):
    from textual.widgets._footer import FooterKey

    console = make_console(tmp_path, steps=5)
    async with console.app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        keys = list(console.app.main.query(FooterKey))
        shown = [b for b in console.app.main.BINDINGS if b.show]
        assert len(keys) == len(shown)
        assert all(key.region.width > 0 and key.region.right <= 80 for key in keys), [
            (key.description, key.region) for key in keys
        ]


def test_warning_and_advisory_stations_differ_without_colour():
    from widgets.station_list import StationList, StationRow

    prompts = {
        alert: StationList._prompt(StationRow("x", "X", "", alert)).plain.split()[0]
        for alert in ("warning", "advisory")
    }
    assert prompts["warning"] != prompts["advisory"]


async def test_a_remapped_key_does_the_action_and_the_help_and_footer_say_so(tmp_path):
    console = make_console(tmp_path, config='[ui.keymap]\nacknowledge = "ctrl+k"\n')
    async with console.app.run_test(size=SIZE) as pilot:
        first = console.pipeline.snapshot().alerts[0]
        await pilot.press("a")  # no longer bound
        await pilot.pause()
        assert console.pipeline.snapshot().alerts[0].state == "active"
        await pilot.press("ctrl+k")
        await pilot.pause()
        acked = next(a for a in console.pipeline.snapshot().alerts if a.id == first.id)
        assert acked.state == "acknowledged"
        assert any("^k Ack" in line for line in screen_text(console.app)[-2:])
        await pilot.press("question_mark")
        await pilot.pause()
        help_text = console.app.screen.text
        assert "| `^k` | acknowledge | acknowledge the selected alert" in help_text
        # every binding of the App has its line, from the bindings themselves
        assert all(f"| {b.id} | {b.tooltip} |" in help_text for b in console.app.main.BINDINGS)


async def test_a_keymap_id_no_binding_has_is_said(tmp_path):
    console = make_console(tmp_path, config='[ui.keymap]\nacknowlege = "ctrl+k"\n', steps=5)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        said = [n.message for n in console.app._notifications]
        assert any("ui.keymap: no key binding acknowlege" in m for m in said), said


async def test_a_key_the_keymap_takes_from_another_binding_is_said(tmp_path):
    config = '[ui.keymap]\nstatistics = "z"\nexport = "?"\n'
    console = make_console(tmp_path, config=config, steps=5)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        said = [n.message for n in console.app._notifications]
        assert sum("statistics takes the key z from silence" in m for m in said) == 1, said
        assert sum("export takes the key question_mark from help" in m for m in said) == 1
        assert not any(" z Mute" in line for line in screen_text(console.app)[-2:])


async def test_quit_remapped_to_ctrl_q_stays_in_the_footer(tmp_path):
    console = make_console(tmp_path, config='[ui.keymap]\nquit = "ctrl+q"\n', steps=5)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("^q Quit" in line for line in screen_text(console.app)[-2:])
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert console.app.return_code is not None or not console.app.is_running


async def palette_run(pilot, query: str) -> None:
    """Open the command palette, type ``query`` and run the best match, as a person does."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*query)
    results = pilot.app.screen.query_one(CommandList)
    for _ in range(200):  # the palette searches in the background: wait for its hits, not a time
        await pilot.pause(0.05)
        if results.option_count and all(
            word in str(results.get_option_at_index(0).prompt).lower() for word in query.split()
        ):
            break
    command_list = pilot.app.screen.query_one(CommandList)
    if command_list.highlighted is None:
        await pilot.press("down")  # the palette highlights its first hit only when asked
    assert command_list.highlighted == 0
    await pilot.press("enter")
    await pilot.pause()


async def test_the_palette_runs_the_consoles_actions_and_jumps_to_stations(console):
    async with console.app.run_test(size=SIZE) as pilot:
        first = console.pipeline.snapshot().alerts[0]
        await palette_run(pilot, "acknowledge the selected")
        acked = next(a for a in console.pipeline.snapshot().alerts if a.id == first.id)
        assert acked.state == "acknowledged"
        await palette_run(pilot, "station tokyo")
        assert console.app.main.view.station_id == "tyo"


async def test_x_exports_the_selected_station_over_the_chart_span(console):
    import csv as csv_module

    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        said = [n.message for n in console.app._notifications if "exported" in n.message]
        assert said, [n.message for n in console.app._notifications]
        path = next((console.loaded.data_dir / "exports").glob("nyc-*.csv"))
        rows = list(csv_module.DictReader(path.open(newline="")))
        assert rows and {r["station_id"] for r in rows} == {"nyc"}
        assert f"exported {len(rows):,} readings (1 h) to {path}" in said[0]


async def test_statistics_show_hours_and_days_from_the_store_with_their_anomalies(console):
    from textual.widgets import DataTable

    from mass_tui.screens.statistics import StatisticsScreen

    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("S")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        screen = console.app.screen
        assert isinstance(screen, StatisticsScreen)
        table = screen.query_one(DataTable)
        hours = [table.get_row_at(i) for i in range(table.row_count)]
        stored = console.store.stats("temperature_c", 3600.0, 0.0, station_id="nyc")
        assert len(hours) == min(24, len(stored)) and hours[0][1] == f"{stored[-1].count:,}"
        assert hours[0][3] == f"{stored[-1].mean:.2f}"  # °C, one more decimal than the panel
        await pilot.press("d")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        days = [table.get_row_at(i) for i in range(table.row_count)]
        assert sum(int(d[1].replace(",", "")) for d in days) == sum(h.count for h in stored)
        fired = console.store.anomalies(station_id="nyc", variable="temperature_c", limit=10_000)
        assert sum(int(d[6]) for d in days) == len(fired)
        await pilot.press("escape")
        assert not isinstance(console.app.screen, StatisticsScreen)


async def test_the_statistics_span_is_chosen_with_brackets(tmp_path):
    from textual.widgets import DataTable

    from mass_tui.screens.statistics import StatisticsScreen

    console = make_console(tmp_path, steps=600)  # 10 h of readings, from midnight
    async with console.app.run_test(size=SIZE) as pilot:

        async def shown(*keys: str) -> tuple[str, list]:
            await pilot.press(*keys)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            screen = console.app.screen
            assert isinstance(screen, StatisticsScreen)
            table = screen.query_one(DataTable)
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            return screen.query_one("#title").render().plain, rows

        await pilot.pause()
        title, day = await shown("S")
        assert title.endswith("hourly, last 24 h") and len(day) == 10
        title, six = await shown("left_square_bracket")
        assert title.endswith("hourly, last 6 h") and six == day[:6]
        title, _ = await shown("left_square_bracket")  # it stays at the shortest
        assert title.endswith("hourly, last 6 h")
        title, week = await shown(*["right_square_bracket"] * 4)  # and at the longest
        assert title.endswith("hourly, last 7 days") and week == day
        title, days = await shown("d")
        assert title.endswith("daily, last 30 days") and len(days) == 1


async def test_enter_opens_the_detail_of_an_alert_or_anomaly_and_a_acknowledges_there(console):
    from mass_tui.screens.detail import DetailScreen

    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = console.pipeline.snapshot().alerts[0]
        console.app.query_one(AlertPanel).focus()
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        screen = console.app.screen
        assert isinstance(screen, DetailScreen) and screen.alert.id == first.id
        facts = screen.query_one("#facts").render().plain
        assert first.rule in facts and "threshold" in facts
        assert "readings " in screen.query_one("#context").render().plain
        assert len(screen.query_one("Sparkline").data) > 0
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(console.app.screen, DetailScreen)
        acked = next(a for a in console.pipeline.snapshot().alerts if a.id == first.id)
        assert acked.state == "acknowledged"
        console.app.query_one(AnomalyLog).focus()
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        screen = console.app.screen
        assert isinstance(screen, DetailScreen) and screen.anomaly is not None
        assert screen.anomaly.detector in screen.query_one("#facts").render().plain


async def test_the_detail_of_an_alert_shows_its_amounts_in_the_units_shown(console):
    from mass_tui.screens.detail import DetailScreen

    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("u")  # imperial
        console.app.query_one(AlertPanel).focus()
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(console.app.screen, DetailScreen)
        facts = dict(
            line.strip().split("  ", 1)
            for line in console.app.screen.query_one("#facts").render().plain.splitlines()
        )
        unit = facts["value"].split()[-1]
        assert unit in ("inHg", "mph"), facts
        assert facts["measured"].endswith(unit) and facts["threshold"].endswith(unit), facts
        assert "." not in facts["opened"] + facts["updated"], facts  # to the second


async def test_find_filters_the_stations_as_you_type_and_o_sorts_them(console):
    from widgets.station_list import StationList

    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        stations = console.app.query_one(StationList)
        assert list(stations.names()) == ["nyc", "lon", "tyo", "syd", "dxb"]
        await pilot.press("f", "o", "n")  # "on": London only (ids and names, any case)
        await pilot.pause()
        assert list(stations.names()) == ["lon"]
        assert stations.border_title.startswith("Stations 1/5")
        for _ in range(2):
            await pilot.press("backspace")
        await pilot.press("enter")  # an empty finder hides itself; the list has focus
        await pilot.pause()
        assert list(stations.names()) == ["nyc", "lon", "tyo", "syd", "dxb"]
        await pilot.press("o")  # by name
        await pilot.pause()
        assert list(stations.names().values()) == ["Dubai", "London", "New York", "Sydney", "Tokyo"]
        await pilot.press("o")  # alerting first: warnings, then advisories, then the rest
        await pilot.pause()
        ranks = [row for row in stations.names()]
        alerting = {a.station_id for a in console.pipeline.snapshot().alerts if a.is_open}
        assert set(ranks[: len(alerting)]) == alerting


async def test_units_per_quantity_from_config_and_cycled_with_U(tmp_path):
    console = make_console(tmp_path, config='[ui.units]\nspeed = "kn"\n', steps=30)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert " kn" in panel_text(console.app, "wind_speed_ms")
        assert "°C" in panel_text(console.app, "temperature_c")  # the rest stays metric
        console.app.query_one("#panel-pressure_msl_hpa", VariablePanel).focus()
        await pilot.press("U")
        await pilot.pause()
        assert "inHg" in panel_text(console.app, "pressure_msl_hpa")
        assert " kn" in panel_text(console.app, "wind_speed_ms")
        saved = tomllib.loads(console.loaded.user_config.read_text())["ui"]["units"]
        assert saved == {"speed": "kn", "pressure": "inHg"}
        await pilot.press("u")  # the presets still: from a table back to metric, then imperial
        await pilot.pause()
        assert "m/s" in panel_text(console.app, "wind_speed_ms")
        await pilot.press("u")
        await pilot.pause()
        assert "mph" in panel_text(console.app, "wind_speed_ms")


def test_an_unknown_unit_in_config_is_a_one_line_error(tmp_path):
    from mass_tui.settings_layers import ConfigError, load_settings

    bad = tmp_path / "bad.toml"
    bad.write_text('[ui.units]\nspeed = "furlongs"\n')
    with pytest.raises(ConfigError, match=r"ui\.units: speed: unknown unit 'furlongs'"):
        load_settings(config_path=bad, environ={}, user_config=tmp_path / "u.toml")


class GatedReader:
    """The console's real store reader, whose minute ranges wait for the test to let them
    through: a long span's first read, held in flight."""

    def __init__(self, reader) -> None:
        self._reader = reader
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def minute_envelope(self, *args, **kwargs):
        self.release.wait(10)
        return self._reader.minute_envelope(*args, **kwargs)


async def test_a_long_span_shows_a_loading_indicator_until_the_store_answers(console):
    gated = GatedReader(console.app.reader)
    console.app.reader = gated
    async with console.app.run_test(size=SIZE) as pilot:
        chart = console.app.main.query_one(TrendChart)
        await pilot.press("right_square_bracket", "right_square_bracket")  # 24 h: the store's
        await pilot.pause()
        assert console.app.main.view.span_label == "24 h"
        assert chart.loading
        gated.release.set()
        for _ in range(100):  # the read, then the chart's next turn (throttled to 1 s)
            await pilot.pause(0.05)
            if not chart.loading:
                break
        assert not chart.loading
        assert chart.given.times[0] < console.clock.now() - 5 * 3600  # the store's day


HOSTILE_STATION = (  # and London, whose front the test console schedules
    '[[stations]]\nid = "[/]"\nname = "[/]"\nlatitude = 40.7\nlongitude = -74.0\n'
    '[[stations]]\nid = "lon"\nname = "London"\nlatitude = 51.5\nlongitude = -0.1\n'
)


async def test_a_station_named_like_markup_is_text_in_the_palette_and_the_statistics(tmp_path):
    """A station "[/]" stopped the console with a MarkupError when the palette listed it or
    the statistics view named it."""
    from mass_tui.screens.statistics import StatisticsScreen

    console = make_console(tmp_path, config=HOSTILE_STATION, steps=30)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"station")
        results = console.app.screen.query_one(CommandList)

        def stations_found() -> list[str]:
            prompts = (
                str(results.get_option_at_index(i).prompt) for i in range(results.option_count)
            )
            return [p.split("\n")[0] for p in prompts if p.startswith("Station:")]

        for _ in range(200):  # the palette searches in the background: wait for its hits
            await pilot.pause(0.05)
            if len(stations_found()) == 2:
                break
        assert "Station: [/] ([/])" in stations_found()
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(console.app.screen, StatisticsScreen)
        assert str(console.app.screen.query_one("#title").render()).startswith(
            "Temperature at [/]:"
        )


async def test_a_fault_in_the_console_is_logged_and_ends_it_with_status_1(console, caplog):
    def fault() -> None:
        raise RuntimeError("boom [/]")

    with pytest.raises(RuntimeError, match="boom"):
        async with console.app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            console.app.call_later(fault)
            await pilot.pause()
    assert console.app.return_code == 1
    assert "the console stopped on an error" in caplog.text
    assert "RuntimeError: boom [/]" in caplog.text  # the traceback, in the log
