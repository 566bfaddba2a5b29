"""The anomaly log: newest first, scrollable well past one screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.markup import escape
from textual.widgets import DataTable

from pipeline.text import printable
from widgets.plain import plain

COLUMNS = ("time", "stn", "variable", "value", "detector", "score")
# Station ids may be 64 characters long: one that long pushed every other column off the log.
STATION_CELL = 10


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    key: str  # unique per anomaly, keeps the cursor on the same row across updates
    time: str
    station: str
    variable: str
    value: str
    detector: str
    score: float


class AnomalyLog(DataTable):
    DEFAULT_CSS = """
    AnomalyLog {
        height: 1fr;
        overflow-x: hidden;  /* the last column's padding is not worth a scrollbar line */
        border: round $panel;
        border-title-color: $foreground;
    }
    AnomalyLog:focus { border: round $primary; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.border_title = "Anomalies"
        self._keys: tuple[str, ...] = ()
        self._time_title = COLUMNS[0]

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def show(self, rows: list[AnomalyRow], subtitle: str = "", time_title: str = "time") -> None:
        """Replace the rows (newest first); does nothing when they did not change. The
        subtitle is text (a filter as typed, "station:[/]" included), never markup.
        ``time_title`` heads the time column: which clock the times are on."""
        if time_title != self._time_title:  # the same rows, on another clock
            self._time_title = time_title
            self.clear(columns=True)
            self.add_columns(time_title, *COLUMNS[1:])
            self._keys = ()
        subtitle = escape(printable(subtitle))
        if subtitle != self.border_subtitle:  # assigning repaints the table, even the same text
            self.border_subtitle = subtitle
        keys = tuple(row.key for row in rows)
        if keys == self._keys:
            return
        self._keys = keys
        cursor_key = None
        if self.row_count and self.cursor_row > 0:
            cursor_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        self.clear()
        for row in rows:
            self.add_row(
                plain(row.time),
                plain(row.station, width=STATION_CELL),
                *map(plain, (row.variable, row.value, row.detector)),
                f"{row.score:.2f}",
                key=row.key,
            )
        if cursor_key is not None and cursor_key in keys:
            self.move_cursor(row=keys.index(cursor_key))
