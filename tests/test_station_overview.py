"""The network overview: the station list's search, orders, groups by state, counts and
per-station sparklines, from the view's pure function and through a running console at
1,000 stations."""

from __future__ import annotations

import math

import numpy as np

from mass_tui.view import STATION_ORDERS, StationListState, station_overview
from tests.conftest import make_console
from widgets.fitting import fitting
from widgets.station_list import (
    SPARK_CELLS,
    STATES,
    GroupHeader,
    StationList,
    StationRow,
)

SIZE = (120, 40)


def overview(console, **state):
    snap = console.pipeline.snapshot("temperature_c", SPARK_CELLS)
    return station_overview(snap, StationListState(**state), "metric")


def test_each_row_carries_the_focused_variables_newest_readings(tmp_path):
    console = make_console(tmp_path, steps=30)
    rows = {row.station_id: row for row in overview(console).rows}
    _, values = console.pipeline.recent_series("tyo")
    column = [v.name for v in console.loaded.variables].index("temperature_c")
    assert np.allclose(rows["tyo"].tail, values[-SPARK_CELLS:, column], equal_nan=True)
    assert len(rows["tyo"].tail) == SPARK_CELLS


def test_a_station_with_fewer_readings_than_the_sparkline_is_padded_with_nan(tmp_path):
    console = make_console(tmp_path, steps=3)
    row = overview(console).rows[0]
    assert [math.isnan(v) for v in row.tail] == [True] * (SPARK_CELLS - 3) + [False] * 3


def test_latest_anomaly_first_orders_by_each_stations_newest_anomaly(tmp_path):
    console = make_console(tmp_path)
    rows = overview(console, order="latest anomaly first").rows
    newest = [r.latest_anomaly for r in rows if not math.isnan(r.latest_anomaly)]
    assert newest and newest == sorted(newest, reverse=True)
    assert all(math.isnan(r.latest_anomaly) for r in rows[len(newest) :])  # none: last
    anomalies = console.pipeline.snapshot().anomalies
    assert rows[0].station_id == max(anomalies, key=lambda a: a.observed_at).station_id


def test_grouped_rows_come_alerting_then_no_data_then_ok_in_the_chosen_order(tmp_path):
    console = make_console(tmp_path)
    rows = overview(console, order="by name", grouped=True).rows
    states = [r.state for r in rows]
    assert states == sorted(states, key=STATES.index)
    assert "alerting" in states and "ok" in states
    for state in set(states):  # within a group, the order asked for
        names = [r.name for r in rows if r.state == state]
        assert names == sorted(names, key=str.casefold)


def test_the_title_counts_the_stations_those_found_and_those_of_them_alerting(tmp_path):
    console = make_console(tmp_path)
    alerting = {a.station_id for a in console.pipeline.snapshot().alerts if a.is_open}
    assert overview(console).title == f"Stations 5 · {len(alerting)} alerting"
    found = overview(console, query="on")
    assert [r.station_id for r in found.rows] == ["lon"]
    assert found.title == "Stations 1/5 · 1 alerting"  # of those found: London
    # a narrow list shortens its counts, rather than cutting them off
    assert fitting(found.titles, 30) == fitting(found.titles, None) == found.title
    assert fitting(found.titles, 20) == "1/5 · 1 alerting"
    assert fitting(found.titles, 14) == fitting(found.titles, 3) == "1/5 · 1 alert"


async def test_a_thousand_stations_are_found_grouped_and_sorted_in_a_running_console(tmp_path):
    console = make_console(tmp_path, steps=20, extra_stations=995)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listed = console.app.query_one(StationList)
        assert len(listed.names()) == 1000
        assert listed.border_title.startswith("Stations 1000")
        await pilot.press("g")  # grouped: a header line before each group
        await pilot.pause()
        headers = [e for e in listed.entries if isinstance(e, GroupHeader)]
        states = [h.state for h in headers]  # one header a group, in the order of STATES
        assert states and states == sorted(set(states), key=STATES.index)
        assert sum(h.count for h in headers) == 1000
        assert len(listed.entries) == 1000 + len(headers)
        await pilot.press("f", *"syn-09")  # as you type: syn-0900 .. syn-0995
        await pilot.pause()
        assert sorted(listed.names()) == [f"syn-{i:04d}" for i in range(900, 996)]
        assert listed.border_title.startswith(("Stations 96/1000 · ", "96/1000 · "))
        await pilot.press("enter")
        await pilot.pause()
        # The highlight is on a station, never on a group's header line.
        assert isinstance(listed.entries[listed.highlighted], StationRow)
        for order in STATION_ORDERS[1:]:
            await pilot.press("o")
            await pilot.pause()
            assert console.app.main.view.stations.order == order
            assert len(listed.names()) == 96


async def test_keys_typed_right_after_f_go_to_the_finder_not_to_the_console(tmp_path):
    """Focus moves before the action returns: a key already queued behind ``f`` (typed fast,
    or pasted over SSH) is text in the box, not a console key ("-" lowers a threshold)."""
    from textual.widgets import Input

    console = make_console(tmp_path, steps=5)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        console.app.main.action_find_station()
        assert console.app.focused is console.app.query_one("#station-filter", Input)
        console.app.main.action_filter()
        assert console.app.focused is console.app.query_one("#filter", Input)


async def test_characters_queued_behind_f_land_in_the_finder(tmp_path):
    """As a terminal sends them (one read: ``f``, ``l``, ``o``), not one at a time: the
    characters were on their way to the focused panel before ``f`` moved the focus, and were
    lost (``o`` did not sort either)."""
    from textual import events
    from textual.widgets import Input

    console = make_console(tmp_path, steps=5)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for character in "flo":
            console.app.post_message(events.Key(character, character))
        await pilot.pause()
        await pilot.pause()
        assert console.app.main.query_one("#station-filter", Input).value == "lo"
        assert console.app.main.view.stations == StationListState(query="lo")
