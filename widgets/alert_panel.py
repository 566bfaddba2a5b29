"""Rule alerts: severity, age and state, with the selected one the target of acknowledge."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

SEVERITY_STYLE = {"warning": "bold red", "advisory": "bold yellow"}
STATE_STYLE = {"active": "bold", "acknowledged": "", "silenced": "italic", "cleared": "dim"}
STATE_SHORT = {"acknowledged": "acked", "silenced": "muted"}
SEVERITY_SHORT = {"warning": "WARN", "advisory": "ADV"}


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_id: int
    severity: str
    station: str
    what: str  # e.g. "pressure fall 6.4 hPa/3 h"
    age: str  # e.g. "12 min"
    state: str  # active | acknowledged | silenced | cleared


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

    def on_mount(self) -> None:
        # Fixed widths for the short columns keep them apart whatever the styling of a cell.
        self.add_column("sev", width=5)
        self.add_column("stn", width=5)
        self.add_column("what")
        self.add_column("age", width=6)
        self.add_column("state", width=7)

    @property
    def selected_alert(self) -> int | None:
        """The alert under the cursor (the first one when the panel was never navigated)."""
        if not self._rows:
            return None
        return self._rows[min(self.cursor_row, len(self._rows) - 1)].alert_id

    def show(self, rows: list[AlertRow]) -> None:
        self.set_class(any(r.state == "active" for r in rows), "has-active")
        active = sum(r.state == "active" for r in rows)
        self.border_subtitle = f"{active} active" if active else ""
        if tuple(rows) == self._rows:
            return
        selected = self.selected_alert
        self._rows = tuple(rows)
        self.clear()
        for row in rows:
            self.add_row(
                Text(
                    SEVERITY_SHORT.get(row.severity, row.severity.upper()).ljust(5),
                    style=SEVERITY_STYLE.get(row.severity, ""),
                ),
                row.station,
                row.what,
                row.age,
                Text(STATE_SHORT.get(row.state, row.state), style=STATE_STYLE.get(row.state, "")),
                key=str(row.alert_id),
            )
        ids = [r.alert_id for r in rows]
        if selected in ids:
            self.move_cursor(row=ids.index(selected))
