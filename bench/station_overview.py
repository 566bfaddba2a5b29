"""Is the console fluid with a network of stations? The station list at 100, 1,000 and 5,000
stations, against a straightforward list: an OptionList that rebuilds every option each
refresh (and so measures and renders every prompt, however few are on screen).

Run: ``.venv/bin/python bench/station_overview.py``. For each size it prints, in the same run:

- ``snapshot``: ``pipeline.snapshot()`` with every station's sparkline tail (one gather);
- ``rows``: the pure ``station_overview`` (conditions, worst alerts, search, order, groups);
- ``refresh``: the list alone, in an app the size of the console's station column: ``show``
  the rows after a new reading at every station (so every row changed) and draw the lines on
  screen; the console's list, then the rebuilding one, fed the same rows;
- ``find``: the same, as the finder narrows the list to the stations matching "s" and back
  (the stations listed change);
- ``tick``: a full redraw tick of the console (every widget, the list included) after a new
  reading at every station, until painted; ``(work)``: the tick's own handler;
- ``key``: typing one more character in the console's station finder (``f``), until the
  list shows the stations found, through the Textual pilot (its round trip, ~50 ms here at
  any size, is included); ``(work)``: the finder handler's share (the view's change).

Medians of 15 runs, headless (no terminal output costs are included).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from mass_tui.view import StationListState, station_overview
from tests.conftest import make_console
from widgets.station_list import SPARK_CELLS, StationList, StationRow

RUNS = 15
SIZES = (100, 1_000, 5_000)
COLUMN = (36, 36)  # the console's station column at 120x40
FOUND = "s"  # what the finder is typed


class RebuildingList(OptionList):
    """The straightforward list: every refresh builds every option again, with the same text
    as the console's list, keeping the highlighted station."""

    DEFAULT_CSS = "RebuildingList { height: 1fr; border: round $panel; }"

    def show(self, rows: list[StationRow], grouped: bool = False) -> None:
        chosen = self.highlighted_option.id if self.highlighted_option else None
        counts = Counter(row.state for row in rows)
        options, ids, group = [], [], None  # ids: None for a header
        for row in rows:
            if grouped and row.state != group:
                group = row.state
                options.append(Option(StationList._header(group, counts[group]), disabled=True))
                ids.append(None)
            options.append(Option(StationList._prompt(row), id=row.station_id))
            ids.append(row.station_id)
        self.set_options(options)
        self.highlighted = ids.index(chosen) if chosen in ids else int(grouped)


class ListHost(App):
    def __init__(self, listed: Widget) -> None:
        super().__init__()
        self.listed = listed

    def compose(self) -> ComposeResult:
        yield self.listed


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _row_lists(console, runs: int) -> tuple[list[list[StationRow]], list[StationRow]]:
    """``runs + 1`` refreshes' rows, a new reading at every station between each; and the
    rows the finder keeps for :data:`FOUND`."""
    refreshes = []
    for _ in range(runs + 1):
        console.feed(1)
        snap = console.pipeline.snapshot("temperature_c", SPARK_CELLS)
        refreshes.append(station_overview(snap, StationListState(), "metric").rows)
    found = station_overview(snap, StationListState(query=FOUND), "metric").rows
    return refreshes, found


async def _list_figures(
    listed, refreshes: list[list[StationRow]], found: list[StationRow]
) -> tuple[list[float], list[float]]:
    """``show`` and draw the lines on screen (what the next repaint draws of it): each
    refresh's rows, then the finder's rows and back. Timed without the event loop's idle
    waits; the messages it posted are let through, untimed, before the next."""
    shows, finds = [], []

    def timed(rows: list[StationRow]) -> float:
        began = time.perf_counter()
        listed.show(rows)
        listed.render_lines(listed.size.region)
        return time.perf_counter() - began

    async with ListHost(listed).run_test(size=COLUMN) as pilot:
        listed.show(refreshes[0])
        await pilot.pause()
        for rows in refreshes[1:]:
            shows.append(timed(rows))
            await pilot.pause()
        for i in range(len(refreshes) - 1):
            finds.append(timed(found if i % 2 == 0 else refreshes[-1]))
            await pilot.pause()
    return shows, finds


async def _console_figures(console, runs: int) -> dict[str, list[float]]:
    """Redraw ticks after a new reading everywhere, then finder keystrokes: until the screen
    is painted (through the pilot, whose own round trip is part of it), and the UI thread's
    work for it (the tick's or the keystroke's handler, before the paint)."""
    app = console.app
    figures: dict[str, list[float]] = {"tick": [], "tick_work": [], "key": [], "key_work": []}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for _ in range(runs):
            console.feed(1)  # a new reading at every station: every row changes
            began = time.perf_counter()
            app.main.refresh_now()
            figures["tick_work"].append(time.perf_counter() - began)
            await pilot.pause()
            figures["tick"].append(time.perf_counter() - began)
        await pilot.press("f")
        for i in range(runs):
            began = time.perf_counter()
            await pilot.press(FOUND if i % 2 == 0 else "backspace")
            await pilot.pause()
            figures["key"].append(time.perf_counter() - began)
        screen = app.main
        for i in range(runs):  # what the finder's Input.Changed handler does
            stations = replace(screen.view.stations, query=FOUND if i % 2 == 0 else "")
            began = time.perf_counter()
            screen.view = replace(screen.view, stations=stations)
            figures["key_work"].append(time.perf_counter() - began)
            await pilot.pause()
    return figures


def measure(stations: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        console = make_console(Path(tmp), steps=12, extra_stations=stations - 5, deterministic=True)
        snap_times, row_times = [], []
        for _ in range(RUNS):
            began = time.perf_counter()
            snap = console.pipeline.snapshot("temperature_c", SPARK_CELLS)
            snap_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            station_overview(snap, StationListState(grouped=True), "metric")
            row_times.append(time.perf_counter() - began)
        refreshes, found = _row_lists(console, RUNS)
        shows, finds = asyncio.run(_list_figures(StationList(), refreshes, found))
        plain_shows, plain_finds = asyncio.run(_list_figures(RebuildingList(), refreshes, found))
        console_times = asyncio.run(_console_figures(console, RUNS))
    return {
        "snapshot": _median_ms(snap_times),
        "rows": _median_ms(row_times),
        "refresh": _median_ms(shows),
        "refresh_rebuilding": _median_ms(plain_shows),
        "find": _median_ms(finds),
        "find_rebuilding": _median_ms(plain_finds),
        **{name: _median_ms(times) for name, times in console_times.items()},
    }


def main() -> None:
    print(
        f"ms, median of {RUNS}; list: the list alone; console: the whole console, until painted "
        "through the pilot, and (work) its handler's share"
    )
    print(
        f"{'stations':>9} {'snapshot':>9} {'rows':>7} {'refresh':>8} {'rebuilding':>11} "
        f"{'find':>7} {'rebuilding':>11} {'tick':>7} {'(work)':>7} {'key':>7} {'(work)':>7}"
    )
    for stations in SIZES:
        m = measure(stations)
        print(
            f"{stations:>9,} {m['snapshot']:>9.2f} {m['rows']:>7.2f} {m['refresh']:>8.1f} "
            f"{m['refresh_rebuilding']:>11.1f} {m['find']:>7.1f} {m['find_rebuilding']:>11.1f} "
            f"{m['tick']:>7.1f} {m['tick_work']:>7.1f} {m['key']:>7.1f} {m['key_work']:>7.1f}"
        )


if __name__ == "__main__":
    main()
