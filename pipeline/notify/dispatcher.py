"""Deliver what the outbox holds, on a thread of its own: a slow SMTP server or a dead webhook
never holds up detection or the console. A failed delivery is retried with exponential
backoff (with jitter) until it is delivered or expires."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.notify.channels import Channel, DeliveryError
from pipeline.notify.outbox import Outbox, OutboxError

log = logging.getLogger(__name__)

FIRST_RETRY_S = 5.0
MAX_RETRY_S = 600.0


@dataclass(slots=True)
class ChannelHealth:
    delivered: int = 0
    failures: int = 0
    last_error: str = ""  # "" while the last attempt succeeded


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        channels: list[Channel],
        *,
        wall: Callable[[], float] = time.time,
        poll_s: float = 0.5,
    ) -> None:
        self.outbox = outbox
        self.channels = {c.name: c for c in channels}
        self.health = {c.name: ChannelHealth() for c in channels}
        self._wall = wall
        self._poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> bool:
        """Stop after the send in progress; False if it is still running (do not close the
        outbox under it)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30.0)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except OutboxError as exc:
                log.error("notifications: %s", exc)
            except Exception:  # the notifier must outlive anything; it tries again
                log.exception("notifications: unexpected failure")
            self._wake.wait(self._poll_s)
            self._wake.clear()

    def deliver_due(self) -> int:
        """One pass over what is due; returns how many were delivered."""
        now = self._wall()
        expired = self.outbox.expire(now)
        if expired:
            log.warning("notifications: %d expired undelivered", expired)
        delivered = 0
        for pending in self.outbox.due(now):
            if self._stop.is_set():  # do not start a send the shutdown would cut short
                break
            channel = self.channels.get(pending.channel)
            if channel is None:  # configured once, not any more: keep it for the record
                self.outbox.failed(pending.id, "channel no longer configured", now + MAX_RETRY_S)
                continue
            health = self.health[pending.channel]
            try:
                channel.send(pending.notification)
            except Exception as exc:  # DeliveryError, or a surprise: either way, retry later
                if not isinstance(exc, DeliveryError):
                    log.exception("notification via %s failed unexpectedly", pending.channel)
                    exc = DeliveryError(f"{type(exc).__name__}: {exc}")
                backoff = min(MAX_RETRY_S, FIRST_RETRY_S * 2**pending.attempts)
                retry_at = self._wall() + backoff * random.uniform(0.8, 1.2)
                self.outbox.failed(pending.id, str(exc), retry_at)
                health.failures += 1
                if health.last_error != str(exc):
                    log.error("notification via %s failed (retrying): %s", pending.channel, exc)
                health.last_error = str(exc)
                continue
            self.outbox.delivered(pending.id, self._wall())
            health.delivered += 1
            health.last_error = ""
            delivered += 1
            log.info("notified via %s: %s", pending.channel, pending.notification.subject)
        return delivered

    def problems(self) -> list[str]:
        return [f"{name}: {h.last_error}" for name, h in self.health.items() if h.last_error]
