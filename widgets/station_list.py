"""The station selector: each station's latest condition, a sparkline of the focused
variable's newest readings and an alert marker; grouped by state (alerting / no data / ok)
under a header line each, when asked.

A Line API widget, so that it stays fluid at 1,000 or 5,000 stations: :meth:`StationList.show`
only keeps the rows, and a station's two lines are rendered when they come on screen (and
cached while the row and its style stay the same). An ``OptionList`` measured and rendered
every prompt at each refresh, however few were visible."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import ClassVar, TypeAlias

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual

from pipeline.text import printable
from widgets.bars import BARS
from widgets.fitting import fitting

# Told apart without colour too (a monochrome terminal, colour blindness): filled for a
# warning, hollow for an advisory.
MARKERS = {"warning": ("▲", "bold red"), "advisory": ("△", "bold yellow")}
SPARK_CELLS = 8  # the sparkline's width in each row
STATES = ("alerting", "no data", "ok")  # the groups, in the order they are listed
ROW_LINES = 2  # a station: its name, then its condition and sparkline
# Rendered entries kept: a tall terminal's screenful of rows in a few styles (highlighted,
# hovered); the rest are rendered again when they come back on screen.
RENDERED_ENTRIES = 256


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


@dataclass(frozen=True, slots=True)
class GroupHeader:
    """The line before a group of stations, when they are grouped by state."""

    state: str  # one of STATES
    count: int  # the stations listed under it


Entry: TypeAlias = StationRow | GroupHeader


def mini_sparkline(readings: list[float]) -> str:
    """One bar a reading, scaled between their min and max. A screenful of rows is drawn each
    refresh: this costs a few µs a row, where the panels' bucketing sparkline costs ~90."""
    low, high = min(readings), max(readings)
    extent = (high - low) or 1.0
    top = len(BARS) - 1
    return "".join(BARS[int((v - low) / extent * top)] for v in readings)


def _height(entry: Entry) -> int:
    return 1 if isinstance(entry, GroupHeader) else ROW_LINES


class StationList(ScrollView, can_focus=True):
    """Highlighting a station selects it (posts :class:`StationList.Chosen`): with the
    keyboard (the cursor skips the group headers), a click, or :meth:`select_station`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    # The same theme variables as OptionList's, so that every theme styles the cursor.
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "station-list--row",
        "station-list--row-highlighted",
        "station-list--row-hover",
        "station-list--header",
    }

    DEFAULT_CSS = """
    StationList {
        width: 100%;
        height: 1fr;
        border: round $panel;
        border-title-color: $foreground;
        padding: 0 1;
        color: $foreground;
        background: $surface;
        overflow-x: hidden;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        & > .station-list--row-highlighted {
            color: $foreground;
            background: $block-cursor-blurred-background;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .station-list--row-hover { background: $block-hover-background; }
        & > .station-list--header { color: $text-disabled; }
        &:focus {
            border: round $primary;
            background-tint: $foreground 5%;
            & > .station-list--row-highlighted {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    class Chosen(Message):
        def __init__(self, station_id: str) -> None:
            self.station_id = station_id
            super().__init__()

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._entries: list[Entry] = []
        self._starts: list[int] = [0]  # each entry's first line, then the line count
        self._index: dict[str, int] = {}  # station id -> its entry
        self._cursor: str | None = None  # the highlighted station
        self._hover: int | None = None  # the entry under the mouse (it stays as rows change)
        self._rendered: LRUCache[tuple[Entry, Style, int], list[Strip]] = LRUCache(RENDERED_ENTRIES)
        self.border_title = "Stations"
        self._titles: tuple[str, ...] = ()

    # -- the title -----------------------------------------------------------------------

    def show_titles(self, titles: Sequence[str]) -> None:
        """The border title: the longest of ``titles`` (longest first) that fits the list's
        width, chosen again when it is resized (the counts shortened, not cut off)."""
        self._titles = tuple(titles)
        self._fit_title()

    def on_resize(self) -> None:
        self._fit_title()

    def _fit_title(self) -> None:
        if not self._titles:
            return
        # The corners and a space either side; before the first layout, the longest.
        width = self.size.width - 4 if self.size.width else None
        title = fitting(self._titles, width)
        if self.border_title != title:  # assigning repaints, even the same text
            self.border_title = title

    # -- what is listed ------------------------------------------------------------------

    def show(self, rows: list[StationRow], grouped: bool = False) -> None:
        """``rows`` in the order shown; ``grouped``: they come group by group (see
        :data:`STATES`), and each group gets a header line with its count. The highlighted
        station stays highlighted wherever it moves; if it is no longer listed, the first
        station is (and is chosen)."""
        entries: list[Entry] = []
        if grouped:
            counts = Counter(row.state for row in rows)
            group = None
            for row in rows:
                if row.state != group:
                    group = row.state
                    entries.append(GroupHeader(group, counts[group]))
                entries.append(row)
        else:
            entries = list(rows)
        if entries == self._entries:
            return  # nothing to repaint
        line_before = self._line_of(self._cursor)
        self._entries = entries
        self._starts = list(accumulate(map(_height, entries), initial=0))
        self._index = {e.station_id: i for i, e in enumerate(entries) if isinstance(e, StationRow)}
        self.virtual_size = Size(0, self._starts[-1])
        self.refresh()
        if self._cursor in self._index:
            if self._line_of(self._cursor) != line_before:
                self._scroll_to_cursor()
        else:
            self._choose(self._nearest_station(0, 1))

    @property
    def entries(self) -> tuple[Entry, ...]:
        """What is listed, line by line: stations and (grouped) their groups' headers."""
        return tuple(self._entries)

    def names(self) -> dict[str, str]:
        """Station id -> name of every station listed, in list order."""
        return {e.station_id: e.name for e in self._entries if isinstance(e, StationRow)}

    # -- the cursor ----------------------------------------------------------------------

    @property
    def highlighted(self) -> int | None:
        """The highlighted station's index in :attr:`entries`, or None (nothing listed)."""
        return self._index.get(self._cursor) if self._cursor is not None else None

    @highlighted.setter
    def highlighted(self, index: int) -> None:
        self._choose(self._nearest_station(index, 1))

    def select_station(self, station_id: str) -> None:
        """Highlight ``station_id`` (which selects it: :class:`Chosen`), if it is listed."""
        if station_id in self._index:
            self._choose(self._index[station_id])

    def _choose(self, index: int | None) -> None:
        """Highlight the station at entry ``index`` (None: nothing is listed; a header: the
        cursor stays); a new one is :class:`Chosen`."""
        if index is None:
            self._cursor = None
            return
        entry = self._entries[index]
        if isinstance(entry, GroupHeader):
            return
        station_id = entry.station_id
        previous, self._cursor = self._cursor, station_id
        if station_id != previous:
            self._refresh_entry(self._index.get(previous) if previous is not None else None)
            self._refresh_entry(index)
            self.post_message(self.Chosen(station_id))
        self._scroll_to_cursor()

    def _nearest_station(self, index: int, direction: int) -> int | None:
        """The station at entry ``index`` (clamped to the list), else the nearest one towards
        ``direction`` (+1 down, -1 up), else the nearest the other way."""
        if not self._entries:
            return None
        start = min(max(index, 0), len(self._entries) - 1)
        for step in (direction, -direction):
            at = start
            while 0 <= at < len(self._entries):
                if isinstance(self._entries[at], StationRow):
                    return at
                at += step
        return None

    def _line_of(self, station_id: str | None) -> int | None:
        index = self._index.get(station_id) if station_id is not None else None
        return None if index is None else self._starts[index]

    def _scroll_to_cursor(self) -> None:
        """The cursor's row in view, with its group's header when it is the group's first
        (Home on a grouped list showed the first station with its header scrolled off)."""
        index = self.highlighted
        if index is None or not self.is_mounted:
            return
        top = self._starts[index]
        if index > 0 and isinstance(self._entries[index - 1], GroupHeader):
            top = self._starts[index - 1]
        self.scroll_to_region(
            Region(
                0, top, self.scrollable_content_region.width, self._starts[index] + ROW_LINES - top
            ),
            animate=False,
            force=True,
            immediate=True,
        )

    def on_show(self) -> None:
        self._scroll_to_cursor()

    def action_cursor_up(self) -> None:
        self._step(-1)

    def action_cursor_down(self) -> None:
        self._step(1)

    def _step(self, direction: int) -> None:
        index = self.highlighted
        if index is None:
            self._choose(self._nearest_station(0, 1))
        else:
            self._choose(self._nearest_station(index + direction, direction))

    def action_first(self) -> None:
        self._choose(self._nearest_station(0, 1))

    def action_last(self) -> None:
        self._choose(self._nearest_station(len(self._entries) - 1, -1))

    def action_page_up(self) -> None:
        self._page(-1)

    def action_page_down(self) -> None:
        self._page(1)

    def _page(self, direction: int) -> None:
        """Move the cursor a screenful of lines (to the station on the line reached)."""
        line = self._line_of(self._cursor) or 0
        target = line + direction * self.scrollable_content_region.height
        self._choose(self._nearest_station(self._entry_at(max(target, 0)), direction))

    def _entry_at(self, line: int) -> int:
        """The entry drawn on ``line`` of the list (``len(entries)`` past its end)."""
        return bisect_right(self._starts, line) - 1

    # -- the mouse -----------------------------------------------------------------------

    def _entry_under(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        index = self._entry_at(offset.y + self.scroll_offset.y)
        return index if 0 <= index < len(self._entries) else None

    def on_click(self, event: events.Click) -> None:
        index = self._entry_under(event)
        if index is not None:
            self._choose(index)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._entry_under(event))

    def on_leave(self, _: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, index: int | None) -> None:
        if index != self._hover:
            previous, self._hover = self._hover, index
            self._refresh_entry(previous)
            self._refresh_entry(index)

    # -- drawing -------------------------------------------------------------------------

    def _refresh_entry(self, index: int | None) -> None:
        if index is not None and 0 <= index < len(self._entries):
            self.refresh_lines(self._starts[index], _height(self._entries[index]))

    def notify_style_update(self) -> None:
        self.refresh()  # focus and themes restyle the cursor, a component style
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        line = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        index = self._entry_at(line)
        if not 0 <= index < len(self._entries):
            return Strip.blank(width, self.get_visual_style("station-list--row").rich_style)
        return self._render_entry(index, width)[line - self._starts[index]]

    def _render_entry(self, index: int, width: int) -> list[Strip]:
        entry = self._entries[index]
        if isinstance(entry, GroupHeader):
            style = self.get_visual_style("station-list--header")
        elif entry.station_id == self._cursor:
            style = self.get_visual_style("station-list--row", "station-list--row-highlighted")
        elif index == self._hover:
            style = self.get_visual_style("station-list--row", "station-list--row-hover")
        else:
            style = self.get_visual_style("station-list--row")
        key = (entry, style, width)
        strips = self._rendered.get(key)
        if strips is None:
            text = (
                self._header(entry.state, entry.count)
                if isinstance(entry, GroupHeader)
                else self._prompt(entry)
            )
            content = Content.from_rich_text(text)
            strips = Visual.to_strips(self, content, width, _height(entry), style, pad=True)
            self._rendered[key] = strips
        return strips

    @staticmethod
    def _header(state: str, count: int) -> Text:
        return Text(f"{state.upper()} · {count}", style="bold reverse")

    @staticmethod
    def _prompt(row: StationRow) -> Text:
        """Its two lines (cut with an ellipsis by the CSS's ``text-overflow``)."""
        marker, style = MARKERS.get(row.alert or "", (" ", ""))
        text = Text()
        text.append(f"{marker} ", style=style)
        text.append(printable(row.name), style="bold")
        text.append("\n  ")
        text.append(printable(row.condition), style="dim" if row.stale else "")
        readings = [v for v in row.tail if not math.isnan(v)]
        if len(readings) > 1:
            text.append(" ")
            text.append(mini_sparkline(readings[-SPARK_CELLS:]), style="dim" if row.stale else "")
        return text
