"""The station selector: each station's latest condition and an alert marker."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pipeline.text import printable

# Told apart without colour too (a monochrome terminal, colour blindness): filled for a
# warning, hollow for an advisory.
MARKERS = {"warning": ("▲", "bold red"), "advisory": ("△", "bold yellow")}


@dataclass(frozen=True, slots=True)
class StationRow:
    station_id: str
    name: str
    condition: str  # e.g. "12.3 °C  1003 hPa"
    alert: str | None  # the most severe open alert: "warning", "advisory" or None
    stale: bool = False  # no reading for a while


class StationList(OptionList):
    """Highlighting a station selects it (posts :class:`StationList.Chosen`)."""

    DEFAULT_CSS = """
    StationList {
        width: 30;
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

    def show(self, rows: list[StationRow]) -> None:
        prompts = [self._prompt(row) for row in rows]
        ids = [row.station_id for row in rows]
        if ids != self._ids:
            highlighted = self.highlighted
            self.set_options(Option(p, id=i) for p, i in zip(prompts, ids, strict=True))
            self.highlighted = (
                highlighted if highlighted is not None and ids else (0 if ids else None)
            )
        else:
            for index, (old, new) in enumerate(zip(self._prompts, prompts, strict=True)):
                if old != new:
                    self.replace_option_prompt_at_index(index, new)
        self._ids, self._prompts = ids, prompts
        self._names = {row.station_id: row.name for row in rows}

    def names(self) -> dict[str, str]:
        """Station id -> name of every station listed, in list order."""
        return dict(self._names)

    def select_station(self, station_id: str) -> None:
        """Highlight ``station_id`` (which selects it: :class:`Chosen`), if it is listed."""
        if station_id in self._ids:
            self.highlighted = self._ids.index(station_id)

    @staticmethod
    def _prompt(row: StationRow) -> Text:
        marker, style = MARKERS.get(row.alert or "", (" ", ""))
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{marker} ", style=style)
        text.append(printable(row.name), style="bold")
        text.append("\n  ")
        text.append(printable(row.condition), style="dim" if row.stale else "")
        return text

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Chosen(event.option.id))
