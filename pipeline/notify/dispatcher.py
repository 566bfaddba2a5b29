"""Deliver what the outbox holds, one thread per channel: a slow SMTP relay or a dead webhook
never holds up detection, the console, or the other channel. A failed delivery is retried with
exponential backoff (with jitter), or after the receiver's Retry-After, until it is delivered
or expires; one the receiver refuses for good is given up at once. A delivery the receiver
took but did not confirm is recorded as delivered, with a note, and not sent again."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.notify.channels import Channel, DeliveryError
from pipeline.notify.outbox import Outbox, OutboxError, Pending
from pipeline.sources.http_client import retry_after_s

log = logging.getLogger(__name__)

FIRST_RETRY_S = 5.0
MAX_RETRY_S = 600.0
STOP_WAIT_S = 30.0


@dataclass(slots=True)
class ChannelHealth:
    delivered: int = 0
    unconfirmed: int = 0  # of the delivered, those the receiver did not confirm
    failures: int = 0
    refused: int = 0  # given up at once: the receiver refused them for good
    last_error: str = ""  # "" while the last attempt was confirmed


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
        self._wake = {c.name: threading.Event() for c in channels}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._retire_unconfigured()
        for name in self.channels:
            thread = threading.Thread(
                target=self._run, args=(name,), name=f"notify-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        for event in self._wake.values():
            event.set()

    def stop(self) -> bool:
        """Stop after the sends in progress; False if one is still running (do not close the
        outbox under it)."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + STOP_WAIT_S
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _run(self, channel: str) -> None:
        wake = self._wake[channel]
        while not self._stop.is_set():
            try:
                self.deliver_channel(channel)
            except OutboxError as exc:
                log.error("notifications via %s: %s", channel, exc)
            except Exception:  # the notifier must outlive anything; it tries again
                log.exception("notifications via %s: unexpected failure", channel)
            wake.wait(self._poll_s)
            wake.clear()

    def deliver_due(self) -> int:
        """One pass over every channel in turn, what the threads do side by side (tests call
        it, on a fixed wall clock); returns how many were delivered."""
        self._retire_unconfigured()
        return sum(self.deliver_channel(name) for name in self.channels)

    def deliver_channel(self, channel: str) -> int:
        """One pass over what is due for ``channel``; returns how many were delivered."""
        now = self._wall()
        expired = self.outbox.expire(now, channel)
        if expired:
            log.warning("notifications via %s: %d expired undelivered", channel, expired)
        delivered = 0
        for pending in self.outbox.due(now, channel):
            if self._stop.is_set():  # do not start a send the shutdown would cut short
                break
            delivered += self._deliver(pending)
        return delivered

    def _retire_unconfigured(self) -> None:
        retired = self.outbox.retire_channels(list(self.channels), self._wall())
        if retired:
            log.warning("notifications: %d given up, their channel no longer configured", retired)

    def _deliver(self, pending: Pending) -> bool:
        name = pending.channel
        health = self.health[name]
        try:
            note = self.channels[name].send(pending.notification, pending.delivery_id)
        except Exception as exc:  # DeliveryError, or a surprise: either way, retry later
            if not isinstance(exc, DeliveryError):
                log.exception("notification via %s failed unexpectedly", name)
                exc = DeliveryError(f"{type(exc).__name__}: {exc}")
            self._failed(pending, exc, health)
            return False
        self.outbox.delivered(pending.id, self._wall(), note)
        health.delivered += 1
        subject = pending.notification.subject
        if note is None:
            health.last_error = ""
            log.info("notified via %s: %s", name, subject)
        else:
            health.unconfirmed += 1
            health.last_error = f"delivered, unconfirmed: {note}"
            log.warning(
                "notified via %s, unconfirmed (not sent again): %s: %s", name, subject, note
            )
        return True

    def _failed(self, pending: Pending, exc: DeliveryError, health: ChannelHealth) -> None:
        now = self._wall()
        error = str(exc)
        if exc.permanent:
            self.outbox.refused(pending.id, error, now)
            health.refused += 1
            health.last_error = f"refused, not retried: {error}"
            log.error("notification via %s refused, not retried: %s", pending.channel, error)
            return
        delay = retry_after_s(exc.retry_after, now)
        if delay is None:
            backoff = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** min(pending.attempts, 16))
            delay = backoff * random.uniform(0.8, 1.2)
        self.outbox.failed(pending.id, error, now + delay)
        health.failures += 1
        if health.last_error != error:
            log.error("notification via %s failed (retrying): %s", pending.channel, error)
        health.last_error = error

    def problems(self) -> list[str]:
        return [f"{name}: {h.last_error}" for name, h in self.health.items() if h.last_error]
