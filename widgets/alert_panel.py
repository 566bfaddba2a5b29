"""Rule alerts: severity, age and state, with the selected one the target of acknowledge."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from widgets.plain import plain

SEVERITY_STYLE = {"warning": "bold red", "advisory": "bold yellow"}
STATE_STYLE = {"active": "bold", "acknowledged": "", "silenced": "italic", "cleared": "dim"}
STATE_SHORT = {"acknowledged": "acked", "silenced": "muted", "cleared": "clear"}
SEVERITY_SHORT = {"warning": "WARN", "advisory": "ADV"}
COLUMN_WIDTHS = {"sev": 4, "stn": 4, "age": 6, "state": 6}  # "what" takes the rest
MIN_WHAT = 8
# The station column is as wide as the longest id listed, within these: "syn-0370" and
# "syn-0371" must not both show as "syn…", nor "longid" as London's "lon".
STATION_WIDTHS = (4, 12)


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_id: int
    severity: str
    station: str
    what: str  # e.g. "pressure fall 6.4 hPa/3 h"
    age: str  # e.g. "12 min"
    state: str  # active | acknowledged | silenced | cleared


# The AlertRow field each column shows, in column order.
CELL_FIELDS = ("severity", "station", "what", "age", "state")


class AlertPanel(DataTable):
    DEFAULT_CSS = """
    AlertPanel {
        height: 1fr;
        border: round $panel;
        border-title-color: $foreground;
    }
    AlertPanel:focus { border: round $primary; }
    AlertPanel.has-active { border: round $error; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.border_title = "Alerts"
        self._rows: tuple[AlertRow, ...] = ()
        self._widths = (0, 0)  # the station and "what" columns
        self._columns: list = []  # the column keys, in order

    @property
    def selected_alert(self) -> int | None:
        """The alert under the cursor. While the panel has focus the cursor stays on the alert
        chosen as rows come and go; otherwise it is on the top row, the most severe and newest
        open alert (what ``a`` acknowledges without navigating)."""
        if not self._rows:
            return None
        return self._rows[min(self.cursor_row, len(self._rows) - 1)].alert_id

    def show(self, rows: list[AlertRow]) -> None:
        self.set_class(any(r.state == "active" for r in rows), "has-active")
        active = sum(r.state == "active" for r in rows)
        subtitle = f"{active} active" if active else ""
        if subtitle != self.border_subtitle:  # assigning repaints the table, even the same text
            self.border_subtitle = subtitle
        rows_now = tuple(rows)
        if rows_now == self._rows:
            return
        if self._columns and self._fit_widths(rows_now) == self._widths:
            self._update(rows_now)  # an age ticking, an alert more: no new layout
        else:
            self._draw(rows_now)

    def _update(self, rows: tuple[AlertRow, ...]) -> None:
        """Rewrite the cells that changed, row by row, and add or drop rows at the end.
        Rows are keyed by position, so a new alert on top (which moves every other down) is
        cell rewrites, not a rebuilt table: a rebuild costs ~0.1 ms a row, 55 ms a refresh at
        365 alerts (1,000 stations, bench/station_overview.py)."""
        selected = self.selected_alert
        width = self._widths
        for index, (old, new) in enumerate(zip(self._rows, rows, strict=False)):
            if old == new:
                continue
            cells = self._cells(new, width)
            for column, field, cell in zip(self._columns, CELL_FIELDS, cells, strict=True):
                if getattr(old, field) != getattr(new, field):  # most often the age alone
                    self.update_cell(str(index), column, cell)
        for index in range(len(self._rows), len(rows)):
            self.add_row(*self._cells(rows[index], width), key=str(index))
        for index in range(len(rows), len(self._rows)):
            self.remove_row(str(index))
        self._rows = rows
        self._place_cursor(selected)

    def _place_cursor(self, selected: int | None) -> None:
        """On the alert chosen while the panel has focus; else on the top row."""
        ids = [r.alert_id for r in self._rows]
        row = ids.index(selected) if self.has_focus and selected in ids else 0
        if self._rows and self.cursor_row != row:
            self.move_cursor(row=row)

    def on_resize(self) -> None:
        self._draw(self._rows)

    @staticmethod
    def _cells(row: AlertRow, widths: tuple[int, int]) -> tuple:
        """The row's cells, one a column, from the :data:`CELL_FIELDS` of ``row``; ``widths``:
        the station and "what" columns'."""
        station_width, what_width = widths
        return (
            Text(
                SEVERITY_SHORT.get(row.severity, row.severity.upper()),
                style=SEVERITY_STYLE.get(row.severity, ""),
            ),
            plain(row.station, width=station_width),
            plain(row.what, width=what_width),
            row.age,
            Text(STATE_SHORT.get(row.state, row.state), style=STATE_STYLE.get(row.state, "")),
        )

    def _fit_widths(self, rows: tuple[AlertRow, ...]) -> tuple[int, int]:
        """The station column as wide as its longest id (within :data:`STATION_WIDTHS`);
        the "what" column takes the width the others leave, so the state column is always in
        view (no sideways scrolling in a panel this narrow)."""
        low, high = STATION_WIDTHS
        station = min(max([low, *(len(r.station) for r in rows)]), high)
        region = self.content_region
        scrollbar = self.styles.scrollbar_size_vertical if len(rows) > region.height - 1 else 0
        padding = 2 * self.cell_padding * (len(COLUMN_WIDTHS) + 1)
        others = sum(w for label, w in COLUMN_WIDTHS.items() if label != "stn") + station
        return station, max(MIN_WHAT, region.width - others - padding - scrollbar)

    def _draw(self, rows: tuple[AlertRow, ...]) -> None:
        selected = self.selected_alert
        self._rows = rows
        self._widths = width = self._fit_widths(rows)
        self.clear(columns=True)
        # Fixed widths keep the columns apart whatever the styling of a cell.
        self._columns = []
        for label, column_width in COLUMN_WIDTHS.items():
            if label == "stn":
                self._columns.append(self.add_column(label, width=width[0]))
                self._columns.append(self.add_column("what", width=width[1]))
            else:
                self._columns.append(self.add_column(label, width=column_width))
        for index, row in enumerate(rows):
            self.add_row(*self._cells(row, width), key=str(index))
        self._place_cursor(selected)
