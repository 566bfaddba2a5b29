"""One variable of the selected station: value, trend, rolling z-score and a sparkline."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message

from widgets.bars import Bars
from widgets.text_line import TextLine


@dataclass(frozen=True, slots=True)
class PanelData:
    variable: str
    label: str
    value: str  # formatted with its display unit, "—" when unknown
    trend: str  # "↑", "↓", "→" or ""
    zscore: float | None
    threshold: str  # the threshold +/- would change, e.g. "z ≥ 6.0" (empty: none applies)
    history: tuple[float, ...]  # recent values for the sparkline (display units)
    anomalous: bool  # an anomaly on this variable is recent: highlight the panel


class VariablePanel(Vertical, can_focus=True):
    """Focusing a panel makes its variable the chart's and the threshold keys' target."""

    DEFAULT_CSS = """
    VariablePanel {
        height: 6;
        border: round $panel;
        border-title-color: $foreground;
        padding: 0 1;
    }
    VariablePanel:focus { border: round $primary; border-title-style: bold; }
    VariablePanel.anomalous { border: heavy $error; background: $error 15%; }
    VariablePanel.anomalous:focus { border: heavy $primary; }
    VariablePanel > .value { height: 1; }
    VariablePanel > .detail { height: 1; color: $foreground 70%; }
    VariablePanel > Bars { height: 2; }
    """

    class Focused(Message):
        def __init__(self, variable: str) -> None:
            self.variable = variable
            super().__init__()

    def __init__(self, variable: str, label: str, short: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.variable = variable
        self.label, self.short = label, short
        self.border_title = label

    def on_resize(self) -> None:
        # The full name where it fits, the short one (e.g. "P msl") where it would be cut.
        fits = self.size.width >= len(self.label) + 4
        self.border_title = self.label if fits else self.short

    def compose(self) -> ComposeResult:
        yield TextLine(classes="value")
        yield TextLine(classes="detail")
        yield Bars()

    def show(self, data: PanelData) -> None:
        value = Text(no_wrap=True, overflow="ellipsis")
        value.append(data.value, style="bold")
        if data.trend:
            value.append(f" {data.trend}")
        detail = Text(no_wrap=True, overflow="ellipsis")
        detail.append("z —" if data.zscore is None else f"z {data.zscore:+.1f}")
        if data.threshold:
            detail.append(f" {data.threshold}")
        self.query_one(".value", TextLine).text = value
        self.query_one(".detail", TextLine).text = detail
        self.query_one(Bars).data = tuple(data.history)
        self.set_class(data.anomalous, "anomalous")

    def on_focus(self) -> None:
        self.post_message(self.Focused(self.variable))
