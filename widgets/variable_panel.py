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
        zscore = "z —" if data.zscore is None else f"z {data.zscore:+.1f}"
        detail = self.query_one(".detail", TextLine)
        detail.text = Text(f"{zscore} {data.threshold}".rstrip(), no_wrap=True)
        # Where both do not fit (80 columns, a rule's threshold with its unit), the z-score
        # alone, or the threshold where there is no z-score (a gust): never a threshold cut
        # to "fall ≥" (the editor, e, lists every threshold).
        narrower = (zscore,) if data.zscore is not None else (data.threshold, zscore)
        detail.narrower = tuple(Text(form, no_wrap=True) for form in narrower if form)
        self.query_one(".value", TextLine).text = value
        self.query_one(Bars).data = tuple(data.history)
        self.set_class(data.anomalous, "anomalous")

    def on_focus(self) -> None:
        self.post_message(self.Focused(self.variable))
