"""Decide which alert changes reach people, and queue them in the outbox.

An alert is notified when it opens or escalates, unless notifications are off
(``ALERTS_ENABLED=false``: alerts still show), it is acknowledged or silenced, or the same
station had a notification for the same rule within the cooldown (``ALERT_COOLDOWN_MIN``). The
cooldown goes by station and rule, not variable: a front lowers station and sea-level pressure
together, and that is one message, not two; an escalation inside the cooldown shows in the
console (and rings its bell) but is not sent again. The cooldown is read back from the outbox
at start, so a restart does not re-notify. Times are the pipeline's (observed) clock, like the
alerts themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.alerts import Alert
from pipeline.notify.message import REMINDER, RESOLVED, TOLD, compose
from pipeline.notify.outbox import Outbox, OutboxError

log = logging.getLogger(__name__)

Trend = Callable[[str, str], Sequence[tuple[float, float]]]


@dataclass(frozen=True, slots=True)
class NotifyRules:
    enabled: bool
    cooldown_s: float
    ttl_s: float  # how long undelivered notifications are retried
    resolved: bool = False  # tell when an alert that was told of clears
    remind_s: float = 0.0  # re-tell an active, unacknowledged warning this often; 0: never


class AlertNotifier:
    """An alert listener (consumer thread): cheap, it only writes outbox rows."""

    def __init__(
        self,
        rules: NotifyRules,
        outbox: Outbox,
        channels: list[str],
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
        station_name: Callable[[str], str],
        unit: Callable[[str], str],
        trend: Trend,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.rules = rules
        self.outbox = outbox
        self.channels = channels
        self._clock, self._wall = clock, wall
        self._station_name, self._unit, self._trend = station_name, unit, trend
        self._wake = wake
        self.queued = 0
        self.held_back = 0
        self._last: dict[tuple[str, str], float] = {}
        # When each alert key was last told of (opened, escalated, reminded): read back from
        # the outbox, so a restart neither forgets to tell a clearing nor re-reminds at once.
        self._told: dict[str, float] = {}
        for key, (at, _) in outbox.last_queued().items():
            station_id, rule = key.split("|")[:2]
            self._last[(station_id, rule)] = max(at, self._last.get((station_id, rule), at))
            self._told[key] = at

    def wants(self, alert: Alert, now: float) -> bool:
        if alert.last_transition not in ("opened", "escalated"):
            return False
        if alert.acknowledged_by is not None or alert.is_silenced(now):
            return False  # someone is on it (an escalation still shows in the console)
        last = self._last.get((alert.station_id, alert.rule))
        # A clock behind the last notification (a replay of older data) is outside the cooldown.
        return last is None or not 0 <= now - last < self.rules.cooldown_s

    def _told_of(self, alert: Alert) -> float | None:
        """When this alert (not an earlier one of its key) was last told of, if ever."""
        at = self._told.get("|".join(alert.key))
        return at if at is not None and at >= alert.opened_at else None

    def __call__(self, alert: Alert) -> None:
        now = self._clock()
        if not (self.rules.enabled and self.channels):
            self.held_back += alert.last_transition in ("opened", "escalated")
            return
        if alert.last_transition == "cleared":
            if self.rules.resolved and self._told_of(alert) is not None:
                self._queue(alert, now, RESOLVED)
            self._told.pop("|".join(alert.key), None)
            return
        if not self.wants(alert, now):
            self.held_back += alert.last_transition in ("opened", "escalated")
            return
        if self._queue(alert, now, TOLD):
            self._last[(alert.station_id, alert.rule)] = now

    @property
    def reminds(self) -> bool:
        """Whether reminders can go out at all (the caller then need not gather alerts)."""
        return bool(self.rules.remind_s and self.rules.enabled and self.channels)

    def remind(self, alerts: Sequence[Alert]) -> int:
        """Tell again of each active warning nobody acknowledged or silenced, every
        ``remind_s`` since it was last told of (the consumer thread calls this now and then);
        returns how many were queued."""
        if not self.reminds:
            return 0
        now, reminded = self._clock(), 0
        for alert in alerts:
            told = self._told_of(alert)
            if (
                alert.state == "active"
                and alert.severity == "warning"
                and not alert.is_silenced(now)
                and told is not None
                and now - told >= self.rules.remind_s
            ):
                reminded += self._queue(alert, now, REMINDER)
        return reminded

    def _queue(self, alert: Alert, now: float, occasion: str) -> bool:
        notification = compose(
            alert,
            self._station_name(alert.station_id),
            self._unit(alert.variable),
            self._trend(alert.station_id, alert.variable),
            occasion=occasion,
            at=now,
        )
        try:
            self.outbox.add(notification, self.channels, now, self._wall(), self.rules.ttl_s)
        except OutboxError as exc:
            log.error("cannot queue the notification for alert %d: %s", alert.id, exc)
            return False
        if occasion != RESOLVED:
            self._told["|".join(alert.key)] = now
        self.queued += 1
        self._wake()
        return True
