"""The trend chart on its own: what it draws, and how rarely it pays for a plotext build.

Each test drives a one-widget app with data pushed in, as the console does. The snapshot uses
seeded data and a fixed ``now``; update it with
`python -m pytest tests/test_trend_chart.py --snapshot-update`, then look at the SVG.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
from textual.app import App, ComposeResult

from themes import MASS_DARK
from widgets import trend_chart
from widgets.trend_chart import ChartData, TrendChart, clock_ticks

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
SIZE = (100, 30)
INTERVAL = 0.2  # the throttle under test; short so the tests stay fast


def pressure(n: int = 720, span: float = 3600.0, now: float = NOW, seed: int = 7) -> ChartData:
    """An hour of sea-level pressure with an EWMA band, a threshold and one anomaly spike."""
    rng = np.random.default_rng(seed)
    times = np.linspace(now - span, now, n)
    values = 1012.0 + np.cumsum(rng.normal(0.0, 0.05, n))
    values[n // 2] += 3.0
    ewma = np.empty(n)
    ewma[0] = values[0]
    for i in range(1, n):
        ewma[i] = 0.95 * ewma[i - 1] + 0.05 * values[i]
    return ChartData(
        title="London · Pressure (sea level) · last 1 h",
        unit="hPa",
        now=now,
        span_s=span,
        times=times,
        values=values,
        ewma=ewma,
        lower=ewma - 1.0,
        upper=ewma + 1.0,
        thresholds=(("pressure low", 1010.0),),
        markers=((float(times[n // 2]), float(values[n // 2])),),
    )


class ChartApp(App):
    """Just the chart, themed like the console; ``data`` is shown once mounted."""

    def __init__(self, data: ChartData | None = None, min_interval_s: float = INTERVAL) -> None:
        super().__init__()
        self.data = data
        self.min_interval_s = min_interval_s

    def compose(self) -> ComposeResult:
        yield TrendChart(min_interval_s=self.min_interval_s)

    def on_mount(self) -> None:
        self.register_theme(MASS_DARK)
        self.theme = MASS_DARK.name
        if self.data is not None:
            self.query_one(TrendChart).show(self.data)


def drawn_text(chart: TrendChart) -> str:
    """The plot as last built (render returns the cached build, so this does not redraw)."""
    return str(chart.render())


async def test_showing_data_draws_once_with_title_and_clock_ticks():
    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(TrendChart)
        before = chart.redraw_count
        chart.show(pressure())
        await pilot.pause()
        assert chart.redraw_count == before + 1
        text = drawn_text(chart)
        assert "London · Pressure (sea level) · last 1 h" in text
        assert re.search(r"\b2[12]:[0-5]0\b", text)  # e.g. 21:20 ... 22:10
        assert chart.redraw_count == before + 1


async def test_the_legend_names_every_series_threshold_and_anomalies():
    app = ChartApp(pressure())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        legend = app.query_one(TrendChart).border_subtitle or ""
        for name in ("observed", "EWMA", "control band", "pressure low", "anomaly"):
            assert name in legend


async def test_ten_updates_within_the_interval_redraw_once_now_and_once_later(monkeypatch):
    # The chart's clock stands still while the ten updates come, however long a loaded
    # machine takes over them (on CI the ten repaints once took longer than the interval).
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(trend_chart, "time", SimpleNamespace(monotonic=lambda: clock.now))
    app = ChartApp(min_interval_s=3.0)
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(TrendChart)
        await pilot.pause()
        before = chart.redraw_count
        updates = [pressure(now=NOW + i) for i in range(10)]
        for data in updates:
            chart.show(data)
            await pilot.pause()  # let the app repaint in between, as it would at its refresh rate
        assert chart.redraw_count == before + 1
        clock.now += 3.1
        await pilot.pause(3.2)  # the deferred redraw's timer
        assert chart.redraw_count == before + 2
        assert chart.last_plotted[0][-1] == updates[-1].times[-1]  # the newest data won


async def test_the_same_data_again_does_not_redraw():
    app = ChartApp(pressure())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(TrendChart)
        await pilot.pause(INTERVAL * 1.5)
        before = chart.redraw_count
        chart.show(pressure())  # equal content, new arrays
        await pilot.pause(INTERVAL * 1.5)
        assert chart.redraw_count == before


async def test_a_hidden_chart_does_not_redraw_until_shown_again():
    app = ChartApp(pressure())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(TrendChart)
        await pilot.pause(INTERVAL * 1.5)
        chart.display = False
        await pilot.pause()
        before = chart.redraw_count
        newer = pressure(now=NOW + 60)
        chart.show(newer)
        await pilot.pause(INTERVAL * 1.5)
        assert chart.redraw_count == before
        chart.display = True
        await pilot.pause(INTERVAL * 1.5)
        assert chart.redraw_count == before + 1
        assert chart.last_plotted[0][-1] == newer.times[-1]


async def test_100k_points_are_thinned_to_the_width_and_keep_the_spike():
    n = 100_000
    data = pressure(n=n, span=24 * 3600.0)
    spike = float(data.values[12_345] + 50.0)
    data.values[12_345] = spike
    app = ChartApp(data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(TrendChart)
        times, values = chart.last_plotted
        assert 0 < len(values) <= 2 * chart.size.width
        assert spike in values
        assert np.all(np.diff(times) > 0)


async def test_missing_values_are_skipped():
    data = pressure()
    data.values[100:200] = np.nan
    app = ChartApp(data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        values = app.query_one(TrendChart).last_plotted[1]
        assert len(values) and not np.isnan(values).any()


async def test_a_resize_redraws_at_the_new_width():
    app = ChartApp(pressure(n=5_000))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(TrendChart)
        before = chart.redraw_count
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert chart.redraw_count == before + 1
        assert len(chart.last_plotted[1]) <= 2 * 60


async def test_showing_none_clears_the_chart():
    app = ChartApp(pressure())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(TrendChart)
        await pilot.pause(INTERVAL * 1.5)
        chart.show(None)
        await pilot.pause()
        text = drawn_text(chart)
        assert "no data" in text
        assert "London" not in text
        assert chart.border_subtitle is None
        assert len(chart.last_plotted[1]) == 0


async def test_a_theme_change_redraws_without_new_data():
    app = ChartApp(pressure())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(TrendChart)
        await pilot.pause(INTERVAL * 1.5)
        before = chart.redraw_count
        app.theme = "textual-light"
        await pilot.pause()
        assert chart.redraw_count == before + 1


def test_ticks_fall_on_round_utc_times_across_the_window():
    ticks, labels = clock_ticks(NOW, 3600.0)
    assert labels == ["21:20", "21:30", "21:40", "21:50", "22:00", "22:10"]
    assert all(-3600.0 <= t <= 0.0 for t in ticks)
    assert clock_ticks(NOW, 900.0)[1] == ["22:00", "22:03", "22:06", "22:09", "22:12"]
    assert clock_ticks(NOW, 24 * 3600.0)[1] == [
        "00:00",
        "04:00",
        "08:00",
        "12:00",
        "16:00",
        "20:00",
    ]


def test_chart_snapshot(snap_compare):
    assert snap_compare(ChartApp(pressure()), terminal_size=SIZE)
