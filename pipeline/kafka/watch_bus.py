"""A watching console's Kafka bus.

It joins a group of its own, starts each partition a little before its end (``watch_history``
messages, so charts and the anomaly log start full), reads the workers' anomalies and alert
transitions from the anomalies topic as well, and commits nothing: it stores nothing, and the
workers dead-letter what it cannot decode (it only counts it). Its user's acknowledgements and
silences go to the workers on the commands topic (:mod:`pipeline.kafka.commands`,
:class:`pipeline.alert_desk.RelayedDesk`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline.alerts import AlertCommand
from pipeline.bus import Delivery
from pipeline.kafka.bus import KafkaBus, describe
from pipeline.kafka.client import BrokerWatch, KafkaConnection
from pipeline.kafka.events import AnomalyEvent, decode_event, encode_command
from pipeline.observation import Observation

log = logging.getLogger(__name__)


def watcher_group(group_id: str) -> str:
    """A watching console's own group: it must not take partitions from the workers."""
    return f"{group_id}-watch-{socket.gethostname()}-{os.getpid()}"


class WatchBus(KafkaBus):
    def __init__(
        self,
        connection: KafkaConnection,
        *,
        variables: Sequence[str],
        watch: BrokerWatch | None = None,
        clock_now: Callable[[], float] = time.time,
    ) -> None:
        settings = connection.settings
        super().__init__(
            connection,
            variables=variables,
            group_id=watcher_group(settings.group_id),
            offset_reset="latest",  # and a little before it: see ``_on_assign``
            topics=[settings.topic, settings.anomalies_topic],
            watch=watch,
            clock_now=clock_now,
        )
        self._command_problem = ""  # the last command that could not be sent

    def publish(self, observations: Sequence[Observation], timeout: float | None = None) -> bool:
        raise RuntimeError("a watching console's Kafka bus publishes no observations")

    def consume(self, max_items: int, timeout: float) -> Delivery:
        delivery = super().consume(max_items, timeout)
        self._events.poll(0)  # the delivery reports of the commands it sent
        return delivery

    def _decode(self, messages: list[Message]) -> Delivery:
        """The observations, and the workers' anomalies and alert transitions."""
        topic = self.settings.anomalies_topic
        events = [m for m in messages if m.error() is None and m.topic() == topic]
        delivery = super()._decode(
            [m for m in messages if m.error() is not None or m.topic() != topic]
        )
        for message in events:
            self._take_event(message, delivery)
        return delivery

    def _take_event(self, message: Message, delivery: Delivery) -> None:
        try:
            event = decode_event(message.value() or b"")
        except ValueError as exc:
            log.warning("ignoring an unreadable message on %s: %s", message.topic(), exc)
            return
        if isinstance(event, AnomalyEvent):
            delivery.anomalies.append(event.anomaly)
        else:
            delivery.alerts.append(event.alert)

    def _refused(self, message: Message, reason: str) -> None:
        """The workers dead-letter it; a viewer only counts it."""

    def ack(self, delivery: Delivery, kept: bool = True) -> None:
        """Nothing to commit: a watcher starts near the end each time."""

    def _before_read(self) -> None:
        """Nothing waits to be committed."""

    def send_command(self, command: AlertCommand) -> None:
        """The user's acknowledgement or silence, for the workers (UI thread)."""
        self._produce(
            self.settings.commands_topic,
            key=command.station_id.encode(),
            value=encode_command(command),
        )

    def _delivered(self, error: KafkaError | None, message: Message | None) -> None:
        """A command's report."""
        if error is None:
            self._command_problem = ""
        else:
            self._command_problem = f"an acknowledgement or silence was not sent: {error.str()}"
            log.error("kafka: %s", self._command_problem)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        super()._on_assign(consumer, partitions)
        for tp in partitions:
            try:
                low, high = consumer.get_watermark_offsets(tp, timeout=5.0)
                tp.offset = max(low, high - self.settings.watch_history)
            except KafkaException as exc:
                log.warning("kafka: cannot read the end of %s: %s", describe([tp]), exc)
        consumer.assign(partitions)

    def _state_parts(self) -> list[str]:
        parts = super()._state_parts()
        parts.insert(1, "watching")
        return parts

    def problem(self) -> str:
        return super().problem() or self._command_problem
