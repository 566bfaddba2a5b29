"""The station selector: each station's latest condition, a sparkline of the focused
variable's newest readings and an alert marker; grouped by state (alerting / no data / ok)
under a header line each, when asked.

At 1,000 stations a refresh replaces only the prompts that changed (a new option list is
built only when the stations listed or their order change)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pipeline.text import printable
from widgets.bars import BARS

# Told apart without colour too (a monochrome terminal, colour blindness): filled for a
# warning, hollow for an advisory.
MARKERS = {"warning": ("▲", "bold red"), "advisory": ("△", "bold yellow")}
SPARK_CELLS = 8  # the sparkline's width in each row
STATES = ("alerting", "no data", "ok")  # the groups, in the order they are listed


@dataclass(frozen=True, slots=True)
class StationRow:
    station_id: str
    name: str
    condition: str  # e.g. "12.3 °C  1003 hPa"
    alert: str | None  # the most severe open alert: "warning", "advisory" or None
    stale: bool = False  # no reading for a while
    tail: tuple[float, ...] = ()  # the focused variable's newest readings, oldest first
    latest_anomaly: float = math.nan  # when its newest anomaly was observed

    @property
    def state(self) -> str:
        """Its group: one of :data:`STATES`."""
        return "alerting" if self.alert else "no data" if self.stale else "ok"


def mini_sparkline(readings: list[float]) -> str:
    """One bar a reading, scaled between their min and max. A thousand rows are drawn each
    refresh: this costs a few µs a row, where the panels' bucketing sparkline costs ~90."""
    low, high = min(readings), max(readings)
    extent = (high - low) or 1.0
    top = len(BARS) - 1
    return "".join(BARS[int((v - low) / extent * top)] for v in readings)


class StationList(OptionList):
    """Highlighting a station selects it (posts :class:`StationList.Chosen`)."""

    DEFAULT_CSS = """
    StationList {
        width: 100%;
        height: 1fr;
        border: round $panel;
        border-title-color: $foreground;
    }
    StationList:focus { border: round $primary; }
    """

    class Chosen(Message):
        def __init__(self, station_id: str) -> None:
            self.station_id = station_id
            super().__init__()

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._ids: list[str] = []
        self._prompts: list[Text] = []
        self._names: dict[str, str] = {}
        self.border_title = "Stations"

    def show(self, rows: list[StationRow], grouped: bool = False) -> None:
        """``rows`` in the order shown; ``grouped``: they come group by group (see
        :data:`STATES`), and each group gets a header line with its count."""
        prompts: list[Text] = []
        ids: list[str] = []  # "" for a header line
        counts = {state: 0 for state in STATES}
        for row in rows:
            counts[row.state] += 1
        group = None
        for row in rows:
            if grouped and row.state != group:
                group = row.state
                prompts.append(self._header(group, counts[group]))
                ids.append("")
            prompts.append(self._prompt(row))
            ids.append(row.station_id)
        if ids != self._ids:
            chosen = self._station_at(self.highlighted)
            self.set_options(
                Option(p, id=i or None, disabled=not i) for p, i in zip(prompts, ids, strict=True)
            )
            self._ids = ids
            self.highlighted = self._index_of(chosen)
        else:
            for index, (old, new) in enumerate(zip(self._prompts, prompts, strict=True)):
                if old != new:
                    self.replace_option_prompt_at_index(index, new)
        self._prompts = prompts
        self._names = {row.station_id: row.name for row in rows}

    def _station_at(self, index: int | None) -> str | None:
        if index is None or not 0 <= index < len(self._ids):
            return None
        return self._ids[index] or None

    def _index_of(self, station_id: str | None) -> int | None:
        """Where ``station_id`` is listed now; else the first station listed, or None."""
        if station_id in self._ids:
            return self._ids.index(station_id)
        return next((i for i, s in enumerate(self._ids) if s), None)

    def names(self) -> dict[str, str]:
        """Station id -> name of every station listed, in list order."""
        return dict(self._names)

    def select_station(self, station_id: str) -> None:
        """Highlight ``station_id`` (which selects it: :class:`Chosen`), if it is listed."""
        if station_id and station_id in self._ids:
            self.highlighted = self._ids.index(station_id)

    @staticmethod
    def _header(state: str, count: int) -> Text:
        return Text(f"{state.upper()} · {count}", style="bold reverse", no_wrap=True)

    @staticmethod
    def _prompt(row: StationRow) -> Text:
        marker, style = MARKERS.get(row.alert or "", (" ", ""))
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{marker} ", style=style)
        text.append(printable(row.name), style="bold")
        text.append("\n  ")
        text.append(printable(row.condition), style="dim" if row.stale else "")
        readings = [v for v in row.tail if not math.isnan(v)]
        if len(readings) > 1:
            text.append(" ")
            text.append(mini_sparkline(readings[-SPARK_CELLS:]), style="dim" if row.stale else "")
        return text

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Chosen(event.option.id))
