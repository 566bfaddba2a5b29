"""The anomaly log: newest first, scrollable well past one screen."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.markup import escape
from textual.widgets import DataTable

from pipeline.text import printable
from widgets.plain import plain

COLUMNS = ("time", "stn", "variable", "value", "detector", "score")
# The AnomalyRow field each column shows, in column order.
CELL_FIELDS = ("time", "station", "variable", "value", "detector", "score")
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
        self._rows: tuple[AnomalyRow, ...] = ()
        self._columns: list = []  # the column keys, in order
        self._time_title = COLUMNS[0]

    def on_mount(self) -> None:
        self._columns = self.add_columns(*COLUMNS)

    def key_at(self, row: int) -> str | None:
        """The key of the anomaly shown in ``row`` (the cursor's, a selected row's)."""
        return self._rows[row].key if 0 <= row < len(self._rows) else None

    def show(self, rows: list[AnomalyRow], subtitle: str = "", time_title: str = "time") -> None:
        """Replace the rows (newest first); does nothing when they did not change. The
        subtitle is text (a filter as typed, "station:[/]" included), never markup.
        ``time_title`` heads the time column: which clock the times are on.

        Rows are keyed by position and only the cells that changed are rewritten: new
        anomalies on top move every row down, and rebuilding 200 rows cost ~20 ms a refresh
        at 1,000 stations. The cursor stays on its anomaly when it is off the top row."""
        if time_title != self._time_title:  # the same rows, on another clock
            self._time_title = time_title
            self.clear(columns=True)
            self._columns = self.add_columns(time_title, *COLUMNS[1:])
            self._rows = ()
        subtitle = escape(printable(subtitle))
        if subtitle != self.border_subtitle:  # assigning repaints the table, even the same text
            self.border_subtitle = subtitle
        shown = tuple(rows)
        if shown == self._rows:
            return
        cursor_key = self.key_at(self.cursor_row) if self.cursor_row > 0 else None
        for index, (old, new) in enumerate(zip(self._rows, shown, strict=False)):
            if old == new:
                continue
            cells = self._cells(new)
            for column, field, cell in zip(self._columns, CELL_FIELDS, cells, strict=True):
                if getattr(old, field) != getattr(new, field):
                    # Widening a column is cheap; Textual re-measures the whole column for a
                    # narrower cell (to shrink it), and with every row moved down by a new
                    # anomaly that was every cell of the log, at each refresh: at 1,000
                    # stations seconds of the UI thread. The columns only widen here.
                    width = cell.cell_len if isinstance(cell, Text) else cell_len(cell)
                    widens = width > self.columns[column].content_width
                    self.update_cell(str(index), column, cell, update_width=widens)
        for index in range(len(self._rows), len(shown)):
            self.add_row(*self._cells(shown[index]), key=str(index))
        for index in range(len(shown), len(self._rows)):
            self.remove_row(str(index))
        self._rows = shown
        keys = [row.key for row in shown]
        row = keys.index(cursor_key) if cursor_key in keys else 0
        if shown and self.cursor_row != row:
            self.move_cursor(row=row)

    @staticmethod
    def _cells(row: AnomalyRow) -> tuple:
        """The row's cells, one a column, from the :data:`CELL_FIELDS` of ``row``."""
        return (
            plain(row.time),
            plain(row.station, width=STATION_CELL),
            *map(plain, (row.variable, row.value, row.detector)),
            f"{row.score:.2f}",
        )
