"""The statistics view: one variable at one station, hour by hour or day by day, from the
store's roll-ups (the batch analytics of the original design), with each period's anomalies.

Read in a worker thread while a loading indicator shows: a month of days or a long store must
not hold the screen."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, LoadingIndicator, Static

from mass_tui.screens.panel import PanelScreen
from pipeline.anomaly import Anomaly
from pipeline.rollup import PeriodStats
from pipeline.text import printable
from pipeline.times import iso_utc
from pipeline.units import DisplayUnit


@dataclass(frozen=True, slots=True)
class Period:
    label: str  # "hourly"
    step_s: float
    spans: tuple[int, ...]  # how many periods a span may show, shortest first
    start: int  # the span shown first (an index of ``spans``)

    def span_text(self, index: int) -> str:
        """``last 24 h``, ``last 3 days``."""
        hours = self.spans[index] * self.step_s / 3600
        return f"last {hours:.0f} h" if hours < 48 else f"last {hours / 24:.0f} days"


PERIODS = {
    "hour": Period("hourly", 3600.0, (6, 24, 72, 168), start=1),
    "day": Period("daily", 86_400.0, (7, 30, 90, 365), start=1),
}


class StatisticsReader(Protocol):
    def stats(
        self, variable: str, step_s: float, since: float, until: float, station_id: str | None
    ) -> list[PeriodStats]: ...


class StatisticsScreen(PanelScreen[None]):
    DEFAULT_CSS = """
    StatisticsScreen #title { height: 1; text-style: bold; }
    StatisticsScreen LoadingIndicator { height: 3; }
    StatisticsScreen DataTable { height: 1fr; }
    StatisticsScreen #keys { height: 1; color: $foreground 70%; }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("h", "period('hour')", "Hourly"),
        Binding("d", "period('day')", "Daily"),
        Binding("left_square_bracket", "span(-1)", "Shorter"),
        Binding("right_square_bracket", "span(1)", "Longer"),
    ]

    def __init__(
        self,
        reader: StatisticsReader,
        anomalies: Callable[[float], Sequence[Anomaly]],
        station_id: str,
        variable: str,
        label: str,
        now: float,
        shown: DisplayUnit,
    ) -> None:
        """``anomalies(since)``: the station's anomalies of ``variable`` since then; ``shown``:
        the unit the console shows it in (a spread is scaled, without the offset)."""
        super().__init__()
        self.reader, self.anomalies = reader, anomalies
        self.station_id, self.variable, self.label, self.now = station_id, variable, label, now
        self.shown = shown
        self.period = "hour"
        self.span = {name: period.start for name, period in PERIODS.items()}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="title")
            yield LoadingIndicator()
            yield DataTable(zebra_stripes=True, cursor_type="row")
            yield Static("h hourly · d daily · [ ] shorter, longer span · esc close", id="keys")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        unit = f" ({self.shown.symbol})" if self.shown.symbol else ""
        table.add_columns(
            "period (UTC)", "count", f"min{unit}", "mean", "max", "stddev", "anomalies"
        )
        self.action_period("hour")

    def action_period(self, period: str) -> None:
        self.period = period
        chosen = PERIODS[period]
        index = self.span[period]
        self.query_one("#title", Static).update(  # text: a station id "[/]" is no markup
            Text(
                f"{printable(self.label)} at {printable(self.station_id)}: "
                f"{chosen.label}, {chosen.span_text(index)}"
            )
        )
        self.query_one(LoadingIndicator).display = True
        self._load(period, chosen.step_s, chosen.spans[index])

    def action_span(self, step: int) -> None:
        """A shorter or longer span of the same periods (it stays at either end)."""
        spans = PERIODS[self.period].spans
        index = min(max(self.span[self.period] + step, 0), len(spans) - 1)
        if index != self.span[self.period]:
            self.span[self.period] = index
            self.action_period(self.period)

    @work(thread=True, exclusive=True)
    def _load(self, period: str, step: float, count: int) -> None:
        """Exclusive; a thread's read is not stopped, so an answer to an earlier choice is
        dropped when it comes (:meth:`_show`)."""
        since = (math.floor(self.now / step) - count + 1) * step
        try:
            rows = self.reader.stats(self.variable, step, since, math.inf, self.station_id)
            fired = Counter(math.floor(a.observed_at / step) * step for a in self.anomalies(since))
        except Exception as exc:  # a store or service that cannot answer: said, not raised
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, (period, count), rows, fired)

    def _show(self, asked: tuple[str, int], rows: list[PeriodStats], fired: Counter) -> None:
        period = self.period
        if asked != (period, PERIODS[period].spans[self.span[period]]):
            return  # an older answer, for another period or span
        table = self.query_one(DataTable)
        table.clear()
        timespec = "minutes" if period == "hour" else "hours"
        for r in reversed(rows):  # newest first
            start = iso_utc(r.start, timespec) or ""
            table.add_row(
                start[: 16 if period == "hour" else 10],
                f"{r.count:,}",
                self._value(r.minimum),
                self._value(r.mean),
                self._value(r.maximum),
                self._value(r.stddev, spread=True),
                f"{fired.get(r.start, 0):,}",
            )
        if not rows:
            table.add_row("no readings stored in this span", "", "", "", "", "", "")
        self.query_one(LoadingIndicator).display = False

    def _value(self, value: float, *, spread: bool = False) -> str:
        if math.isnan(value):
            return "—"
        shown = value * self.shown.scale if spread else float(self.shown.convert(value))
        return f"{shown:.{self.shown.decimals + 1}f}"

    def _failed(self, problem: str) -> None:
        self.query_one(LoadingIndicator).display = False
        self.app.notify(f"cannot read the statistics: {problem}", severity="error")
