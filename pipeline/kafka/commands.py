"""Acknowledgements and silences across machines.

A watching console cannot change the alerts it shows: workers elsewhere keep them, record their
transitions and notify people. So it publishes what its user asked on the commands topic (one
partition: one order for everybody), and every worker reads all of it — not as a group member,
since each must see every command — and applies what names an alert or station it keeps. The
resulting transition reaches the consoles on the anomalies topic like any other.

Workers read the topic from its beginning each time they start: a station silenced while a
worker was down still holds there. Reading a command again changes nothing (see
:class:`~pipeline.alerts.AlertCommand` and :meth:`~pipeline.alerts.AlertBook.silence`).
Watching consoles read it too, for the stations' silences (so that ``Z`` knows whether to
silence a station or lift its silence).
"""

from __future__ import annotations

import logging

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from pipeline.alerts import AlertCommand
from pipeline.kafka.client import BrokerWatch, KafkaConnection
from pipeline.kafka.events import decode_command

log = logging.getLogger(__name__)


class CommandReader:
    def __init__(self, connection: KafkaConnection, watch: BrokerWatch, group_id: str) -> None:
        self.topic = connection.settings.commands_topic
        self.read = 0
        self.unreadable = 0
        # Assigned, never subscribed: the group id is required by librdkafka, not joined.
        self._consumer = Consumer(
            connection.config(
                **{
                    "group.id": f"{group_id}-commands",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "error_cb": watch.on_error,
                }
            )
        )
        self._assigned = False

    def take(self) -> list[AlertCommand]:
        """The commands published since the last call (none waited for); call once the topic
        exists."""
        if not self._assigned:
            self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            self._assigned = True
        try:
            messages = self._consumer.consume(100, timeout=0)
        except KafkaException as exc:
            log.warning("kafka: reading %s failed: %s", self.topic, exc.args[0].str())
            return []
        commands = []
        for message in messages:
            if message.error() is not None:
                continue  # broker trouble shows through the observations consumer
            self.read += 1
            try:
                commands.append(decode_command(message.value() or b""))
            except ValueError as exc:
                self.unreadable += 1
                log.warning(
                    "kafka: ignoring an unreadable command at %s offset %d: %s",
                    self.topic,
                    message.offset(),
                    exc,
                )
        return commands

    def close(self) -> None:
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("kafka: closing the command reader: %s", exc)
