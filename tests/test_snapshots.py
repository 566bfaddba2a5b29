"""Snapshots of the console (pytest-textual-snapshot). Deterministic: seeded simulator, fixed
observed clock and wall clock, data fed to a known state before the app starts.
Update with `python -m pytest tests/test_snapshots.py --snapshot-update`, then look at the SVGs.
"""

import pytest

from tests.conftest import make_console

BIG, SMALL = (120, 40), (80, 24)


@pytest.mark.parametrize("size", [BIG, SMALL], ids=["120x40", "80x24"])
def test_main_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_console(tmp_path).app, terminal_size=size)


@pytest.mark.parametrize("size", [BIG, SMALL], ids=["120x40", "80x24"])
def test_help_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_console(tmp_path).app, terminal_size=size, press=["question_mark"])


def test_threshold_editor(snap_compare, tmp_path):
    console = make_console(tmp_path)

    async def focus_pressure(pilot):
        console.app.query_one("#panel-pressure_msl_hpa").focus()
        await pilot.pause()

    assert snap_compare(console.app, terminal_size=BIG, run_before=focus_pressure, press=["e"])


def test_active_alert_selected_in_alert_panel(snap_compare, tmp_path):
    console = make_console(tmp_path)

    async def select_london(pilot):
        console.app.query_one("#alerts").focus()
        console.app.query_one("#stations").highlighted = 1
        await pilot.pause()

    assert snap_compare(console.app, terminal_size=BIG, run_before=select_london)


@pytest.mark.parametrize("presses", [["t"], ["t", "t"]], ids=["light", "high-contrast"])
def test_themes(snap_compare, tmp_path, presses):
    assert snap_compare(make_console(tmp_path).app, terminal_size=BIG, press=presses)
