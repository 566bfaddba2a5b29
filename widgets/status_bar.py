"""The console's top line: clock, source, bus, rate, anomalies in the last hour, health."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from pipeline.text import printable


@dataclass(frozen=True, slots=True)
class StatusLine:
    clock: str  # observed time, e.g. "2026-11-23 14:05:00Z"
    time: str  # the same without the date, for a narrow line: "14:05:00Z", "09:05:00 EST"
    source: str
    source_state: str
    bus: str
    bus_depth: int
    bus_state: str  # e.g. "up · 3/6 partitions" for Kafka; "" for the in-process bus
    rate: float  # observations per second
    anomalies_last_hour: int
    problems: tuple[str, ...]  # "consumer failed: ...", "store failing: ..." — empty when healthy
    paused: bool = False
    units: str = "metric"
    running: str = ""  # "embedded · stops when you quit", "attached · service pid 42"


class StatusBar(Widget):
    """One line, pushed whole by the console at its refresh rate; a fixed height, so an
    update repaints it alone (no layout pass)."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 100%;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    status: reactive[StatusLine | None] = reactive(None, layout=False)

    def show(self, status: StatusLine) -> None:
        self.status = status

    def render(self) -> Text:
        """Health first: on a narrow terminal the end of the line is what gets cut. Built
        when drawn, at the width it is drawn at (not the width it had when last told)."""
        status = self.status
        if status is None:
            return Text()
        narrow = self.size.width < 100
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("M.A.S.S. ", style="bold")
        if status.problems:
            text.append("✖ " + printable("; ".join(status.problems)), style="bold red")
        else:
            text.append("✔ ok", style="green")
        if status.paused:
            text.append("  PAUSED", style="reverse bold")
        if status.running:
            text.append("  " + (status.running.split(" · ")[0] if narrow else status.running))
        text.append("  " + (status.time if narrow else status.clock))
        text.append(f"  {status.rate:,.0f} obs/s")
        text.append(f"  {status.anomalies_last_hour} anom/h")
        text.append(f"  {printable(status.source)}")
        if status.source_state and status.source_state != "ok":
            text.append(f" ({printable(status.source_state)})", style="bold")
        text.append(f"  bus {status.bus}")
        if status.bus_state:
            text.append(f" {status.bus_state}")
        if status.bus_depth:
            text.append(f" lag {status.bus_depth:,}")
        if status.units != "metric":
            text.append(f"  {status.units}")
        return text
