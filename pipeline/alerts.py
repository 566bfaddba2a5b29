"""Alerts: rule anomalies (pressure fall, gust, rapid change) that need a person's attention.

An alert opens when a rule fires for a station and variable, follows the condition (severity
can rise while it holds), and clears when the rule no longer holds. Acknowledging records who
and when; the alert stays listed until it clears. Notification (e-mail, webhook) builds on this.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace

from pipeline.anomaly import Anomaly

RULES = frozenset({"pressure_fall", "gust", "rapid_change"})
SEVERITY_RANK = {"advisory": 1, "warning": 2}

AlertKey = tuple[str, str, str]  # station_id, rule, variable


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

    @property
    def key(self) -> AlertKey:
        return (self.station_id, self.rule, self.variable)

    @property
    def is_open(self) -> bool:
        return self.state != "cleared"


class AlertBook:
    def __init__(self, keep_cleared: int = 50) -> None:
        self._open: dict[AlertKey, Alert] = {}
        self._cleared: list[Alert] = []
        self._keep_cleared = keep_cleared
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
                    self._next_id += 1
                    self._open[key] = alert
                elif SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(alert.severity, 0):
                    # Escalation needs attention again, even if the advisory was acknowledged.
                    alert.severity, alert.state = severity, "active"
                    alert.value, alert.quantity = anomaly.value, anomaly.quantity
                    alert.threshold, alert.updated_at = anomaly.threshold, anomaly.observed_at
                else:
                    continue
                changed.append(replace(alert))
        return changed

    def settle(self, holding: set[AlertKey], now: float) -> list[Alert]:
        """Clear open alerts whose rule no longer holds; returns the alerts cleared."""
        cleared = []
        with self._lock:
            for key in [k for k in self._open if k not in holding]:
                alert = self._open.pop(key)
                alert.state, alert.cleared_at = "cleared", now
                self._cleared.append(alert)
                cleared.append(replace(alert))
            del self._cleared[: -self._keep_cleared]
        return cleared

    def mirror(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Follow alerts kept by workers elsewhere (a watching console). They get local ids, as
        several workers number their alerts independently."""
        changed = []
        with self._lock:
            for upstream in alerts:
                key = upstream.key
                known = self._open.get(key)
                alert = replace(upstream, id=known.id if known else self._next_id)
                if known is None:
                    self._next_id += 1
                if alert.is_open:
                    self._open[key] = alert
                else:
                    self._open.pop(key, None)
                    self._cleared.append(alert)
                changed.append(replace(alert))
            del self._cleared[: -self._keep_cleared]
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
