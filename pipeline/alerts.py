"""Alerts: rule anomalies (pressure fall, gust, rapid change) that need a person's attention.

An alert opens when a rule fires for a station and variable, follows the condition (severity
can rise while it holds), and clears when the rule no longer holds. Acknowledging records who
and when; the alert stays listed until it clears. Notification (e-mail, webhook) builds on this.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from pipeline.anomaly import Anomaly
from pipeline.detector_axis import RULE_NAMES
from pipeline.maintenance import MAINTENANCE_RULES

NO_DATA = "no_data"
# The detectors' rules (the catalogue's), and the rule-like anomalies raised after detection.
RULES = frozenset({*RULE_NAMES, "persistent_anomalies", NO_DATA, *MAINTENANCE_RULES})
SEVERITY_RANK = {"advisory": 1, "warning": 2}
CHANGE_STEP_S = 0.001
LIFTED = 0.0  # a lifted station silence "ends" at the epoch: nothing observed falls before it

AlertKey = tuple[str, str, str]  # station_id, rule, variable


@dataclass(frozen=True, slots=True)
class StationSilence:
    """A station's silence: it holds until ``until``; ``at`` is when it was last changed
    (set or lifted), so a change issued earlier, read again, does not undo a later one."""

    until: float
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class AlertCommand:
    """What a person asked of alerts kept elsewhere (by workers, from a watching console).

    With ``rule`` and ``variable`` it names one alert, by key and ``opened_at`` (consoles and
    workers number alerts apart) and, to acknowledge, the ``severity`` the person saw: an
    escalation since needs its own acknowledgement. Without them it silences a station, or
    lifts its silence."""

    action: Literal["acknowledge", "silence", "unsilence"]
    user: str
    station_id: str
    rule: str = ""
    variable: str = ""
    opened_at: float = 0.0
    severity: str = ""
    until: float = 0.0  # silence: observed time it ends
    at: float = 0.0  # when it was asked (the sender's observed time): the newest change wins

    @property
    def key(self) -> AlertKey:
        return (self.station_id, self.rule, self.variable)


@dataclass(slots=True)
class Alert:
    id: int
    station_id: str
    rule: str
    variable: str
    severity: str
    state: str  # active | acknowledged | cleared
    opened_at: float
    updated_at: float
    value: float
    quantity: float | None
    threshold: float
    cleared_at: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    silenced_until: float | None = None
    silenced_by: str | None = None
    silenced_at: float | None = None  # when its silence was last set or lifted
    last_transition: str = "opened"  # opened | escalated | acknowledged | (un)silenced | cleared

    @property
    def key(self) -> AlertKey:
        return (self.station_id, self.rule, self.variable)

    @property
    def is_open(self) -> bool:
        return self.state != "cleared"

    def is_silenced(self, now: float) -> bool:
        return self.silenced_until is not None and now < self.silenced_until


class AlertBook:
    def __init__(self, keep_cleared: int = 50, clear_after_s: float = 0.0) -> None:
        """``clear_after_s``: hysteresis. An alert clears only once its rule has not held for
        this long (observed time), so a value wavering around the threshold is one alert, not
        a string of them."""
        self.clear_after_s = clear_after_s
        self._quiet_since: dict[AlertKey, float] = {}
        self._station_silence: dict[str, StationSilence] = {}
        self._open: dict[AlertKey, Alert] = {}
        self._cleared: list[Alert] = []
        self.keep_cleared = keep_cleared
        self._next_id = 1
        self._lock = threading.Lock()

    def observe(self, anomalies: Iterable[Anomaly]) -> list[Alert]:
        """Open or escalate alerts for rule anomalies; returns the alerts that changed."""
        changed = []
        with self._lock:
            for anomaly in anomalies:
                if anomaly.detector not in RULES:
                    continue
                key = (anomaly.station_id, anomaly.detector, anomaly.variable)
                severity = anomaly.severity or "advisory"
                alert = self._open.get(key)
                if alert is None:
                    alert = Alert(
                        id=self._next_id,
                        station_id=anomaly.station_id,
                        rule=anomaly.detector,
                        variable=anomaly.variable,
                        severity=severity,
                        state="active",
                        opened_at=anomaly.observed_at,
                        updated_at=anomaly.observed_at,
                        value=anomaly.value,
                        quantity=anomaly.quantity,
                        threshold=anomaly.threshold,
                    )
                    silence = self._station_silence.get(anomaly.station_id)
                    if silence is not None and anomaly.observed_at < silence.until:
                        alert.silenced_until, alert.silenced_by = silence.until, silence.by
                    self._next_id += 1
                    self._open[key] = alert
                elif SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(alert.severity, 0):
                    # Escalation needs attention again, even if the advisory was acknowledged.
                    alert.severity, alert.state = severity, "active"
                    alert.value, alert.quantity = anomaly.value, anomaly.quantity
                    alert.threshold, alert.updated_at = anomaly.threshold, anomaly.observed_at
                    alert.last_transition = "escalated"
                else:
                    alert.value, alert.updated_at = anomaly.value, anomaly.observed_at
                    continue
                changed.append(replace(alert))
        return changed

    def settle(self, holding: set[AlertKey], now: float) -> list[Alert]:
        """Clear open alerts whose rule no longer holds; returns the alerts cleared."""
        cleared = []
        with self._lock:
            for key in list(self._open):
                if key in holding:
                    self._quiet_since.pop(key, None)
                    continue
                quiet_since = self._quiet_since.setdefault(key, now)
                if now - quiet_since < self.clear_after_s:
                    continue
                del self._quiet_since[key]
                alert = self._open.pop(key)
                alert.state, alert.cleared_at, alert.last_transition = "cleared", now, "cleared"
                self._cleared.append(alert)
                cleared.append(replace(alert))
            del self._cleared[: -self.keep_cleared]
        return cleared

    def next_clear_due(self) -> float | None:
        """The earliest instant an open alert found quiet would clear, if it stays quiet."""
        with self._lock:
            quiet = [since for key, since in self._quiet_since.items() if key in self._open]
        return min(quiet) + self.clear_after_s if quiet else None

    def reinstate(
        self, alerts: Iterable[Alert], station_silences: dict[str, StationSilence]
    ) -> None:
        """Take back what an earlier run recorded (before any observation): its open alerts,
        which clear with the usual hysteresis once their rule is found not to hold, its
        recently cleared ones, and its station silences."""
        with self._lock:
            for alert in alerts:
                if alert.is_open:
                    self._open[alert.key] = replace(alert)
                else:
                    self._cleared.append(replace(alert))
                self._next_id = max(self._next_id, alert.id + 1)
            self._cleared.sort(key=lambda a: a.cleared_at or 0.0)
            del self._cleared[: -self.keep_cleared]
            self._station_silence.update(station_silences)

    def continue_ids_after(self, last_id: int) -> None:
        """Number new alerts after ``last_id`` (recorded by an earlier run)."""
        with self._lock:
            self._next_id = max(self._next_id, last_id + 1)

    def find(self, key: AlertKey, opened_at: float) -> Alert | None:
        """The open alert of ``key`` opened at ``opened_at`` (not a later one of that key)."""
        with self._lock:
            alert = self._open.get(key)
            return replace(alert) if alert is not None and alert.opened_at == opened_at else None

    def silence(
        self,
        *,
        now: float,
        until: float,
        user: str,
        alert_id: int | None = None,
        station_id: str | None = None,
        at: float | None = None,
    ) -> list[Alert]:
        """Silence one alert, or every alert of a station (including those it raises before
        ``until``); returns the open alerts silenced. The newest change wins: a station's
        silence replaces its alerts' own. ``at`` (default ``now``) is when it was asked: a
        silence that has ended, or was asked before the last change to its alert or
        station, changes nothing (a command read again after a restart)."""
        at = now if at is None else at
        with self._lock:
            if until <= now or not self._station_changes(
                station_id, StationSilence(until, user, at)
            ):
                return []
            changed = []
            for alert in self._silence_targets(alert_id, station_id, at):
                alert.silenced_until, alert.silenced_by, alert.silenced_at = until, user, at
                alert.last_transition = "silenced"
                changed.append(replace(alert))
            return changed

    def unsilence(
        self,
        *,
        now: float,
        user: str,
        alert_id: int | None = None,
        station_id: str | None = None,
        at: float | None = None,
    ) -> list[Alert]:
        """Lift the silence of one alert, or of a station and all its alerts; returns the
        open alerts whose silence was lifted. ``at`` as for :meth:`silence`."""
        at = now if at is None else at
        with self._lock:
            if not self._station_changes(station_id, StationSilence(LIFTED, user, at)):
                return []
            changed = []
            for alert in self._silence_targets(alert_id, station_id, at):
                if not alert.is_silenced(now):
                    continue  # nothing to lift
                alert.silenced_until, alert.silenced_by, alert.silenced_at = None, user, at
                alert.last_transition = "unsilenced"
                changed.append(replace(alert))
            return changed

    def note_station_silence(self, station_id: str, silence: StationSilence) -> None:
        """A watching console follows the stations' silences (the workers keep the alerts'),
        by the same rule, so that ``Z`` knows whether to silence or lift."""
        with self._lock:
            self._station_changes(station_id, silence)

    def next_change_at(self, now: float, alert_id: int | None, station_id: str | None) -> float:
        """When a person's silence change asked now is stamped: ``now``, or just after the last
        change to that alert or station if the observed clock has not moved since (a paused
        replay), so that pressing the key again is never taken for an old command."""
        latest = now
        with self._lock:
            current = self._station_silence.get(station_id) if station_id is not None else None
            if current is not None:
                latest = max(latest, current.at + CHANGE_STEP_S)
            for alert in self._open.values():
                if alert.silenced_at is not None and (
                    alert.id == alert_id or alert.station_id == station_id
                ):
                    latest = max(latest, alert.silenced_at + CHANGE_STEP_S)
        return latest

    def _station_changes(self, station_id: str | None, silence: StationSilence) -> bool:
        """Record a station's new silence unless a later change is recorded (lock held)."""
        if station_id is None:
            return True
        current = self._station_silence.get(station_id)
        if current is not None and silence.at <= current.at:
            return False
        self._station_silence[station_id] = silence
        return True

    def _silence_targets(
        self, alert_id: int | None, station_id: str | None, at: float
    ) -> list[Alert]:
        """The open alert, or the station's, whose silence was last changed before ``at``."""
        return [
            alert
            for alert in self._open.values()
            if (alert.id == alert_id or alert.station_id == station_id)
            and (alert.silenced_at is None or alert.silenced_at < at)
        ]

    def station_silence(self, station_id: str) -> StationSilence | None:
        """The station's silence as last set or lifted, if ever."""
        with self._lock:
            return self._station_silence.get(station_id)

    def mirror(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Follow alerts kept by workers elsewhere (a watching console). They get local ids, as
        several workers number their alerts independently. An alert is told apart from a
        later one of its key by its opening time: a worker that lost the station in a
        rebalance may clear its old alert while the new owner's is open."""
        changed = []
        with self._lock:
            for upstream in alerts:
                key = upstream.key
                known = self._open.get(key)
                same = known is not None and known.opened_at == upstream.opened_at
                if known is not None and same:
                    alert = replace(upstream, id=known.id)
                else:
                    alert = replace(upstream, id=self._next_id)
                    self._next_id += 1
                if alert.is_open:
                    self._open[key] = alert
                else:
                    if same:
                        del self._open[key]
                    self._cleared.append(alert)
                changed.append(replace(alert))
            del self._cleared[: -self.keep_cleared]
        return changed

    def acknowledge(self, alert_id: int, user: str, now: float) -> Alert | None:
        with self._lock:
            for alert in self._open.values():
                if alert.id == alert_id and alert.state == "active":
                    alert.state, alert.acknowledged_by, alert.acknowledged_at = (
                        "acknowledged",
                        user,
                        now,
                    )
                    alert.last_transition = "acknowledged"
                    return replace(alert)
        return None

    def alerts(self) -> list[Alert]:
        """Open alerts (most severe and newest first), then recently cleared ones, newest first."""
        with self._lock:
            open_alerts = sorted(
                (replace(a) for a in self._open.values()),
                key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), -a.updated_at),
            )
            cleared = [replace(a) for a in reversed(self._cleared)]
        return open_alerts + cleared
