"""Is the console fluid with a network of stations? The station list's refresh at 100, 1,000
and 5,000 stations, against a straightforward list that rebuilds every option each refresh.

Run: ``.venv/bin/python bench/station_overview.py``. For each size it prints, in the same run:

- ``snapshot``: ``pipeline.snapshot()`` with every station's sparkline tail (one gather);
- ``rows``: the pure ``station_overview`` (conditions, worst alerts, search, order, groups);
- ``list refresh``: a full redraw tick of the console (every widget, lists included) after a
  new reading at every station, so every row's prompt changed; the console's list replaces
  the prompts that changed, the straightforward one calls ``set_options`` with all of them;
- ``find keystroke``: typing one more character in the station finder (``f``), until the
  list shows the stations found, through the Textual pilot.

Medians of 15 runs, headless (no terminal output costs are included).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.widgets.option_list import Option

import mass_tui.app as app_module
from mass_tui.view import StationListState, station_overview
from tests.conftest import make_console
from widgets.station_list import SPARK_CELLS, StationList, StationRow

RUNS = 15
SIZES = (100, 1_000, 5_000)


class RebuildingList(StationList):
    """The straightforward list: every refresh builds every option again."""

    def show(self, rows: list[StationRow], grouped: bool = False) -> None:
        self.set_options(Option(self._prompt(r), id=r.station_id) for r in rows)
        self._names = {r.station_id: r.name for r in rows}


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _figures(console, runs: int, keys: bool = True) -> tuple[list[float], list[float]]:
    """Redraw ticks after a new reading everywhere, then (``keys``) finder keystrokes."""
    app = console.app
    ticks, keystrokes = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for _ in range(runs):
            console.feed(1)  # a new reading at every station: every prompt changes
            began = time.perf_counter()
            app.refresh_now()
            await pilot.pause()
            ticks.append(time.perf_counter() - began)
        if keys:
            await pilot.press("f")
            for i in range(runs):
                began = time.perf_counter()
                await pilot.press("s" if i % 2 == 0 else "backspace")
                await pilot.pause()
                keystrokes.append(time.perf_counter() - began)
    return ticks, keystrokes


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
        ticks, keys = asyncio.run(_figures(console, RUNS))
    with tempfile.TemporaryDirectory() as tmp:
        plain = make_console(Path(tmp), steps=12, extra_stations=stations - 5, deterministic=True)
        app_module.StationList = RebuildingList  # what the console composes and queries
        try:
            plain_ticks, _ = asyncio.run(_figures(plain, RUNS, keys=False))
        finally:
            app_module.StationList = StationList
    return {
        "snapshot": _median_ms(snap_times),
        "rows": _median_ms(row_times),
        "tick": _median_ms(ticks),
        "tick_rebuilding": _median_ms(plain_ticks),
        "keystroke": _median_ms(keys),
    }


def main() -> None:
    print(
        f"{'stations':>9} {'snapshot':>9} {'rows':>8} {'tick':>9} {'tick, rebuilding':>17} "
        f"{'find key':>9}  (ms, median of {RUNS})"
    )
    for stations in SIZES:
        m = measure(stations)
        print(
            f"{stations:>9,} {m['snapshot']:>9.2f} {m['rows']:>8.2f} {m['tick']:>9.1f} "
            f"{m['tick_rebuilding']:>17.1f} {m['keystroke']:>9.1f}"
        )


if __name__ == "__main__":
    main()
