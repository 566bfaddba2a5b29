"""The notification for an alert: a subject a phone screen can show whole, a body with the
values, the threshold and a short trend, and the JSON document webhooks receive.

Station names and ids, rules and variables come from outside (configuration, an API, a CSV, a
Kafka topic): each is passed through :func:`pipeline.text.printable` before it is written into
a subject, a body or a document, so a CR/LF cannot add a mail header and an ESC cannot start a
terminal sequence in whoever reads it; a control character shows as its escape (``\\x1b``,
a CR as ``\\x0d``). The e-mail channel applies the same rule where a notification meets SMTP,
for notifications composed elsewhere or queued before this rule.

Every notification carries the id of the alert event it tells of (``event_id``: the alert's
key, opening time, transition, severity and time of the transition, hashed into a UUID). It is
the same however often the notification is composed again, and is what receivers can tell
repeats by.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.alerts import Alert
from pipeline.text import printable
from pipeline.times import iso_utc

RULE_WORDS = {
    "pressure_fall": "pressure fell",
    "gust": "gust",
    "rapid_change": "rapid change",
    "persistent_anomalies": "statistical anomalies in a row:",
    "no_data": "no data: silent for",
    "frozen_sensor": "sensor frozen (maintenance), repeated",
    "sensor_step": "sensor step (maintenance) of",
    "repeated_spikes": "sensor spiking (maintenance), spikes:",
    "implausible_readings": "readings impossible at this station (maintenance):",
    "inconsistent_readings": "readings inconsistent with each other (maintenance):",
}
COUNT_UNITS = {
    "no_data": "s",
    "frozen_sensor": "readings",
    "repeated_spikes": "",
    "implausible_readings": "",
    "inconsistent_readings": "",
}
"""Rules whose quantity is not in the variable's unit, and the unit it is in."""

TOLD = "told"  # an alert opened or escalated
RESOLVED = "resolved"  # a told alert cleared
REMINDER = "reminder"  # an active warning still unacknowledged

EVENT_NAMESPACE = uuid.UUID("21b4f6f6-2a3e-4069-918e-f6d1e0d5840b")
"""The UUIDv5 namespace of alert event ids (RFC 9562 section 5.5): fixed, so ids are stable."""


@dataclass(frozen=True, slots=True)
class Notification:
    alert_key: str  # station|rule|variable: the cooldown and the outbox go by it
    severity: str
    subject: str
    body: str
    document: dict  # what a webhook receives

    @property
    def event_id(self) -> str:
        """The alert event told of; "" for a test notification (or one queued before ids)."""
        return str(self.document.get("event_id", ""))


def iso(seconds: float) -> str:
    """To the second (``2026-01-01T05:29:00Z``): a message reads better without fractions."""
    return iso_utc(seconds, "seconds")


def body_text(text: str) -> str:
    """``text`` with its line breaks kept and every other control character escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))


def event_id(alert: Alert, reminded_at: float | None = None) -> str:
    """The same alert event always gets the same id; another transition, another id (and each
    reminder its own: it is another message about the same transition)."""
    when: tuple[str, ...] = (
        repr(alert.opened_at),
        alert.last_transition,
        alert.severity,
        repr(alert.updated_at),
    )
    if reminded_at is not None:
        when += (f"reminder {reminded_at!r}",)
    return str(uuid.uuid5(EVENT_NAMESPACE, "|".join((*alert.key, *when))))


def compose(
    alert: Alert,
    station_name: str,
    unit: str,
    trend: Sequence[tuple[float, float]],
    *,
    occasion: str = TOLD,
    at: float | None = None,
) -> Notification:
    """``trend``: recent (observed_at, value) readings of the alert's variable, oldest first.
    ``occasion``: :data:`TOLD`, :data:`RESOLVED` or :data:`REMINDER` (``at``: when, observed
    time)."""
    station_name, station_id = printable(station_name), printable(alert.station_id)
    rule, variable, unit = printable(alert.rule), printable(alert.variable), printable(unit)
    severity = printable(alert.severity)
    unit = COUNT_UNITS.get(alert.rule, unit)  # no_data: seconds silent; the rest counts
    what = RULE_WORDS.get(alert.rule, rule)
    amount = alert.quantity if alert.quantity is not None else alert.value
    tag = {
        TOLD: severity.upper(),
        RESOLVED: f"RESOLVED {severity}",
        REMINDER: f"{severity.upper()}, REMINDER",
    }[occasion]
    subject = f"[M.A.S.S. {tag}] {station_name} ({station_id}): {what} {amount:.1f} {unit}".rstrip()
    lines = [
        f"{severity.capitalize()} at {station_name} ({station_id}) since "
        f"{iso(alert.opened_at)}: {what} on {variable}.",
    ]
    if occasion == RESOLVED:
        lines.append(f"Resolved: it cleared at {iso(alert.cleared_at or alert.updated_at)}.")
    elif occasion == REMINDER and at is not None:
        lines.append(
            f"Reminder: still active and not acknowledged after "
            f"{(at - alert.opened_at) / 60:.0f} min."
        )
    lines += [
        "",
        f"  value now:   {alert.value:.1f} {unit}",
        f"  measured:    {amount:.1f} {unit} (threshold {alert.threshold:.1f} {unit})",
        f"  alert:       #{alert.id}, {alert.state}, updated {iso(alert.updated_at)}",
    ]
    if trend:
        lines += ["", "Recent readings:"]
        lines += [f"  {iso(t)}  {v:.1f} {unit}" for t, v in trend]
    if occasion != RESOLVED:
        lines += ["", "Acknowledge or silence it in the console (keys a and z)."]
    document = {
        "text": subject,
        "occasion": occasion,
        "event_id": event_id(alert, at if occasion == REMINDER else None),
        "alert": {
            "id": alert.id,
            "station_id": station_id,
            "station_name": station_name,
            "rule": rule,
            "variable": variable,
            "severity": severity,
            "state": alert.state,
            "value": alert.value,
            "quantity": alert.quantity,
            "threshold": alert.threshold,
            "unit": unit,
            "opened_at": iso(alert.opened_at),
            "updated_at": iso(alert.updated_at),
        },
        "trend": [{"observed_at": iso(t), "value": v} for t, v in trend],
    }
    return Notification(
        alert_key="|".join(alert.key),
        severity=RESOLVED if occasion == RESOLVED else alert.severity,
        subject=subject,
        body="\n".join(lines) + "\n",
        document=document,
    )
