"""The console's top line: clock, source, bus, rate, anomalies in the last hour, health."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
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
        """Health first, then what changes; built when drawn, at the width it is drawn at.
        Where the whole line does not fit, the least telling parts shorten or go first (how
        the console runs, the date, the bus's name), so that the bus's backlog and the units
        stay in view rather than being cut off at the end."""
        status = self.status
        if status is None:
            return Text()
        parts = _parts(status)
        width = self.content_region.width or self.size.width
        for part, shorten in SHORTENED:
            if sum(cell_len(shown) for shown, _ in parts.values()) <= width:
                break
            if part in parts:
                parts[part] = _shorter(status, part) if shorten else ("", "")
        text = Text(no_wrap=True, overflow="ellipsis")
        for plain_text, style in parts.values():
            text.append(plain_text, style=style)
        return text


SHORTENED: tuple[tuple[str, bool], ...] = (
    ("running", True),
    ("clock", True),
    ("bus_state", False),
    ("running", False),
    ("bus", False),
    ("source", False),
)
"""How the line shortens when it does not fit, step by step: a part's short form (True), or
the part dropped."""


def _parts(status: StatusLine) -> dict[str, tuple[str, str]]:
    """The line's parts in order: name -> (text, style)."""
    parts: dict[str, tuple[str, str]] = {"name": ("M.A.S.S. ", "bold")}
    if status.problems:
        parts["health"] = ("✖ " + printable("; ".join(status.problems)), "bold red")
    else:
        parts["health"] = ("✔ ok", "green")
    if status.paused:
        parts["paused"] = ("  PAUSED", "reverse bold")
    if status.running:
        parts["running"] = ("  " + status.running, "")
    parts["clock"] = ("  " + status.clock, "")
    parts["rate"] = (f"  {status.rate:,.0f} obs/s", "")
    parts["anomalies"] = (f"  {status.anomalies_last_hour} anom/h", "")
    parts["source"] = (f"  {printable(status.source)}", "")
    if status.source_state and status.source_state != "ok":
        parts["source_state"] = (f" ({printable(status.source_state)})", "bold")
    parts["bus"] = (f"  bus {status.bus}", "")
    if status.bus_state:
        parts["bus_state"] = (f" {status.bus_state}", "")
    if status.bus_depth:
        parts["lag"] = (f"  lag {status.bus_depth:,}", "")
    if status.units != "metric":
        parts["units"] = (f"  {status.units}", "")
    return parts


def _shorter(status: StatusLine, part: str) -> tuple[str, str]:
    if part == "running":
        return ("  " + status.running.split(" · ")[0], "")
    return ("  " + status.time, "")  # the clock without its date
