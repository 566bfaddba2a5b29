"""Every alert transition in the store's file: opened, escalated, acknowledged, silenced and
unsilenced (with who), cleared; and each station's silence as last set or lifted. The
console's alert panel shows the live book; this is the record, and what a restart rebuilds
the book from (:meth:`AlertHistory.recent`): an operator who restarts mid-storm finds the
alert still open and still acknowledged, and the station still silenced."""

from __future__ import annotations

from pathlib import Path

from pipeline.alerts import SEVERITY_RANK, Alert, StationSilence
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
INDEX = "CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events (alert_id)"
SILENCES = """CREATE TABLE IF NOT EXISTS station_silences (
    station_id TEXT PRIMARY KEY,
    until REAL NOT NULL,
    by_user TEXT NOT NULL,
    at REAL NOT NULL
)"""
COLUMNS = (
    "alert_id, station_id, rule, variable, transition, severity, state, at, value, quantity,"
    " threshold, by_user, silenced_until"
)


class AlertHistory:
    """An alert listener; also called for acknowledgements and silences (UI thread)."""

    def __init__(self, path: Path) -> None:
        self._db = LockedDatabase(path, [SCHEMA, INDEX, SILENCES], "alert history")

    def __call__(self, alert: Alert) -> None:
        by = {
            "acknowledged": alert.acknowledged_by,
            "opened": alert.silenced_by,  # opened under a station silence
            "silenced": alert.silenced_by,
            "unsilenced": alert.silenced_by,
        }
        at = {
            "acknowledged": alert.acknowledged_at,
            "cleared": alert.cleared_at,
            "opened": alert.opened_at,
            "silenced": alert.silenced_at,
            "unsilenced": alert.silenced_at,
        }.get(alert.last_transition, alert.updated_at)
        self._db.run(
            "record an alert transition",
            f"INSERT INTO alert_events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def silence_station(self, station_id: str, silence: StationSilence) -> None:
        """Record a station's silence as set or lifted, unless a later change is recorded."""
        self._db.run(
            "record a station silence",
            "INSERT INTO station_silences VALUES (?, ?, ?, ?) ON CONFLICT (station_id) DO"
            " UPDATE SET until = excluded.until, by_user = excluded.by_user, at = excluded.at"
            " WHERE excluded.at > station_silences.at",
            (station_id, silence.until, silence.by, silence.at),
        )

    def station_silences(self) -> dict[str, StationSilence]:
        """Each station's silence as last set or lifted."""
        rows = self._db.run(
            "read the station silences",
            "SELECT station_id, until, by_user, at FROM station_silences",
        ).fetchall()
        return {station_id: StationSilence(until, by, at) for station_id, until, by, at in rows}

    def recent(self, keep_cleared: int, since: float) -> list[Alert]:
        """The alerts open when the last run ended, and the ``keep_cleared`` last cleared,
        rebuilt from their transitions. An open alert with nothing recorded since ``since``
        is left out (a run that ended long ago, or one from before clearings were recorded),
        and so is an open alert with a newer one of the same key."""
        rows = self._db.run(
            "read the open and recently cleared alerts",
            f"SELECT {COLUMNS} FROM alert_events WHERE alert_id IN ("
            " SELECT alert_id FROM alert_events GROUP BY alert_id"
            "  HAVING SUM(transition = 'cleared') = 0 AND MAX(at) >= ?"
            " UNION SELECT alert_id FROM (SELECT alert_id FROM alert_events"
            "  WHERE transition = 'cleared' ORDER BY id DESC LIMIT ?)"
            ") ORDER BY id",
            (since, keep_cleared),
        ).fetchall()
        alerts: dict[int, Alert] = {}
        for row in rows:
            alerts[row[0]] = replay(alerts.get(row[0]), row)
        newest_open = {a.key: a.id for a in sorted(alerts.values(), key=lambda a: a.id)}
        return sorted(
            (a for a in alerts.values() if not a.is_open or newest_open[a.key] == a.id),
            key=lambda a: a.id,
        )

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


def replay(alert: Alert | None, row: tuple) -> Alert:
    """The alert after one recorded transition (``row`` in :data:`COLUMNS` order)."""
    (alert_id, station_id, rule, variable, transition, severity, state, at, value, quantity,
     threshold, by_user, silenced_until) = row  # fmt: skip
    if alert is None:  # its first recorded transition: opened
        alert = Alert(
            id=alert_id,
            station_id=station_id,
            rule=rule,
            variable=variable,
            severity=severity,
            state=state,
            opened_at=at,
            updated_at=at,
            value=value,
            quantity=quantity,
            threshold=threshold,
        )
    rank = SEVERITY_RANK.get(severity, 0) - SEVERITY_RANK.get(alert.severity, 0)
    if not alert.is_open or (transition == "acknowledged" and rank < 0):
        return alert  # cleared is final; an escalation is not acknowledged by an earlier ack
    alert.state, alert.severity, alert.last_transition = state, severity, transition
    alert.value, alert.quantity, alert.threshold = value, quantity, threshold
    if transition == "acknowledged":
        alert.acknowledged_by, alert.acknowledged_at = by_user, at
    elif transition == "cleared":
        alert.cleared_at = at
    elif transition == "escalated":
        alert.updated_at = at
    if transition == "silenced":
        alert.silenced_until, alert.silenced_by, alert.silenced_at = silenced_until, by_user, at
    elif transition == "unsilenced":
        alert.silenced_until, alert.silenced_by, alert.silenced_at = None, by_user, at
    elif transition == "opened" and silenced_until is not None:  # under a station silence
        alert.silenced_until, alert.silenced_by = silenced_until, by_user
    return alert
