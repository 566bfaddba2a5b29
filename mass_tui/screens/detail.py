"""The detail view of one anomaly or alert (Enter on its row): what fired and against what
threshold, the readings around it, the QC flags there, and for an alert its history (who
acknowledged or silenced it, when), with the keys to acknowledge or silence from here.

The readings, flags and history are read in a worker thread: a store on a slow disk or an
attached service must not hold the screen."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import LoadingIndicator, Sparkline, Static

from mass_tui.focus_view import amount_text
from mass_tui.screens.panel import PanelScreen
from mass_tui.view import age_text
from pipeline.alerts import NO_DATA, Alert
from pipeline.anomaly import Anomaly
from pipeline.notify.message import COUNT_UNITS
from pipeline.text import printable
from pipeline.threshold_catalogue import CATALOGUE
from pipeline.times import iso_utc
from pipeline.units import UnitSystem, display_unit

AROUND_S = 3600.0  # the readings shown: an hour either side


@dataclass(frozen=True, slots=True)
class DetailSources:
    reader: Any  # StoreReader or ServiceReader (series; suspect_readings where there is one)
    alert_events: Callable[[int], list[tuple]] | None  # the alert history (embedded only)
    unit: str  # the variable's (canonical)
    units: UnitSystem  # the units the console shows
    label: str  # the variable as the console names it


class DetailScreen(PanelScreen[str | None]):
    """Dismissed with the intent chosen in it: "acknowledge", "silence" or None."""

    DEFAULT_CSS = """
    DetailScreen Sparkline { height: 4; margin: 1 0; }
    DetailScreen LoadingIndicator { height: 3; }
    DetailScreen .keys { color: $foreground 70%; }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("a", "acknowledge", "Ack"),
        Binding("z", "silence", "Mute"),
    ]

    def __init__(
        self, sources: DetailSources, *, anomaly: Anomaly | None = None, alert: Alert | None = None
    ) -> None:
        super().__init__()
        self.sources, self.anomaly, self.alert = sources, anomaly, alert
        thing = anomaly if anomaly is not None else alert
        assert thing is not None, "a detail view of nothing"
        self.station_id, self.variable = thing.station_id, thing.variable
        self.at = anomaly.observed_at if anomaly is not None else alert.updated_at  # type: ignore[union-attr]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._facts(), id="facts")
            yield LoadingIndicator()
            yield Sparkline([], id="around")
            yield Static("", id="context")
            keys = "a acknowledge · z silence · esc close" if self.alert else "esc close"
            yield Static(keys, classes="keys")

    def on_mount(self) -> None:
        self._load()

    def _value(self, value: float | None) -> str:
        """A reading, in the unit the console shows the variable in."""
        if value is None or math.isnan(value):
            return "—"
        return display_unit(self.sources.unit, self.sources.units).format(value)

    def _amount(self, detector: str, amount: float | None) -> str:
        """What ``detector`` (or an alert's rule) measured, or its threshold, with its unit:
        σ, samples, seconds silent, counts as they are; a fall, a gust, a jump converted as
        the variable is shown."""
        if amount is None or math.isnan(amount):
            return "—"
        if detector == NO_DATA:
            return f"{age_text(amount)} silent"
        if detector == "persistent_anomalies":
            return f"{amount:.0f} anomalies in a row"
        if detector in COUNT_UNITS:
            return f"{amount:.0f} {COUNT_UNITS[detector]}".rstrip()
        unit = CATALOGUE.statistic_unit(detector)
        return amount_text(amount, unit, self.sources.unit, self.sources.units)

    def _facts(self) -> Text:
        """Every field, as text: station ids and names are data, never markup."""
        lines: list[tuple[str, str]] = [
            ("station", self.station_id),
            ("variable", self.sources.label),
        ]
        if self.anomaly is not None:
            a = self.anomaly
            lines += [
                ("detector", a.detector),
                ("value", self._value(a.value)),
                (
                    "statistic",
                    f"{self._amount(a.detector, a.statistic)} against threshold "
                    f"{self._amount(a.detector, a.threshold)}",
                ),
                ("score", f"{a.score:.2f} (0.5 at the alarm)"),
                ("severity", a.severity or "—"),
                ("observed", _when(a.observed_at)),
            ]
            if a.event_start is not None:
                lines.append(("event since", _when(a.event_start)))
        if self.alert is not None:
            al = self.alert
            lines += [
                ("rule", al.rule),
                ("severity", al.severity),
                ("state", al.state),
            ]
            if al.rule != NO_DATA:  # its value is the silence, not a reading
                lines.append(("value", self._value(al.value)))
            lines += [
                ("measured", self._amount(al.rule, al.quantity)),
                ("threshold", self._amount(al.rule, al.threshold)),
                ("opened", _when(al.opened_at)),
                ("updated", _when(al.updated_at)),
            ]
            if al.acknowledged_by:
                lines.append(
                    ("acknowledged", f"by {al.acknowledged_by} at {_when(al.acknowledged_at)}")
                )
            if al.silenced_until is not None:
                lines.append(
                    ("silenced", f"until {_when(al.silenced_until)} by {al.silenced_by or '?'}")
                )
        text = Text()
        for name, value in lines:
            text.append(f"{name:>13}  ", style="bold")
            text.append(printable(str(value), 200) + "\n")
        return text

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        reader, notes = self.sources.reader, []
        values: list[float] = []
        if reader is None:
            notes.append("readings: this console has no store")
        else:
            try:
                since, until = self.at - AROUND_S, self.at + AROUND_S
                _, read = reader.series(self.station_id, self.variable, since, until, 200)
                values = [float(v) for v in read]
                notes.append(f"readings {len(values)} from {_when(since)} to {_when(until)}")
                if hasattr(reader, "suspect_readings"):
                    held = [
                        t
                        for t, names in reader.suspect_readings(self.station_id, since, until)
                        if self.variable in names
                    ]
                    notes.append(
                        f"QC flags: {len(held)} readings of it held back"
                        + (f", first {_when(held[0])}" if held else "")
                    )
            except Exception as exc:  # said on screen, not raised
                notes.append(f"cannot read the readings: {exc}")
        if self.alert is not None:
            notes.append(self._history())
        self.app.call_from_thread(self._show, values, notes)

    def _history(self) -> str:
        events = self.sources.alert_events
        if events is None:
            return "history: kept where the alert was raised (mass-tui export --what alerts)"
        try:
            mine = [e for e in events(5_000) if e[0] == self.alert.id]  # type: ignore[union-attr]
        except Exception as exc:
            return f"history: cannot read it: {exc}"
        lines = [
            f"  {_when(at)}  {transition} ({severity})" + (f" by {who}" if who else "")
            for _, transition, severity, at, who in reversed(mine)
        ]
        return "history:\n" + ("\n".join(lines) if lines else "  none recorded")

    def _show(self, values: list[float], notes: list[str]) -> None:
        self.query_one(LoadingIndicator).display = False
        self.query_one(Sparkline).data = values
        lines = (line for note in notes for line in note.split("\n"))
        self.query_one("#context", Static).update(
            Text("\n".join(printable(line, 200) for line in lines))
        )

    def action_acknowledge(self) -> None:
        if self.alert is not None:
            self.dismiss("acknowledge")

    def action_silence(self) -> None:
        if self.alert is not None:
            self.dismiss("silence")


def _when(seconds: float | None) -> str:
    """To the second: an alert's times are the clock's, with fractions an observation lacks."""
    return iso_utc(seconds, "seconds") if seconds is not None else "—"
