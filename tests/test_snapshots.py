"""Snapshots of the console (pytest-textual-snapshot). Deterministic: seeded simulator, fixed
observed clock and wall clock, data fed to a known state before the app starts, and the app in
deterministic mode (no refresh timer, no throttled or deferred redraws, no expiring toasts), so
a busy machine captures the same screen as an idle one.
Update with `python -m pytest tests/test_snapshots.py --snapshot-update`, then look at the SVGs.
"""

import shutil
from pathlib import Path

import pytest

from tests.conftest import make_console
from widgets.trend_chart import TrendChart

BIG, SMALL = (120, 40), (80, 24)
LATER_S = 2.5  # past the chart's 1 s throttle, the lists' 1 s and a theme toast's 2 s


def console_app(tmp_path):
    return make_console(tmp_path, deterministic=True).app


@pytest.mark.parametrize("size", [BIG, SMALL], ids=["120x40", "80x24"])
def test_main_screen(snap_compare, tmp_path, size):
    assert snap_compare(console_app(tmp_path), terminal_size=size)


@pytest.mark.parametrize("size", [BIG, SMALL], ids=["120x40", "80x24"])
def test_help_screen(snap_compare, tmp_path, size):
    assert snap_compare(console_app(tmp_path), terminal_size=size, press=["question_mark"])


async def focus_pressure(pilot):
    await pilot.pause()  # the console screen composes after the App is ready
    pilot.app.query_one("#panel-pressure_msl_hpa").focus()
    await pilot.pause()


def test_threshold_editor(snap_compare, tmp_path):
    # Behind the editor: the chart of the focused variable (sea-level pressure), not of the
    # variable focused before it.
    assert snap_compare(
        console_app(tmp_path), terminal_size=BIG, run_before=focus_pressure, press=["e"]
    )


async def select_london(pilot):
    await pilot.pause()
    pilot.app.query_one("#alerts").focus()
    pilot.app.query_one("#stations").highlighted = 1
    await pilot.pause()


def test_active_alert_selected_in_alert_panel(snap_compare, tmp_path):
    assert snap_compare(console_app(tmp_path), terminal_size=BIG, run_before=select_london)


@pytest.mark.parametrize("presses", [["t"], ["t", "t"]], ids=["light", "high-contrast"])
def test_themes(snap_compare, tmp_path, presses):
    assert snap_compare(console_app(tmp_path), terminal_size=BIG, press=presses)


async def open_editor_on_pressure(pilot):
    await focus_pressure(pilot)
    await pilot.press("e")


async def next_theme(pilot):
    await pilot.press("t")


@pytest.mark.parametrize(
    "act",
    [open_editor_on_pressure, select_london, next_theme],
    ids=["threshold-editor", "station", "theme"],
)
async def test_the_screen_does_not_change_while_nothing_happens(tmp_path, act):
    """What the snapshots capture must not depend on when: no timer may change the screen.
    (The chart used to show the previously focused variable until its throttle timer fired,
    up to a second later; a theme toast went after 2 s.)"""
    app = console_app(tmp_path)
    async with app.run_test(size=BIG, notifications=True) as pilot:  # toasts, as snapshots
        await act(pilot)
        await pilot.pause()
        at_once = app.export_screenshot()
        await pilot.pause(LATER_S)
        assert app.export_screenshot() == at_once
        chart = app.main.query_one(TrendChart)
        assert chart.redraw_count and chart.border_subtitle  # drawn, with its legend


async def test_the_chart_follows_the_focus_at_once(tmp_path):
    app = console_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await focus_pressure(pilot)
        await pilot.pause()
        values = app.main.query_one(TrendChart).last_plotted[1]
        assert len(values) and values.min() > 990 and values.max() < 1040  # hPa, not °C


async def test_a_chart_built_while_a_theme_change_spreads_is_not_kept(tmp_path):
    """A new theme reaches the chart in steps (the app's CSS refresh, then the theme signal
    textual-plotext registers its plot colours on); a busy machine can repaint in between.
    That build must be replaced, not kept: the screen ends the same either way."""
    shots = []
    for early in (True, False):  # early first: the plotext theme may not be registered yet
        (tmp_path / str(early)).mkdir()
        app = console_app(tmp_path / str(early))
        async with app.run_test(size=BIG) as pilot:
            await pilot.pause()
            app.theme = "mass-light"
            if early:
                app.main.query_one(TrendChart).render()  # as a repaint right now would
            await pilot.pause()
            await pilot.pause()
            shots.append(app.export_screenshot())
    assert shots[0] == shots[1]


def test_network_overview_of_a_thousand_stations_grouped_by_state(snap_compare, tmp_path):
    """The station list at 1,000 stations, grouped (g): a header with its count before each
    group, each station's condition and the focused variable's sparkline."""
    app = make_console(tmp_path, steps=60, extra_stations=995, deterministic=True).app
    assert snap_compare(app, terminal_size=BIG, press=["g"])


async def open_alert_detail(pilot):
    await pilot.pause()
    pilot.app.query_one("#alerts").focus()
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_statistics(pilot):
    await pilot.press("S")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize(
    "act", [open_alert_detail, open_statistics], ids=["alert-detail", "statistics"]
)
def test_detail_and_statistics_views(snap_compare, tmp_path, act):
    assert snap_compare(console_app(tmp_path), terminal_size=BIG, run_before=act)


def test_a_remapped_key_shows_in_the_footer_and_the_help(snap_compare, tmp_path):
    config = '[ui.keymap]\nacknowledge = "ctrl+a"\nquit = "q,ctrl+q"\n'
    app = make_console(tmp_path, config=config, deterministic=True).app
    assert snap_compare(app, terminal_size=BIG, press=["question_mark"])


async def search_the_palette_for_stations(pilot):
    """The command palette (ctrl+p) searched for "station": the console's own commands that
    match, and each station to jump to. The palette searches in the background: wait for
    its hits (its best first), not for a time; the cursor does not blink in a snapshot."""
    from textual.command import CommandList
    from textual.widgets import Input

    await pilot.pause()
    await pilot.press("ctrl+p")
    await pilot.pause()
    pilot.app.screen.query_one(Input).cursor_blink = False
    await pilot.press(*"station")
    results = pilot.app.screen.query_one(CommandList)
    for _ in range(200):
        await pilot.pause(0.05)
        if results.option_count >= 9 and not pilot.app.screen.query_one(Input).loading:
            break
    await pilot.pause()


def test_the_command_palette_lists_the_consoles_commands_and_stations(snap_compare, tmp_path):
    assert snap_compare(
        console_app(tmp_path), terminal_size=BIG, run_before=search_the_palette_for_stations
    )


async def export_the_selected_station(pilot):
    await pilot.pause()
    await pilot.press("x")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_x_exports_and_says_how_many_readings_went_where(snap_compare):
    """The export's toast names the file: the data directory must be the same on every run
    and machine for the snapshot to be (a fixed directory, not TMPDIR's)."""
    fixed = Path("/tmp/mass-tui-export-snapshot")
    shutil.rmtree(fixed, ignore_errors=True)
    fixed.mkdir()
    app = make_console(fixed, deterministic=True).app
    assert snap_compare(app, terminal_size=BIG, run_before=export_the_selected_station)
    assert len(list((fixed / "data" / "exports").glob("nyc-*.csv"))) == 1
