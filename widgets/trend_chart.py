"""The chart of the focused variable: observations, EWMA and control band, thresholds, anomalies.

A plotext build costs tens of milliseconds of CPU at 120x40 (seconds for an unthinned day of
readings), and the console runs over SSH next to the pipeline, so this widget is careful about
when it builds: only while it is on screen, only when the data changed, at most once per
``min_interval_s``, and from a series thinned to what the plot width can show.
``min_interval_s=0`` turns the throttle off: every change is drawn at once and no timer is
set, so what is drawn depends only on the data pushed (the console's deterministic mode, for
snapshots).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, tzinfo

import numpy as np
from plotext._dict import themes as plotext_themes  # where textual-plotext registers app themes
from textual import events
from textual.app import RenderResult
from textual.color import Color
from textual.markup import escape
from textual.timer import Timer
from textual_plotext import PlotextPlot

from pipeline.series import min_max_thin
from pipeline.times import clock_offset, clock_text

NO_DATA_TITLE = "no data"

# Clock-friendly tick steps (seconds). The smallest giving at most MAX_TICKS ticks is used, so a
# 15 min span gets a tick every 3 min and a 24 h span one every 4 h, each on a round UTC time.
TICK_STEPS_S = (60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400)
MAX_TICKS = 6
LINE_MARKER = "braille"  # 2x4 dots a cell: thin lines, so the band and EWMA do not bury the data

# Theme variables each series is drawn in; the legend uses the same names as markup variables.
OBSERVED_COLOUR = "primary"
EWMA_COLOUR = "secondary"
BAND_COLOUR = "foreground-muted"
THRESHOLD_COLOUR = "error"
ANOMALY_COLOUR = "warning"
# Every theme variable a build reads (the plot's surface and the series' colours).
THEME_INPUTS = (
    "surface",
    OBSERVED_COLOUR,
    EWMA_COLOUR,
    BAND_COLOUR,
    THRESHOLD_COLOUR,
    ANOMALY_COLOUR,
)


@dataclass(frozen=True, slots=True)
class ChartData:
    """Everything the chart shows, already in display units; the App builds one per refresh."""

    title: str  # e.g. "London · Pressure (sea level) · last 1 h"
    unit: str  # display unit label, e.g. "hPa" or "inHg"
    now: float  # epoch seconds: the right edge of the x range
    span_s: float  # the x range is [now - span_s, now]
    times: np.ndarray  # epoch seconds, ascending
    values: np.ndarray  # display units, same length as times; NaN = missing
    ewma: np.ndarray | None = None  # EWMA at the same times, or None
    lower: np.ndarray | None = None  # control band at the same times, or None
    upper: np.ndarray | None = None
    thresholds: tuple[tuple[str, float], ...] = ()  # (label, value) drawn as horizontal lines
    markers: tuple[tuple[float, float], ...] = ()  # anomalies: (epoch time, value)
    zone: tzinfo = UTC  # the clock the time axis reads (UTC, or the station's local time)


def change_key(data: ChartData | None) -> tuple:
    """A cheap fingerprint of what a redraw would show.

    Comparing whole arrays every refresh would cost as much as the thinning; the App appends to
    the end of a series, so its length and last point (with the window, labels and overlays) are
    enough to tell new data from a repeat.
    """
    if data is None:
        return ()
    return (
        data.title,
        data.unit,
        round(data.now),
        data.span_s,
        len(data.times),
        _last(data.times),
        _last(data.values),
        _last(data.ewma),
        _last(data.upper),
        data.thresholds,
        data.markers,
        data.zone,
    )


def _last(values: np.ndarray | None) -> float | None:
    """The last element as a float, or None when absent or NaN (NaN != NaN would never match)."""
    if values is None or not len(values):
        return None
    last = float(values[-1])
    return None if np.isnan(last) else last


def legend_markup(data: ChartData | None) -> str | None:
    """The legend as Textual markup in the theme's colours (None when there is nothing to show).

    It goes in the border subtitle rather than in the plot: plotext writes its legend over the
    top-left of the canvas, where it hides the oldest readings whenever they run high.
    """
    if data is None:
        return None
    entries = [(OBSERVED_COLOUR, "── observed")]
    if data.ewma is not None:
        entries.append((EWMA_COLOUR, "── EWMA"))
    if data.lower is not None and data.upper is not None:
        entries.append((BAND_COLOUR, "── control band"))
    entries += [(THRESHOLD_COLOUR, f"── {label}") for label, _ in data.thresholds]
    if data.markers:
        entries.append((ANOMALY_COLOUR, "x anomaly"))
    return "  ".join(f"[${colour}]{escape(text)}[/]" for colour, text in entries)


def clock_ticks(now: float, span_s: float, zone: tzinfo = UTC) -> tuple[list[float], list[str]]:
    """Tick positions (seconds relative to ``now``) on round times of ``zone``'s clock (its
    offset at ``now``: 05:30 zones tick on their own hours), labelled "HH:MM"."""
    step = next((s for s in TICK_STEPS_S if span_s / s <= MAX_TICKS), TICK_STEPS_S[-1])
    offset = clock_offset(now, zone)
    first = math.ceil((now - span_s + offset) / step) * step - offset
    moments = np.arange(first, now + 1e-6, step)
    labels = [clock_text(float(m), zone, minutes_only=True) for m in moments]
    return (moments - now).tolist(), labels


class TrendChart(PlotextPlot):
    """A plotext chart of one variable over a fixed, sliding time window.

    The App pushes a ``ChartData`` with ``show``; the chart decides when to spend a build on it.
    Builds happen in ``render`` (so Textual only pays for what it paints) and are cached by data
    generation, size and theme, so unrelated repaints (focus, hover, layout elsewhere) are free.
    Colours come from the app theme, so dark, light and high-contrast themes all read; the
    legend is the border subtitle, so keep a border.
    """

    DEFAULT_CSS = """
    TrendChart {
        width: 1fr;
        height: 1fr;
        min-height: 8;
        border: round $panel;
    }
    """

    def __init__(
        self,
        *,
        min_interval_s: float = 1.0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.min_interval_s = min_interval_s
        self.redraw_count = 0
        """How many times the plot was actually built (tests and benchmarks check throttling)."""
        self.last_plotted: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        """The (times, values) of the observations in the last build, after thinning."""
        self._latest: ChartData | None = None
        self._latest_key: tuple = ()
        self._drawn: ChartData | None = None
        self._drawn_key: tuple = ()
        self._generation = 0  # bumped each time new data is accepted for drawing
        self._accepted_at = -float("inf")  # time.monotonic() of the last acceptance
        self._timer: Timer | None = None
        self._built: tuple[tuple, RenderResult] | None = None

    @property
    def given(self) -> ChartData | None:
        """What it was last given: drawn, or to be drawn when the throttle allows."""
        return self._latest

    def show(self, data: ChartData | None, *, at_once: bool = False) -> None:
        """Chart ``data`` (None: an empty plot titled "no data") as soon as the throttle allows;
        ``at_once``: now (another station, variable or span: the chart must not show the last
        one under the new selection)."""
        self._latest = data
        self._latest_key = change_key(data)
        self._accept_latest(at_once=at_once)

    def on_show(self, event: events.Show) -> None:
        """Data pushed while the chart was hidden is drawn when it comes back."""
        self._accept_latest()

    def on_resize(self, event: events.Resize) -> None:
        """A new size rebuilds by itself (``render`` keys on it); data held back at size 0 or
        while hidden is accepted now."""
        self._accept_latest()

    def _accept_latest(self, *, at_once: bool = False) -> None:
        """Make the newest data the one to draw, unless it is already drawn, nobody can see it,
        or the last acceptance was less than ``min_interval_s`` ago (then try again later,
        with at most one timer pending; never with ``min_interval_s=0`` or ``at_once``)."""
        if self._latest_key == self._drawn_key:
            return
        if not (self.display and self.is_on_screen and self.size.area):
            return
        if self.min_interval_s > 0 and not at_once:
            wait = self._accepted_at + self.min_interval_s - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = self.set_timer(wait, self._on_deferred)
                return
        self._drawn, self._drawn_key = self._latest, self._latest_key
        self.border_subtitle = legend_markup(self._drawn)
        self._generation += 1
        self._accepted_at = time.monotonic()
        self.refresh()

    def _on_deferred(self) -> None:
        self._timer = None
        self._accept_latest()

    def render(self) -> RenderResult:
        """Build the plot, or return the last build if nothing it depends on changed."""
        key = self._build_key()
        if self._built is None or self._built[0] != key:
            self.plt.clear_figure()
            if self._drawn is None:
                self.plt.title(NO_DATA_TITLE)
                self.last_plotted = (np.empty(0), np.empty(0))
            else:
                self._plot_data(self._drawn)
            self._built = (key, super().render())
            self.redraw_count += 1
        return self._built[1]

    def _build_key(self) -> tuple:
        """Everything a build depends on, so a kept build is the one a fresh build would give.

        A new ``App.theme`` reaches the chart in steps: the app's theme variables are updated at
        its CSS refresh, and textual-plotext registers the plotext theme (axes, ticks, canvas)
        at the theme signal after that. A repaint in between builds with the old variables or
        plotext's default colours; keying on the values themselves, not on the theme's name,
        means that build is replaced when they arrive instead of being kept.
        """
        plot_theme = self._get_plotext_theme_name(self.app.theme)
        variables = self.app.theme_variables
        return (
            self._generation,
            self.size,
            plot_theme,
            plot_theme in plotext_themes,
            tuple(variables.get(name) for name in THEME_INPUTS),
        )

    def _plot_data(self, data: ChartData) -> None:
        """Issue the plotext calls for ``data``; x is in seconds relative to ``data.now``."""
        plt = self.plt
        plt.title(data.title)
        plt.ylabel(data.unit)
        plt.xlim(-data.span_s, 0.0)
        plt.xticks(*clock_ticks(data.now, data.span_s, data.zone))

        start = data.now - data.span_s
        lo = np.searchsorted(data.times, start, side="left")
        hi = np.searchsorted(data.times, data.now, side="right")
        times, values = data.times[lo:hi], data.values[lo:hi]
        keep = np.flatnonzero(~np.isnan(values))
        # Two points per cell (braille has two dot columns a cell); min/max thinning keeps the
        # spikes an operator must not miss.
        picked = keep[min_max_thin(times[keep], values[keep], max(2, 2 * self.size.width))]
        x = times[picked] - data.now
        self.last_plotted = (times[picked], values[picked])

        # Context first, the observations and anomalies last: a terminal cell holds one colour,
        # so whatever is drawn later wins a shared cell.
        if data.lower is not None and data.upper is not None:
            band = self._colour(BAND_COLOUR)
            self._line(x, data.lower[lo:hi][picked], band)
            self._line(x, data.upper[lo:hi][picked], band)
        edges = np.array([-data.span_s, 0.0])
        for _, value in data.thresholds:
            self._line(edges, np.array([value, value]), self._colour(THRESHOLD_COLOUR))
        if data.ewma is not None:
            self._line(x, data.ewma[lo:hi][picked], self._colour(EWMA_COLOUR))
        self._line(x, values[picked], self._colour(OBSERVED_COLOUR))
        marks = [(t - data.now, v) for t, v in data.markers if start <= t <= data.now]
        if marks:
            mx, my = zip(*marks, strict=True)
            plt.scatter(mx, my, marker="x", color=self._colour(ANOMALY_COLOUR))

    def _line(self, x: np.ndarray, y: np.ndarray, colour: tuple[int, int, int]) -> None:
        """Plot one line, skipping its NaN stretches (e.g. the EWMA warm-up)."""
        ok = ~np.isnan(y)
        if ok.any():
            self.plt.plot(x[ok].tolist(), y[ok].tolist(), marker=LINE_MARKER, color=colour)

    def _colour(self, variable: str) -> tuple[int, int, int]:
        """A theme variable as the RGB plotext needs, composited over the plot's surface (so
        translucent variables such as ``foreground-muted`` come out as the legend shows them)."""
        variables = self.app.theme_variables
        return (Color.parse(variables["surface"]) + Color.parse(variables[variable])).rgb
