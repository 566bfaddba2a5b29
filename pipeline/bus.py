"""The bus between producer and consumer workers.

The interface is the one the Kafka bus implements too: ``publish`` observations, ``consume``
them in batches, ``ack`` a batch once it is stored (so a broker can commit offsets only then).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.alerts import Alert, AlertCommand
from pipeline.anomaly import Anomaly
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.wire_columns import WireColumns


class BusClosed(Exception):
    """The bus was closed while a caller waited on it."""


@dataclass(slots=True)
class Delivery:
    """A batch handed to a consumer. ``wire``: messages a bus decoded straight into columns
    (:mod:`pipeline.wire_columns`); ``observations``: the others; ``rejections`` are messages
    the bus could not decode; ``anomalies`` and ``alerts`` were found upstream (by workers, for
    a watching console); ``commands`` are people's, from watching consoles (for workers)."""

    observations: list[Observation]
    rejections: list[Rejection] = field(default_factory=list)
    token: object = None
    anomalies: list[Anomaly] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    sent_at: float | None = None  # the producers' clock: newest decoded message's broker stamp
    commands: list[AlertCommand] = field(default_factory=list)
    wire: WireColumns | None = None

    @property
    def empty(self) -> bool:
        return not (self.count or self.rejections or self.anomalies or self.alerts or self.commands)

    @property
    def count(self) -> int:
        """Observations carried, in columns or not."""
        return len(self.observations) + (len(self.wire) if self.wire is not None else 0)

    def every_observation(self) -> list[Observation]:
        """Every observation carried, as objects: for the rare paths that go one by one (a
        batch that failed, kept in the quarantine)."""
        columns = self.wire.observations() if self.wire is not None else []
        return self.observations + columns


class Bus(Protocol):
    name: str
    redelivers: bool
    """Whether what was consumed and never acknowledged is delivered again (after a restart)."""

    def publish(self, observations: Sequence[Observation], timeout: float | None = None) -> bool:
        """Hand observations over; blocks while the bus is full. False if it timed out."""
        ...

    def consume(self, max_items: int, timeout: float) -> Delivery:
        """Up to ``max_items`` observations, waiting at most ``timeout`` for the first."""
        ...

    def ack(self, delivery: Delivery, kept: bool = True) -> None:
        """The delivery is processed; ``kept``: and stored. A broker commits offsets only for
        kept deliveries (one that was not is read again after a restart)."""
        ...

    def depth(self) -> int:
        """Observations published but not yet acknowledged (consumer lag)."""
        ...

    def state(self) -> str:
        """What to show next to the bus's name ("" when there is nothing to say)."""
        ...

    def problem(self) -> str:
        """Why the bus cannot work right now ("" when it can), for the health line."""
        ...

    def close(self) -> None: ...


class MemoryBus:
    """A bounded in-process queue with back-pressure.

    Capacity counts observations published and not yet acknowledged, so a slow consumer makes
    ``publish`` wait, and memory stays bounded by ``capacity`` however fast the producer is.
    """

    name = "memory"
    redelivers = False

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("bus capacity must be positive")
        self.capacity = capacity
        self._queue: deque[Observation] = deque()
        self._unacked = 0
        self._closed = False
        self._changed = threading.Condition()

    def publish(self, observations: Sequence[Observation], timeout: float | None = None) -> bool:
        pending = list(observations)
        with self._changed:
            while pending:
                room = self.capacity - self._unacked - len(self._queue)
                if self._closed:
                    raise BusClosed("bus closed")
                if room <= 0:
                    if not self._changed.wait(timeout):
                        return False
                    continue
                chunk, pending = pending[:room], pending[room:]
                self._queue.extend(chunk)
                self._changed.notify_all()
        return True

    def consume(self, max_items: int, timeout: float) -> Delivery:
        with self._changed:
            if not self._queue and not self._closed:
                self._changed.wait(timeout)
            count = min(max_items, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            self._unacked += count
            return Delivery(batch, token=count)

    def ack(self, delivery: Delivery, kept: bool = True) -> None:
        # In one process there is nothing to read again: a failed write is counted instead.
        with self._changed:
            if isinstance(delivery.token, int):  # our deliveries' token is their count
                self._unacked -= delivery.token
            self._changed.notify_all()

    def depth(self) -> int:
        with self._changed:
            return len(self._queue) + self._unacked

    def state(self) -> str:
        return ""

    def problem(self) -> str:
        return ""

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
