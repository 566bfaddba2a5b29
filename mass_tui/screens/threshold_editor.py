"""The threshold editor: every threshold of the focused variable, and the rules'.

It shows and selects; the console applies changes (to the running detectors and the user config
file) and pushes the new values back with :meth:`ThresholdEditor.show`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from pipeline.threshold_catalogue import ThresholdKey


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    key: ThresholdKey
    value: str  # formatted in display units
    setting: str  # the config key it is saved under


class ThresholdEditor(ModalScreen[None]):
    DEFAULT_CSS = """
    ThresholdEditor { align: center middle; }
    ThresholdEditor > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    ThresholdEditor DataTable { height: auto; max-height: 24; }
    ThresholdEditor .hint { color: $foreground 70%; }
    """
    BINDINGS = [
        Binding("escape,e", "dismiss", "Close"),
        Binding("plus,equals_sign", "step(1)", "Raise"),
        Binding("minus,underscore", "step(-1)", "Lower"),
    ]

    class Step(Message):
        """The user asks to move a threshold one step up (+1) or down (-1)."""

        def __init__(self, key: ThresholdKey, direction: int) -> None:
            self.key = key
            self.direction = direction
            super().__init__()

    class Selected(Message):
        def __init__(self, key: ThresholdKey) -> None:
            self.key = key
            super().__init__()

    def __init__(
        self,
        title: str,
        rows: list[ThresholdRow],
        selected: ThresholdKey | None,
        report_to: MessagePump,
    ) -> None:
        """``report_to``: where :class:`Step` and :class:`Selected` go, the screen that opened
        the editor (a pushed screen's messages would bubble to the App, not to it)."""
        super().__init__()
        self._report_to = report_to
        self._title = title
        self._rows = rows
        self._selected = selected

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Static(
                "↑↓ select   + / - change (applies now, saved to your user config)   Esc close",
                classes="hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("detector", "parameter", "variable", "value", "saved as")
        self.show(self._rows)
        keys = [row.key for row in self._rows]
        if self._selected in keys:
            table.move_cursor(row=keys.index(self._selected))
        table.focus()

    def show(self, rows: list[ThresholdRow]) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        self._rows = rows
        table.clear()
        for row in rows:
            key = row.key
            table.add_row(key.detector, key.parameter, key.variable, row.value, row.setting)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    @property
    def current(self) -> ThresholdKey | None:
        table = self.query_one(DataTable)
        if not self._rows:
            return None
        return self._rows[min(table.cursor_row, len(self._rows) - 1)].key

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self._rows):
            self._report_to.post_message(self.Selected(self._rows[event.cursor_row].key))

    def action_step(self, direction: int) -> None:
        if self.current:
            self._report_to.post_message(self.Step(self.current, direction))
