"""The notification for an alert: a subject a phone screen can show whole, a body with the
values, the threshold and a short trend, and the JSON document webhooks receive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.alerts import Alert

RULE_WORDS = {
    "pressure_fall": "pressure fell",
    "gust": "gust",
    "rapid_change": "rapid change",
    "persistent_anomalies": "statistical anomalies in a row:",
}


@dataclass(frozen=True, slots=True)
class Notification:
    alert_key: str  # station|rule|variable: the cooldown and the outbox go by it
    severity: str
    subject: str
    body: str
    document: dict  # what a webhook receives


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compose(
    alert: Alert, station_name: str, unit: str, trend: Sequence[tuple[float, float]]
) -> Notification:
    """``trend``: recent (observed_at, value) readings of the alert's variable, oldest first."""
    what = RULE_WORDS.get(alert.rule, alert.rule)
    amount = alert.quantity if alert.quantity is not None else alert.value
    subject = (
        f"[M.A.S.S. {alert.severity.upper()}] {station_name} ({alert.station_id}): "
        f"{what} {amount:.1f} {unit}".rstrip()
    )
    lines = [
        f"{alert.severity.capitalize()} at {station_name} ({alert.station_id}) since "
        f"{iso(alert.opened_at)}: {what} on {alert.variable}.",
        "",
        f"  value now:   {alert.value:.1f} {unit}",
        f"  measured:    {amount:.1f} {unit} (threshold {alert.threshold:.1f} {unit})",
        f"  alert:       #{alert.id}, {alert.state}, updated {iso(alert.updated_at)}",
    ]
    if trend:
        lines += ["", "Recent readings:"]
        lines += [f"  {iso(t)}  {v:.1f} {unit}" for t, v in trend]
    lines += ["", "Acknowledge or silence it in the console (keys a and z)."]
    document = {
        "text": subject,
        "alert": {
            "id": alert.id,
            "station_id": alert.station_id,
            "station_name": station_name,
            "rule": alert.rule,
            "variable": alert.variable,
            "severity": alert.severity,
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
        severity=alert.severity,
        subject=subject,
        body="\n".join(lines) + "\n",
        document=document,
    )
