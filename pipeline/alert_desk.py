"""Where a person's alert intents go: acknowledge an alert, silence an alert or a station, lift
a silence.

Whoever keeps the alerts applies them to its alert book and records them in the alert history:
:class:`LocalDesk`, used by an embedded console, by the service's API and by a worker applying
the commands it reads from the bus. A watching console shows alerts that workers elsewhere
keep, so its :class:`RelayedDesk` sends each intent to them as an :class:`AlertCommand`; the
alert changes when their transition comes back. (A console attached to a service has a third
kind, which asks the service over HTTP: :class:`mass_tui.attached.ServiceDesk`.)

Both desks here also ``obey`` the commands read from the commands topic: a worker applies what
names an alert or a station it keeps; a watching console follows the stations' silences in them
(so that silencing a station knows whether to silence it or lift its silence).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pipeline.alert_history import AlertHistory
from pipeline.alerts import LIFTED, Alert, AlertBook, AlertCommand, StationSilence
from pipeline.batch_processing import Analytics, tell_listeners
from pipeline.clock import Clock
from pipeline.locked_db import SideTableError

log = logging.getLogger(__name__)

Change = Literal["silence", "unsilence"]


class AlertDesk(Protocol):
    goes_to: str
    """Where the intents go to be applied ("the workers"); "" when they are applied here."""

    def acknowledge(self, alert_id: int, user: str) -> Alert | None:
        """The alert acknowledged, or None when there is none open and active to acknowledge;
        a relayed one as it was when the acknowledgement was sent."""
        ...

    def silence(
        self,
        user: str,
        *,
        alert_id: int | None = None,
        station_id: str | None = None,
        until: float | None = None,
    ) -> list[Alert]:
        """Silence an alert, or a station, until ``until`` (observed time; default: for the
        configured silence): no notifications meanwhile. Returns the open alerts silenced."""
        ...

    def unsilence(
        self, user: str, *, alert_id: int | None = None, station_id: str | None = None
    ) -> list[Alert]:
        """Lift the silence of an alert, or of a station and its alerts."""
        ...

    def station_silenced(self, station_id: str) -> bool:
        """Whether the station is silenced now (so a toggle knows whether to silence it or lift
        its silence)."""
        ...


@dataclass(slots=True)
class _BookDesk:
    """What both desks of a pipeline share: its alert book, its clock and the default length
    of a silence."""

    book: AlertBook
    clock: Clock
    silence_s: float

    def station_silenced(self, station_id: str) -> bool:
        silence = self.book.station_silence(station_id)
        return silence is not None and self.clock.now() < silence.until

    def _until(self, until: float | None) -> float:
        return self.clock.now() + self.silence_s if until is None else until

    def _change_at(self, at: float | None, alert_id: int | None, station_id: str | None) -> float:
        """When a change was asked: after the last change of what it names (see
        :meth:`AlertBook.next_change_at`), so that it orders after it everywhere."""
        if at is not None:
            return at
        return self.book.next_change_at(self.clock.now(), alert_id, station_id)


@dataclass(slots=True)
class LocalDesk(_BookDesk):
    """Intents applied to the alerts kept here, told to the alert listeners (notifications,
    the bus a worker publishes transitions on) and, for a station's silence, recorded in the
    alert history so that it holds after a restart."""

    analytics: Analytics
    history: AlertHistory | None = None
    goes_to: str = ""

    @classmethod
    def of(
        cls, analytics: Analytics, clock: Clock, silence_s: float, history: AlertHistory | None
    ) -> LocalDesk:
        return cls(analytics.alerts, clock, silence_s, analytics, history)

    def acknowledge(self, alert_id: int, user: str) -> Alert | None:
        with self.analytics.alert_lock:
            alert = self.book.acknowledge(alert_id, user, self.clock.now())
            if alert is not None:
                self._tell([alert])
        return alert

    def silence(
        self,
        user: str,
        *,
        alert_id: int | None = None,
        station_id: str | None = None,
        until: float | None = None,
        at: float | None = None,
    ) -> list[Alert]:
        """As :meth:`AlertDesk.silence`; ``at``: when it was asked (default now)."""
        return self._change("silence", user, alert_id, station_id, until=self._until(until), at=at)

    def unsilence(
        self,
        user: str,
        *,
        alert_id: int | None = None,
        station_id: str | None = None,
        at: float | None = None,
    ) -> list[Alert]:
        return self._change("unsilence", user, alert_id, station_id, until=LIFTED, at=at)

    def _change(
        self,
        action: Change,
        user: str,
        alert_id: int | None,
        station_id: str | None,
        *,
        until: float,
        at: float | None,
    ) -> list[Alert]:
        now = self.clock.now()
        book = self.book
        at = self._change_at(at, alert_id, station_id)
        with self.analytics.alert_lock:
            if action == "silence":
                changed = book.silence(
                    now=now, until=until, user=user, alert_id=alert_id, station_id=station_id, at=at
                )
            else:
                changed = book.unsilence(
                    now=now, user=user, alert_id=alert_id, station_id=station_id, at=at
                )
            in_force = book.station_silence(station_id) if station_id is not None else None
            if in_force is not None and self.history is not None:
                assert station_id is not None  # in_force is looked up for a station only
                try:
                    self.history.silence_station(station_id, in_force)
                except SideTableError as exc:
                    log.error("%s", exc)
            self._tell(changed)
        return changed

    def _tell(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            tell_listeners(self.analytics.alert_listeners, alert)

    def obey(self, command: AlertCommand) -> None:
        """Apply a command from a watching console (consumer thread) to the alert or station it
        names, if kept here. Commands are read again after a restart: a silence or its lifting
        applies only if asked after the last change (``at``), and an acknowledgement only to
        the severity its sender saw, so a repeat changes nothing."""
        log.info("command from a watching console: %s", command)
        if not command.rule:
            if command.action in ("silence", "unsilence"):
                self._obey_change(command, station_id=command.station_id)
            return
        alert = self.book.find(command.key, command.opened_at)
        if alert is None:
            return
        if command.action in ("silence", "unsilence"):
            self._obey_change(command, alert_id=alert.id)
        elif alert.severity == command.severity:
            self.acknowledge(alert.id, command.user)

    def _obey_change(
        self, command: AlertCommand, *, alert_id: int | None = None, station_id: str | None = None
    ) -> None:
        """A watching console's silence, or its lifting, of the alert or station named."""
        action: Change = "silence" if command.action == "silence" else "unsilence"
        until = command.until if action == "silence" else LIFTED
        self._change(action, command.user, alert_id, station_id, until=until, at=command.at)


@dataclass(slots=True)
class RelayedDesk(_BookDesk):
    """A watching console's: each intent is sent (``send``) to the workers that keep the alert,
    as a command naming it by key, opening time and the severity seen here (the workers number
    their alerts themselves). A station's silence is noted here at once, not only when read
    back from the commands topic."""

    send: Callable[[AlertCommand], None]
    goes_to: str = "the workers"

    def acknowledge(self, alert_id: int, user: str) -> Alert | None:
        return self._relay("acknowledge", user, alert_id, None, until=0.0, at=0.0)

    def silence(
        self,
        user: str,
        *,
        alert_id: int | None = None,
        station_id: str | None = None,
        until: float | None = None,
    ) -> list[Alert]:
        """As :meth:`AlertDesk.silence`: the open alert silenced, as it was when the command
        was sent."""
        at = self._change_at(None, alert_id, station_id)
        relayed = self._relay(
            "silence", user, alert_id, station_id, until=self._until(until), at=at
        )
        return [relayed] if relayed is not None else []

    def unsilence(
        self, user: str, *, alert_id: int | None = None, station_id: str | None = None
    ) -> list[Alert]:
        at = self._change_at(None, alert_id, station_id)
        relayed = self._relay("unsilence", user, alert_id, station_id, until=0.0, at=at)
        return [relayed] if relayed is not None else []

    def _relay(
        self,
        action: Literal["acknowledge", "silence", "unsilence"],
        user: str,
        alert_id: int | None,
        station_id: str | None,
        *,
        until: float,
        at: float,
    ) -> Alert | None:
        """Send the command; returns the alert it names (None for a station's, or when there
        is nothing to send)."""
        if station_id is not None:
            self.send(AlertCommand(action, user, station_id, until=until, at=at))
            if action != "acknowledge":  # known here now, not only once read back
                silence = StationSilence(until if action == "silence" else LIFTED, user, at)
                self.book.note_station_silence(station_id, silence)
            return None
        alert = next((a for a in self.book.alerts() if a.id == alert_id), None)
        if alert is None or not alert.is_open:
            return None
        if action == "acknowledge" and alert.state != "active":
            return None
        station_id, rule, variable = alert.key
        self.send(
            AlertCommand(
                action,
                user,
                station_id,
                rule=rule,
                variable=variable,
                opened_at=alert.opened_at,
                severity=alert.severity,
                until=until,
                at=at,
            )
        )
        return alert

    def obey(self, command: AlertCommand) -> None:
        """Follow the stations' silences in the commands read back, by the workers' rule (a
        change applies only if asked after the last); the alerts' changes come back as the
        workers' transitions."""
        log.info("command from a watching console: %s", command)
        if not command.rule and command.action != "acknowledge":
            until = command.until if command.action == "silence" else LIFTED
            self.book.note_station_silence(
                command.station_id, StationSilence(until, command.user, command.at)
            )
