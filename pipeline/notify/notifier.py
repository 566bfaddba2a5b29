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
from pipeline.notify.message import compose
from pipeline.notify.outbox import Outbox, OutboxError

log = logging.getLogger(__name__)

Trend = Callable[[str, str], Sequence[tuple[float, float]]]


@dataclass(frozen=True, slots=True)
class NotifyRules:
    enabled: bool
    cooldown_s: float
    ttl_s: float  # how long undelivered notifications are retried


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
        for key, (at, _) in outbox.last_queued().items():
            station_id, rule = key.split("|")[:2]
            self._last[(station_id, rule)] = max(at, self._last.get((station_id, rule), at))

    def wants(self, alert: Alert, now: float) -> bool:
        if alert.last_transition not in ("opened", "escalated"):
            return False
        if alert.acknowledged_by is not None or alert.is_silenced(now):
            return False  # someone is on it (an escalation still shows in the console)
        last = self._last.get((alert.station_id, alert.rule))
        # A clock behind the last notification (a replay of older data) is outside the cooldown.
        return last is None or not 0 <= now - last < self.rules.cooldown_s

    def __call__(self, alert: Alert) -> None:
        now = self._clock()
        if not (self.rules.enabled and self.channels) or not self.wants(alert, now):
            if alert.last_transition in ("opened", "escalated"):
                self.held_back += 1
            return
        notification = compose(
            alert,
            self._station_name(alert.station_id),
            self._unit(alert.variable),
            self._trend(alert.station_id, alert.variable),
        )
        try:
            self.outbox.add(notification, self.channels, now, self._wall(), self.rules.ttl_s)
        except OutboxError as exc:
            log.error("cannot queue the notification for alert %d: %s", alert.id, exc)
            return
        self._last[(alert.station_id, alert.rule)] = now
        self.queued += 1
        self._wake()
