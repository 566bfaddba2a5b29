"""Notifications waiting to be delivered, one row per channel, kept in the store's SQLite file
(its own connection and table) until delivered or given up on, so a restart loses none.

A row ends delivered (``delivered_at``; ``last_error`` then holds the note of a delivery the
receiver did not confirm) or given up on (``expired_at``: past its time, refused for good, or
its channel no longer configured; ``last_error`` says which)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.locked_db import LockedDatabase, SideTableError
from pipeline.notify.message import Notification

SCHEMA = """CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    alert_key TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    document TEXT NOT NULL,
    alert_time REAL NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    expired_at REAL,
    last_error TEXT
)"""


OutboxError = SideTableError


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    channel: str
    attempts: int
    created_at: float
    notification: Notification

    @property
    def delivery_id(self) -> str:
        """The same at every attempt to deliver this row and no other row's (a new store
        numbers its rows from 1 again, hence the time it was queued): the e-mail's Message-ID
        and the webhook's Idempotency-Key, by which receivers drop a repeat."""
        event = self.notification.event_id or "notification"
        return f"{event}.{self.id}.{round(self.created_at * 1000)}"


class Outbox:
    def __init__(self, path: Path) -> None:
        self._db = LockedDatabase(
            path,
            [
                SCHEMA,
                "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (delivered_at, next_attempt_at)",
            ],
            "notification outbox",
        )
        self._run = self._db.run

    def add(
        self,
        notification: Notification,
        channels: list[str],
        alert_time: float,
        now: float,
        ttl_s: float,
    ) -> None:
        """Queue one row per channel. ``alert_time`` is the pipeline's clock (the cooldown's),
        ``now`` the wall clock (retries and expiry)."""
        n = notification
        for channel in channels:
            self._run(
                "queue a notification",
                "INSERT INTO outbox (channel, alert_key, severity, subject, body, document,"
                " alert_time, created_at, expires_at, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    channel,
                    n.alert_key,
                    n.severity,
                    n.subject,
                    n.body,
                    json.dumps(n.document),
                    alert_time,
                    now,
                    now + ttl_s,
                    now,
                ),
            )

    def due(self, now: float, channel: str, limit: int = 50) -> list[Pending]:
        rows = self._run(
            "read due notifications",
            "SELECT id, channel, attempts, created_at, alert_key, severity, subject, body,"
            " document FROM outbox WHERE delivered_at IS NULL AND expired_at IS NULL"
            " AND channel = ? AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (channel, now, limit),
        ).fetchall()
        return [
            Pending(r[0], r[1], r[2], r[3], Notification(r[4], r[5], r[6], r[7], json.loads(r[8])))
            for r in rows
        ]

    def delivered(self, row_id: int, now: float, note: str | None = None) -> None:
        """``note``: why the delivery is not confirmed, if it is not."""
        self._run(
            "mark a notification delivered",
            "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = ?"
            " WHERE id = ?",
            (now, note, row_id),
        )

    def failed(self, row_id: int, error: str, retry_at: float) -> None:
        self._run(
            "mark a failed delivery",
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
            " WHERE id = ?",
            (error, retry_at, row_id),
        )

    def refused(self, row_id: int, error: str, now: float) -> None:
        """The receiver refused it for good: give up now rather than retry until it expires."""
        self._run(
            "mark a refused notification",
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, expired_at = ?"
            " WHERE id = ?",
            (error, now, row_id),
        )

    def expire(self, now: float, channel: str) -> int:
        """Give up on notifications past their time (they stay, marked, for the record)."""
        return self._run(
            "expire notifications",
            "UPDATE outbox SET expired_at = ? WHERE delivered_at IS NULL AND expired_at IS NULL"
            " AND channel = ? AND expires_at <= ?",
            (now, channel, now),
        ).rowcount

    def retire_channels(self, keep: list[str], now: float) -> int:
        """Give up on what waits for a channel that is no longer configured (it stays, marked,
        for the record)."""
        marks = ", ".join("?" * len(keep))
        return self._run(
            "give up on unconfigured channels",
            "UPDATE outbox SET expired_at = ?, last_error = 'channel no longer configured'"
            f" WHERE delivered_at IS NULL AND expired_at IS NULL AND channel NOT IN ({marks})",
            (now, *keep),
        ).rowcount

    def waiting(self) -> int:
        (count,) = self._run(
            "count waiting notifications",
            "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND expired_at IS NULL",
        ).fetchone()
        return int(count)

    def last_queued(self) -> dict[str, tuple[float, str]]:
        """Per alert key, when it was last told of and at what severity (the cooldown survives
        a restart); a notification that it cleared is no telling of it."""
        rows = self._run(
            "read the last notifications",
            "SELECT alert_key, MAX(alert_time), severity FROM outbox"
            " WHERE severity != 'resolved' GROUP BY alert_key",
        ).fetchall()
        return {key: (at, severity) for key, at, severity in rows}

    def close(self) -> None:
        self._db.close()
