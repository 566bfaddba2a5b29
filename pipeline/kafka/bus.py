"""The Kafka bus: the :class:`~pipeline.bus.Bus` interface over a broker.

As a worker (``mode="work"``) it is a consumer-group member: ``consume`` decodes a batch of
observations, sends undecodable messages to the dead-letter topic (with the reason in a
header) and hands them on as rejections; ``ack``, called once the batch is stored, first makes
sure every anomaly and alert published for it was delivered, and only then commits the batch's
offsets (at-least-once: a crash before the commit re-delivers the batch, and the worker's
duplicate check recognises what it had stored).

As a watching console (``mode="watch"``) it joins a group of its own, starts each partition a
little before its end (``watch_history`` messages, so charts and the anomaly log start full),
reads the anomalies topic as well, and commits nothing. Its user's acknowledgements and
silences go to the workers on the commands topic (:mod:`pipeline.kafka.commands`); a worker's
``consume`` hands them on with the batch.

With a :class:`~pipeline.kafka.publisher.ObservationPublisher` attached, ``publish`` sends
observations to the broker: the console's ``--bus kafka`` runs producer and worker in one
process this way.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from pipeline.alerts import Alert, AlertCommand
from pipeline.anomaly import Anomaly
from pipeline.bus import BusClosed, Delivery
from pipeline.kafka.client import (
    BrokerWatch,
    KafkaConnection,
    KafkaUnavailable,
    ensure_topics,
    topic_specs,
)
from pipeline.kafka.commands import CommandReader
from pipeline.kafka.events import (
    AlertEvent,
    AnomalyEvent,
    decode_event,
    encode_command,
    encode_event,
)
from pipeline.kafka.publisher import ObservationPublisher
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.wire_columns import ColumnDecoder

log = logging.getLogger(__name__)

LAG_EVERY_S = 1.0
MAX_MESSAGES_PER_CONSUME = 10_000

DEAD_LETTER_KEEP = 64 * 1024
"""Bytes of a message (value, and key) a dead letter carries. The topic may take a message
whose copy this producer (``message.max.bytes``, 1,000,000 by default) or the broker refuses,
since the copy adds headers; a refused dead letter would hold the offsets back for ever. A
longer message is cut, with ``original.size`` and ``truncated=true`` in the headers: enough to
see what it was (the quarantine keeps 16 KiB of it), far under any broker's limit."""
DEAD_LETTER_KEEP_REFUSED = 1024  # what a dead letter refused as too large is sent again with
TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE}

Mode = Literal["work", "watch"]
DeliveryReport = Callable[[KafkaError | None, Message | None], None]


def consumer_config(
    connection: KafkaConnection, watch: BrokerWatch, mode: Mode, group_id: str
) -> dict:
    return connection.config(
        **{
            "group.id": group_id,
            "enable.auto.commit": False,
            # A worker starts where its group left off, or at the beginning of what the broker
            # has; a watcher starts near the end (see ``_on_assign``).
            "auto.offset.reset": "earliest" if mode == "work" else "latest",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "topic.metadata.refresh.interval.ms": 5_000,
            "error_cb": watch.on_error,
        }
    )


def events_producer_config(connection: KafkaConnection, watch: BrokerWatch) -> dict:
    """Anomalies, alerts and dead letters: at least once and in order (one request in flight),
    retried until the broker is back. Not idempotent: after a broker restart that lost its
    producer ids, an idempotent producer can loop on "unknown producer id" and never deliver
    (seen with Tansu), and these messages have no spool to be re-sent from."""
    return connection.config(
        **{
            "enable.idempotence": False,
            "acks": "all",
            "max.in.flight.requests.per.connection": 1,
            "message.timeout.ms": 0,
            "linger.ms": 5,
            "error_cb": watch.on_error,
        }
    )


def watcher_group(group_id: str) -> str:
    """A watching console's own group: it must not take partitions from the workers."""
    return f"{group_id}-watch-{socket.gethostname()}-{os.getpid()}"


class KafkaBus:
    name = "kafka"
    redelivers = True  # what is not committed is read again (by this worker or another)

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        variables: Sequence[str],
        mode: Mode = "work",
        publisher: ObservationPublisher | None = None,
        watch: BrokerWatch | None = None,
        clock_now=time.time,
    ) -> None:
        settings = connection.settings
        self.connection = connection
        self.mode = mode
        self.settings = settings
        self.watch = watch or BrokerWatch(settings.bootstrap_servers)
        self.publisher = publisher
        self.dead_lettered = 0
        self.events_published = 0
        self._now = clock_now
        self._decoder = ColumnDecoder(variables)  # the messages of these variables as columns
        self._admin = AdminClient(connection.config(error_cb=self.watch.on_error))
        group = settings.group_id if mode == "work" else watcher_group(settings.group_id)
        self._consumer = Consumer(consumer_config(connection, self.watch, mode, group))
        self._events = Producer(events_producer_config(connection, self.watch))
        # Workers apply people's commands; a watcher follows the stations' silences in them.
        self._commands = CommandReader(connection, self.watch, settings.group_id)
        self._topics = [settings.topic] + ([settings.anomalies_topic] if mode == "watch" else [])
        self._subscribed = False  # the topics are known to exist
        self._ever_subscribed = False
        self._assigned: list[TopicPartition] = []
        self._pending_offsets: dict[tuple[str, int], int] = {}
        self._lag = 0
        self._lag_due = 0.0
        self._problem = ""
        self._command_problem = ""  # a watcher's last command that could not be sent
        self._held = ""  # why offsets are no longer committed ("" while they are)
        self._event_failures = 0
        self._event_error = ""
        self._closed = False
        self._lock = threading.Lock()

    # -- producing (console --bus kafka) -------------------------------------------------

    def publish(self, observations: Sequence[Observation], timeout: float | None = None) -> bool:
        if self.publisher is None:
            raise RuntimeError("this Kafka bus has no publisher (a worker or watcher)")
        self.publisher.publish(observations)
        return True

    # -- consuming -----------------------------------------------------------------------

    def _subscribe(self) -> bool:
        """Create missing topics and subscribe; False while the broker cannot be reached."""
        if self._subscribed:
            return True
        try:
            ensure_topics(self._admin, topic_specs(self.settings), timeout=5.0)
        except KafkaUnavailable as exc:
            self._set_problem(str(exc))
            self.watch.down(str(exc))
            return False
        self.watch.up()
        if not self._ever_subscribed:
            self._consumer.subscribe(
                self._topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
            self._ever_subscribed = True
        self._subscribed = True
        return True

    def consume(self, max_items: int, timeout: float) -> Delivery:
        if self._closed:
            raise BusClosed("bus closed")
        if not self._subscribe():
            time.sleep(timeout)
            return Delivery([])
        self._commit_pending()
        try:
            messages = self._consumer.consume(
                min(max_items, MAX_MESSAGES_PER_CONSUME), timeout=timeout
            )
        except KafkaException as exc:
            self._set_problem(f"consume failed: {exc.args[0].str()}")
            return Delivery([])
        except RuntimeError:  # closed under us during shutdown
            raise BusClosed("bus closed") from None
        delivery = self._decode(messages)
        delivery.commands = self._commands.take()
        if self.mode == "watch":  # the delivery reports of the commands it sent
            self._events.poll(0)
        if messages:
            self.watch.up()
        self._measure_lag()
        return delivery

    def _decode(self, messages: list[Message]) -> Delivery:
        offsets: dict[tuple[str, int], int] = {}
        delivery = Delivery([], token=offsets)
        received_at = self._now()
        sent_at = -1.0
        observed: list[Message] = []
        payloads: list[bytes] = []  # the values of observed, in order
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    self._subscribed = False  # the broker lost the topic: create it again
                elif error.code() != KafkaError._PARTITION_EOF:
                    self.watch.on_error(error)
                continue
            topic, partition, offset = _position(message)
            offsets[(topic, partition)] = offset + 1
            if topic == self.settings.anomalies_topic:  # workers' wall clock
                self._take_event(message, delivery)
                continue
            value = message.value()
            if value:
                observed.append(message)
                payloads.append(value)
            else:
                self._reject(message, "empty message", received_at, delivery)
        decoded = self._decoder.decode(
            payloads,
            received_at=received_at,
            source=f"kafka:{self.settings.topic}",
        )
        delivery.wire = decoded.columns
        delivery.rejections += decoded.rejections
        for position, rejection in zip(decoded.rejected, decoded.rejections, strict=True):
            self._dead_letter(observed[position], rejection.reason)
        refused = set(decoded.rejected)
        for position, message in enumerate(observed):
            kind, stamp = message.timestamp()
            if kind == TIMESTAMP_CREATE_TIME and stamp > sent_at and position not in refused:
                sent_at = stamp
        if sent_at > 0:
            delivery.sent_at = sent_at / 1000
        return delivery

    def _reject(
        self, message: Message, reason: str, received_at: float, delivery: Delivery
    ) -> None:
        delivery.rejections.append(
            Rejection(
                received_at=received_at,
                source=f"kafka:{message.topic()}",
                reason=reason,
                payload="",
            )
        )
        self._dead_letter(message, reason)

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

    def _dead_letter(self, message: Message, reason: str) -> None:
        if self.mode == "watch":  # the workers dead-letter it; a viewer only counts it
            return
        topic, partition, offset = _position(message)
        headers = [
            ("reason", reason.encode()),
            ("source.topic", topic.encode()),
            ("source.partition", str(partition).encode()),
            ("source.offset", str(offset).encode()),
        ]
        self._send_dead_letter(message.key(), message.value() or b"", headers, DEAD_LETTER_KEEP)

    def _send_dead_letter(
        self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]], keep: int
    ) -> None:
        """A copy with at most ``keep`` bytes of the value and of the key (saying so in its
        headers). One refused as too large anyway, by this producer at once or by the broker
        in its delivery report (a topic with a smaller ``max.message.bytes``), goes again with
        :data:`DEAD_LETTER_KEEP_REFUSED` bytes, once: a refused dead letter holds the offsets
        back until a restart, which reads the message again and is refused again."""
        letter_headers = list(headers)
        if len(value) > keep:
            letter_headers += [("original.size", str(len(value)).encode()), ("truncated", b"true")]
        if key is not None and len(key) > keep:
            letter_headers.append(("original.key.size", str(len(key)).encode()))

        def delivered(error: KafkaError | None, _message: Message | None) -> None:
            if error is None:
                self.dead_lettered += 1
            elif error.code() in TOO_LARGE and keep > DEAD_LETTER_KEEP_REFUSED:
                log.warning(
                    "kafka: a dead letter of %d bytes was refused (%s): sending %d bytes of it",
                    min(len(value), keep),
                    error.str(),
                    DEAD_LETTER_KEEP_REFUSED,
                )
                self._send_dead_letter(key, value, headers, DEAD_LETTER_KEEP_REFUSED)
            else:
                self._event_delivered(error, None)

        self._produce(
            self.settings.dead_letter_topic,
            on_delivery=delivered,
            key=None if key is None else key[:keep],
            value=value[:keep],
            headers=letter_headers,
        )

    # -- after processing ----------------------------------------------------------------

    def publish_anomaly(self, anomaly: Anomaly) -> None:
        """Listener for the worker's anomalies (consumer thread, before ``ack``)."""
        self._produce(
            self.settings.anomalies_topic,
            key=anomaly.station_id.encode(),
            value=encode_event(AnomalyEvent(anomaly)),
        )
        self.events_published += 1

    def publish_alert(self, alert: Alert) -> None:
        self._produce(
            self.settings.anomalies_topic,
            key=alert.station_id.encode(),
            value=encode_event(AlertEvent(alert)),
        )
        self.events_published += 1

    def send_command(self, command: AlertCommand) -> None:
        """A watching console's acknowledgement or silence, for the workers (UI thread)."""
        self._produce(
            self.settings.commands_topic,
            key=command.station_id.encode(),
            value=encode_command(command),
        )

    def _produce(self, topic: str, on_delivery: DeliveryReport | None = None, **message) -> None:
        report = on_delivery or self._event_delivered
        while True:
            try:
                self._events.produce(topic, on_delivery=report, **message)
                self._events.poll(0)
                return
            except BufferError:  # librdkafka's queue is full (broker away): wait for room
                self._events.poll(0.5)
            except KafkaException as exc:  # refused outright (too large, bad topic...)
                report(exc.args[0], None)
                return

    def _event_delivered(self, error: KafkaError | None, message: Message | None) -> None:
        if self.mode == "watch":  # a command's report
            if error is None:
                self._command_problem = ""
            else:
                self._command_problem = f"an acknowledgement or silence was not sent: {error.str()}"
                log.error("kafka: %s", self._command_problem)
            return
        if error is None:
            return
        self._event_failures += 1
        self._event_error = error.str()
        log.error("kafka: an anomaly/alert/dead letter was not delivered: %s", error.str())

    def ack(self, delivery: Delivery, kept: bool = True) -> None:
        if self.mode == "watch" or not isinstance(delivery.token, dict):
            return
        if not kept and not self._held:
            self._held = "a batch could not be stored: offsets are held back until a restart"
            log.error("kafka worker: %s", self._held)
        with self._lock:
            self._pending_offsets.update(delivery.token)
        self._commit_pending()

    def _commit_pending(self, flush_timeout: float = 2.0) -> bool:
        """Commit acknowledged offsets once everything published for them is delivered."""
        with self._lock:
            if not self._pending_offsets:
                return True
            if self._held:  # a later commit would cover what was lost: read it again instead
                self._set_problem(self._held)
                return False
            if self._events.flush(flush_timeout) > 0:
                self._set_problem("waiting for the broker to take anomalies before committing")
                return False
            if self._event_failures:
                self._held = (
                    f"{self._event_failures} anomaly/alert messages could not be delivered "
                    f"({self._event_error}): offsets are held back until a restart"
                )
                log.error("kafka worker: %s", self._held)
                self._set_problem(self._held)
                return False
            offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending_offsets.items()]
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                error = exc.args[0]
                self._set_problem(f"offset commit failed: {error.str()}")
                if error.code() in (
                    KafkaError.ILLEGAL_GENERATION,
                    KafkaError.UNKNOWN_MEMBER_ID,
                    KafkaError.REBALANCE_IN_PROGRESS,
                    KafkaError._NO_OFFSET,
                ):  # the partitions moved on: their new owner re-reads from the last commit
                    self._pending_offsets.clear()
                return False
            self._pending_offsets.clear()
        self._set_problem("")
        return True

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("kafka: assigned %s", _describe(partitions))
        if self.mode == "watch":
            for tp in partitions:
                try:
                    low, high = consumer.get_watermark_offsets(tp, timeout=5.0)
                    tp.offset = max(low, high - self.settings.watch_history)
                except KafkaException as exc:
                    log.warning("kafka: cannot read the end of %s: %s", _describe([tp]), exc)
            consumer.assign(partitions)
        self._assigned = list(partitions)
        self._lag_due = 0.0

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("kafka: revoked %s", _describe(partitions))
        if not self._commit_pending():
            # Their next owner starts from the last commit; committing later, in another
            # generation, could move its position.
            with self._lock:
                for tp in partitions:
                    self._pending_offsets.pop((tp.topic, tp.partition), None)
        self._assigned = []

    def _measure_lag(self) -> None:
        if time.monotonic() < self._lag_due or not self._assigned:
            return
        self._lag_due = time.monotonic() + LAG_EVERY_S
        lag = 0
        try:
            positions = self._consumer.position(self._assigned)
        except KafkaException:
            return
        for tp in positions:
            if tp.topic != self.settings.topic:
                continue
            _, high = self._consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            if high >= 0 and tp.offset >= 0:
                lag += max(0, high - tp.offset)
            elif high > 0:
                lag += high
        self._lag = lag

    # -- what to show --------------------------------------------------------------------

    def _set_problem(self, problem: str) -> None:
        if problem and problem != self._problem:
            log.warning("kafka bus: %s", problem)
        self._problem = problem

    def depth(self) -> int:
        return self._lag

    @property
    def commands_read(self) -> int:
        """Commands read from the commands topic (readable or not)."""
        return self._commands.read

    @property
    def commands_unreadable(self) -> int:
        """Of those, the ones that could not be decoded (logged with their offsets; they stay
        on the topic)."""
        return self._commands.unreadable

    def assigned(self) -> int:
        return sum(1 for tp in self._assigned if tp.topic == self.settings.topic)

    def state(self) -> str:
        """e.g. ``up · 3 partitions · spool 120`` (the name "kafka" is shown before it)."""
        parts = [self.watch.state().split(":")[0]]
        if self.mode == "watch":
            parts.append("watching")
        parts.append(f"{self.assigned()} partitions")
        if self.publisher is not None:
            spooled = self.publisher.undelivered()
            if spooled > 0:
                parts.append(f"spool {spooled:,}")
        return " · ".join(parts)

    def problem(self) -> str:
        if self.watch.is_down:
            return f"kafka {self.watch.state()}"
        if self.publisher is not None and self.publisher.problem:
            return self.publisher.problem
        return self._problem or self._command_problem

    def close(self) -> None:
        if self._closed:
            return
        if self.publisher is not None:
            self.publisher.stop()
        self._commit_pending(flush_timeout=5.0)
        self._closed = True
        self._events.flush(2.0)
        self._commands.close()
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("kafka: closing the consumer: %s", exc)


def _position(message: Message) -> tuple[str, int, int]:
    """A consumed message's topic, partition and offset: only a produced one, or an error,
    lacks them."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


def _describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
