"""The Kafka bus: the :class:`~pipeline.bus.Bus` interface over a broker, in two roles.

A worker (:class:`~pipeline.kafka.worker_bus.WorkerBus`) is a consumer-group member that
dead-letters what it cannot decode, publishes its anomalies and alerts and commits offsets once
a batch is stored. A watching console (:class:`~pipeline.kafka.watch_bus.WatchBus`) reads in a
group of its own from near the end, follows the workers' anomalies, commits nothing and sends
its user's commands to the workers. What both do is here: create the topics and subscribe,
decode batches of observations into columns, take the people's commands from the commands
topic (:mod:`pipeline.kafka.commands`), produce (retried while the broker is away), measure the
lag and say what state the bus is in.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

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

from pipeline.bus import BusClosed, Delivery
from pipeline.kafka.client import (
    BrokerWatch,
    KafkaConnection,
    KafkaUnavailable,
    ensure_topics,
    topic_specs,
)
from pipeline.kafka.commands import CommandReader
from pipeline.quarantine import Rejection
from pipeline.wire_columns import ColumnDecoder

log = logging.getLogger(__name__)

LAG_EVERY_S = 1.0
MAX_MESSAGES_PER_CONSUME = 10_000

DeliveryReport = Callable[[KafkaError | None, Message | None], None]
CommitReport = Callable[[KafkaError | None, list[TopicPartition]], None]


def consumer_config(
    connection: KafkaConnection,
    watch: BrokerWatch,
    group_id: str,
    offset_reset: str,
    on_commit: CommitReport | None = None,
) -> dict:
    """``on_commit``: the broker's answer to each asynchronous commit (served by consume)."""
    extra = {} if on_commit is None else {"on_commit": on_commit}
    return connection.config(
        **{
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": offset_reset,
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "topic.metadata.refresh.interval.ms": 5_000,
            "error_cb": watch.on_error,
            **extra,
        }
    )


def events_producer_config(connection: KafkaConnection, watch: BrokerWatch) -> dict:
    """Anomalies, alerts, dead letters and commands: at least once and in order (one request in
    flight), retried until the broker is back. Not idempotent: after a broker restart that lost
    its producer ids, an idempotent producer can loop on "unknown producer id" and never
    deliver (seen with Tansu), and these messages have no spool to be re-sent from."""
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


class KafkaBus(ABC):
    """What a worker's bus and a watching console's share. ``group_id``: the consumer group;
    ``offset_reset``: where a partition the group has no commit for starts; ``topics``: the
    observations topic first, then any other the role reads."""

    name = "kafka"
    redelivers = True  # what is not committed is read again (by this worker or another)

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        variables: Sequence[str],
        group_id: str,
        offset_reset: str,
        topics: list[str],
        watch: BrokerWatch | None = None,
        clock_now: Callable[[], float] = time.time,
        on_commit: CommitReport | None = None,
    ) -> None:
        settings = connection.settings
        self.connection = connection
        self.settings = settings
        self.watch = watch or BrokerWatch(settings.bootstrap_servers)
        self._now = clock_now
        self._decoder = ColumnDecoder(variables)  # the messages of these variables as columns
        self._admin = AdminClient(connection.config(error_cb=self.watch.on_error))
        self._consumer = Consumer(
            consumer_config(connection, self.watch, group_id, offset_reset, on_commit)
        )
        self._events = Producer(events_producer_config(connection, self.watch))
        # Workers apply people's commands; a watcher follows the stations' silences in them.
        self._commands = CommandReader(connection, self.watch, settings.group_id)
        self._topics = topics
        self._subscribed = False  # the topics are known to exist
        self._ever_subscribed = False
        self._assigned: list[TopicPartition] = []
        self._lag = 0
        self._lag_due = 0.0
        self._problem = ""
        self._closed = False

    # -- what each role does differently -------------------------------------------------

    @abstractmethod
    def _refused(self, message: Message, reason: str) -> None:
        """A message of the observations topic that cannot be decoded (already counted as a
        rejection in the delivery)."""

    @abstractmethod
    def _delivered(self, error: KafkaError | None, message: Message | None) -> None:
        """The delivery report of what this bus produced (``error`` None: delivered)."""

    @abstractmethod
    def _before_read(self) -> None:
        """Called before each read from the broker, once the topics exist."""

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
        self._before_read()
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
        if messages:
            self.watch.up()
        self._measure_lag()
        return delivery

    def _decode(self, messages: list[Message]) -> Delivery:
        """The observations in ``messages``, as columns; the delivery's token is the offset
        after the last message read of each partition."""
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
            topic, partition, offset = position(message)
            offsets[(topic, partition)] = offset + 1
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
        for place, rejection in zip(decoded.rejected, decoded.rejections, strict=True):
            self._refused(observed[place], rejection.reason)
        refused = set(decoded.rejected)
        for place, message in enumerate(observed):
            kind, stamp = message.timestamp()
            if kind == TIMESTAMP_CREATE_TIME and stamp > sent_at and place not in refused:
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
        self._refused(message, reason)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("kafka: assigned %s", describe(partitions))
        self._assigned = list(partitions)
        self._lag_due = 0.0

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("kafka: revoked %s", describe(partitions))
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

    # -- producing -----------------------------------------------------------------------

    def _produce(self, topic: str, on_delivery: DeliveryReport | None = None, **message) -> None:
        report = on_delivery or self._delivered
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
        return " · ".join(self._state_parts())

    def _state_parts(self) -> list[str]:
        return [self.watch.state().split(":")[0], f"{self.assigned()} partitions"]

    def problem(self) -> str:
        if self.watch.is_down:
            return f"kafka {self.watch.state()}"
        return self._problem

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._events.flush(2.0)
        self._commands.close()
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("kafka: closing the consumer: %s", exc)


def position(message: Message) -> tuple[str, int, int]:
    """A consumed message's topic, partition and offset: only a produced one, or an error,
    lacks them."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


def describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
