"""A worker's Kafka bus: a consumer-group member of the observations topic.

``consume`` decodes a batch of observations, sends undecodable messages to the dead-letter
topic (with the reason in a header) and hands them on as rejections, with the people's
commands read since the last batch; ``ack``, called once the batch is stored, first makes sure
every anomaly and alert published for it was delivered, and only then commits the batch's
offsets (at-least-once: a crash before the commit re-delivers the batch, and the worker's
duplicate check recognises what it had stored).

With a :class:`~pipeline.kafka.publisher.ObservationPublisher` attached, ``publish`` sends
observations to the broker: the console's ``--bus kafka`` runs producer and worker in one
process this way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.bus import Delivery
from pipeline.kafka.bus import KafkaBus, position
from pipeline.kafka.client import BrokerWatch, KafkaConnection
from pipeline.kafka.events import AlertEvent, AnomalyEvent, encode_event
from pipeline.kafka.publisher import ObservationPublisher
from pipeline.observation import Observation

log = logging.getLogger(__name__)

DEAD_LETTER_KEEP = 64 * 1024
"""Bytes of a message (value, and key) a dead letter carries. The topic may take a message
whose copy this producer (``message.max.bytes``, 1,000,000 by default) or the broker refuses,
since the copy adds headers; a refused dead letter would hold the offsets back for ever. A
longer message is cut, with ``original.size`` and ``truncated=true`` in the headers: enough to
see what it was (the quarantine keeps 16 KiB of it), far under any broker's limit."""
DEAD_LETTER_KEEP_REFUSED = 1024  # what a dead letter refused as too large is sent again with
TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE}


class WorkerBus(KafkaBus):
    def __init__(
        self,
        connection: KafkaConnection,
        *,
        variables: Sequence[str],
        publisher: ObservationPublisher | None = None,
        watch: BrokerWatch | None = None,
        clock_now: Callable[[], float] = time.time,
    ) -> None:
        settings = connection.settings
        super().__init__(
            connection,
            variables=variables,
            group_id=settings.group_id,
            # Where the group left off, or the beginning of what the broker has.
            offset_reset="earliest",
            topics=[settings.topic],
            watch=watch,
            clock_now=clock_now,
            on_commit=self._committed,
        )
        self.publisher = publisher
        self.dead_lettered = 0
        self.events_published = 0
        self._pending_offsets: dict[tuple[str, int], int] = {}
        self._held = ""  # why offsets are no longer committed ("" while they are)
        self._event_failures = 0
        self._event_error = ""
        self._lock = threading.Lock()

    # -- producing (console --bus kafka) -------------------------------------------------

    def publish(self, observations: Sequence[Observation], timeout: float | None = None) -> bool:
        if self.publisher is None:
            raise RuntimeError("this Kafka bus has no publisher (a worker)")
        self.publisher.publish(observations)
        return True

    # -- dead letters --------------------------------------------------------------------

    def _refused(self, message: Message, reason: str) -> None:
        topic, partition, offset = position(message)
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
                self._delivered(error, None)

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

    def _delivered(self, error: KafkaError | None, message: Message | None) -> None:
        if error is None:
            return
        self._event_failures += 1
        self._event_error = error.str()
        log.error("kafka: an anomaly/alert/dead letter was not delivered: %s", error.str())

    def ack(self, delivery: Delivery, kept: bool = True) -> None:
        if not isinstance(delivery.token, dict):
            return
        if not kept and not self._held:
            self._held = "a batch could not be stored: offsets are held back until a restart"
            log.error("kafka worker: %s", self._held)
        with self._lock:
            self._pending_offsets.update(delivery.token)
        self._commit_pending()

    def _before_read(self) -> None:
        self._commit_pending()

    def _commit_pending(self, flush_timeout: float = 2.0, *, wait: bool = False) -> bool:
        """Commit acknowledged offsets once everything published for them is delivered.

        Asynchronously unless ``wait``: a synchronous commit has no timeout, and one sent as
        the broker went away and came back (its group state lost) never returned, holding the
        consumer thread and then ``close`` for ever (confluent-kafka-python #1801). The
        answer comes to :meth:`_committed`; offsets whose commit failed are committed with the
        next. Only a rebalance waits (``_on_revoke``): the partitions' next owner must start
        after them. True when the commit was sent (or done, with ``wait``)."""
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
            self._pending_offsets.clear()
        try:
            if wait:
                self._consumer.commit(offsets=offsets, asynchronous=False)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            self._commit_failed(exc.args[0], offsets)
            return False
        if wait:
            self._set_problem("")
        return True

    def _committed(self, error: KafkaError | None, offsets: list[TopicPartition]) -> None:
        """The broker's answer to an asynchronous commit (consumer thread, in consume)."""
        if error is None:
            self._set_problem("")
        else:
            self._commit_failed(error, offsets)

    def _commit_failed(self, error: KafkaError, offsets: list[TopicPartition]) -> None:
        self._set_problem(f"offset commit failed: {error.str()}")
        if error.code() in (
            KafkaError.ILLEGAL_GENERATION,
            KafkaError.UNKNOWN_MEMBER_ID,
            KafkaError.REBALANCE_IN_PROGRESS,
            KafkaError._NO_OFFSET,
        ):  # the partitions moved on: their new owner re-reads from the last commit
            return
        with self._lock:  # again with the next commit, unless a later offset is waiting
            for tp in offsets:
                self._pending_offsets.setdefault((tp.topic, tp.partition), tp.offset)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        super()._on_revoke(consumer, partitions)
        if not self._commit_pending(wait=True):
            # Their next owner starts from the last commit; committing later, in another
            # generation, could move its position.
            with self._lock:
                for tp in partitions:
                    self._pending_offsets.pop((tp.topic, tp.partition), None)

    # -- what to show --------------------------------------------------------------------

    def _state_parts(self) -> list[str]:
        parts = super()._state_parts()
        if self.publisher is not None:
            spooled = self.publisher.undelivered()
            if spooled > 0:
                parts.append(f"spool {spooled:,}")
        return parts

    def problem(self) -> str:
        if not self.watch.is_down and self.publisher is not None and self.publisher.problem:
            return self.publisher.problem
        return super().problem()

    def close(self) -> None:
        if not self._closed:
            if self.publisher is not None:
                self.publisher.stop()
            self._commit_pending(flush_timeout=5.0)
        super().close()
