"""Every alert transition in the store's file: opened, escalated, acknowledged and silenced
(with who), cleared. The console's alert panel shows the live book; this is the record."""

from __future__ import annotations

from pathlib import Path

from pipeline.alerts import Alert
from pipeline.locked_db import LockedDatabase

SCHEMA = """CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL,
    station_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    variable TEXT NOT NULL,
    transition TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    value REAL,
    quantity REAL,
    threshold REAL,
    by_user TEXT,
    silenced_until REAL
)"""


class AlertHistory:
    """An alert listener; also called for acknowledgements and silences (UI thread)."""

    def __init__(self, path: Path) -> None:
        self._db = LockedDatabase(path, [SCHEMA], "alert history")

    def __call__(self, alert: Alert) -> None:
        by = {"acknowledged": alert.acknowledged_by, "silenced": alert.silenced_by}
        at = {
            "acknowledged": alert.acknowledged_at,
            "cleared": alert.cleared_at,
            "opened": alert.opened_at,
            "silenced": alert.silenced_at,
        }.get(alert.last_transition, alert.updated_at)
        self._db.run(
            "record an alert transition",
            "INSERT INTO alert_events (alert_id, station_id, rule, variable, transition,"
            " severity, state, at, value, quantity, threshold, by_user, silenced_until)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                alert.id,
                alert.station_id,
                alert.rule,
                alert.variable,
                alert.last_transition,
                alert.severity,
                alert.state,
                at,
                alert.value,
                alert.quantity,
                alert.threshold,
                by.get(alert.last_transition),
                alert.silenced_until,
            ),
        )

    def last_alert_id(self) -> int:
        """The highest alert id recorded, so ids go on rising across restarts."""
        (last,) = self._db.run(
            "read the last alert id", "SELECT MAX(alert_id) FROM alert_events"
        ).fetchone()
        return int(last or 0)

    def events(self, limit: int = 500) -> list[tuple]:
        """(alert_id, transition, severity, at, by_user), newest first."""
        return self._db.run(
            "read the alert history",
            "SELECT alert_id, transition, severity, at, by_user FROM alert_events"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()

    def close(self) -> None:
        self._db.close()
