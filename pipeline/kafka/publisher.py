"""Publish observations to the observations topic through the durable spool.

``publish`` only appends to the spool (fast, durable, works with the broker down); a sender
thread moves spooled messages to an idempotent librdkafka producer in the order they were
accepted, keyed by station id so one station's observations stay in one partition, in order.
Delivery reports settle the spool. While the broker is away librdkafka keeps retrying and the
spool keeps growing; nothing accepted is dropped.

A broker without durable storage (Tansu in memory, a test broker) that restarts comes back
empty, and the topic is created anew with a new topic id. Every few seconds the sender checks
the topic's id against the one it noted (in the spool, so this survives a producer restart);
when it changed, every delivered message still kept is sent again, and workers recognise the
repeats they had already processed. (Partition end offsets cannot tell: Tansu reports the
last batch's start as a partition's end.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicCollection
from confluent_kafka.admin import AdminClient

from pipeline.clock import Clock
from pipeline.codec import encode_observation
from pipeline.kafka.client import (
    BrokerWatch,
    KafkaConnection,
    KafkaUnavailable,
    ensure_topics,
    topic_specs,
)
from pipeline.kafka.spool import Spool, SpooledMessage, SpoolError
from pipeline.observation import Observation

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 50_000
TOPIC_ID = "topic_id"  # the spool's note of the topic's identity on the broker
LOSS_CHECK_EVERY_S = 5.0
STALL_S = 15.0


def producer_config(connection: KafkaConnection, watch: BrokerWatch) -> dict:
    """Idempotent (no duplicates or reordering from librdkafka's own retries) and patient:
    ``message.timeout.ms = 0`` retries until the broker is back instead of failing sends."""
    return connection.config(
        **{
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 0,
            "linger.ms": 20,
            "compression.type": "lz4",
            "error_cb": watch.on_error,
        }
    )


def is_fatal(error: KafkaError) -> bool:
    """The producer cannot go on. A produce() refused because the producer already failed
    carries the generic "Local: Fatal error" code without the fatal flag: that message was
    not refused for what it is, and goes to the next producer."""
    return error.fatal() or error.code() == KafkaError._FATAL


class ObservationPublisher:
    def __init__(
        self, connection: KafkaConnection, spool_path: Path, watch: BrokerWatch, clock: Clock
    ) -> None:
        self.connection = connection
        self.clock = clock
        self.topic = connection.settings.topic
        self.watch = watch
        self.spool = Spool(spool_path, connection.settings.spool_keep_delivered)
        self.delivered = 0
        self.refused = 0
        self.left = 0  # undelivered when stopped
        self.resent = 0
        self.problem = ""
        self._reports: list[int] = []
        self._failed: list[int] = []
        self._in_flight = 0
        self._fatal = False
        self._last_progress = time.monotonic()
        self._topics_ready = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer = self._new_producer()
        self._admin = AdminClient(connection.config(error_cb=watch.on_error))

    # -- accepting -------------------------------------------------------------------------

    def publish(self, observations: Sequence[Observation]) -> None:
        """Accept observations (durably). Raises SpoolError if the spool cannot be written.

        Messages carry the producer's clock as their Kafka timestamp: workers take "now" from
        it (a replay's or an accelerated simulation's now is not the wall clock's)."""
        self.spool.append(
            self.topic,
            [(o.station_id.encode(), encode_observation(o)) for o in observations],
            self._now_ms(),
        )

    def dead_letter(self, messages: Sequence[tuple[bytes, bytes]], reason: str) -> None:
        """Keep what a source could not turn into observations on the dead-letter topic."""
        self.spool.append(
            self.connection.settings.dead_letter_topic, messages, self._now_ms(), reason
        )

    def _now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    def undelivered(self) -> int:
        try:
            return self.spool.undelivered()
        except SpoolError:
            return -1

    # -- sending ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kafka-sender", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float = 10.0) -> None:
        """Send what is spooled if the broker allows within ``drain_timeout``; the rest stays
        in the spool for the next start."""
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline and self.watch.is_up and self.undelivered() > 0:
            time.sleep(0.05)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30.0)  # its broker calls time out within 10 s
        self._producer.flush(min(2.0, max(0.0, deadline - time.monotonic())))
        self._producer.poll(0)
        self._settle()
        self.left = self.spool.undelivered()
        self.spool.close()

    def _new_producer(self) -> Producer:
        conf = producer_config(self.connection, self.watch)
        return Producer(conf)

    def _run(self) -> None:
        next_loss_check = 0.0
        while not self._stop.is_set():
            try:
                sent = self.pump()
                if time.monotonic() >= next_loss_check:
                    next_loss_check = time.monotonic() + LOSS_CHECK_EVERY_S
                    self.refill_lost()  # raises unless the broker answered
                    self._unstall()
                    self.spool.trim()
                self.problem = ""
            except Exception as exc:  # the sender must outlive any failure; it retries
                if isinstance(exc, KafkaUnavailable):
                    self.watch.down(str(exc))
                if isinstance(exc, KafkaException) and is_fatal(exc.args[0]):
                    self._fatal = True  # replaced at the next round; its messages re-sent
                if str(exc) != self.problem:
                    known = isinstance(exc, SpoolError | KafkaUnavailable | KafkaException)
                    log.error("kafka sender: %s", exc, exc_info=not known)
                self.problem = str(exc)
                self._stop.wait(1.0)
                continue
            if not sent:
                self._stop.wait(0.05)

    def pump(self) -> int:
        """One round: ensure topics, hand pending messages to librdkafka, settle reports."""
        if self._fatal:
            self._replace_producer()
        if not self._topics_ready:
            ensure_topics(self._admin, topic_specs(self.connection.settings), timeout=5.0)
            self._topics_ready = True
            self.watch.up()
        sent = 0
        room = MAX_IN_FLIGHT - self._in_flight
        if room > 0:
            for message in self.spool.take_pending(min(room, 10_000)):
                if self._fatal:  # the rest stay in flight; replacing the producer requeues them
                    break
                self._send(message)
                sent += 1
        self._producer.poll(0.05 if not sent else 0)
        self._settle()
        return sent

    def _send(self, message: SpooledMessage) -> None:
        headers = [("reason", message.reason.encode())] if message.reason is not None else None
        while True:
            try:
                self._produce(message, headers)
                return
            except BufferError:  # librdkafka's queue is full: let it drain a little
                self._producer.poll(0.1)
            except KafkaException as exc:
                error = exc.args[0]
                if is_fatal(error):
                    self._fatal = True
                    self.spool.settle([], [message.seq])
                    return
                # Refused outright (e.g. larger than the broker takes): it never will be sent.
                log.error(
                    "spooled message %d refused: %s; kept in the spool", message.seq, error.str()
                )
                self.spool.refuse(message.seq, f"refused: {error.str()}")
                self.refused += 1
                return

    def _produce(self, message: SpooledMessage, headers: list | None) -> None:
        self._producer.produce(
            message.topic,
            value=message.value,
            key=message.key,
            headers=headers,
            timestamp=message.produced_at_ms,
            on_delivery=partial(self._report, message.seq),
        )
        self._in_flight += 1

    def _report(self, seq: int, error: KafkaError | None, message: Message) -> None:
        self._in_flight -= 1
        if error is None:
            self._reports.append(seq)
            return
        self._failed.append(seq)
        if is_fatal(error):
            self._fatal = True
        log.warning("delivery of spooled message %d failed: %s", seq, error.str())

    def _settle(self) -> None:
        if not (self._reports or self._failed):
            return
        reports, failed = self._reports, self._failed
        self.spool.settle(reports, failed)  # on failure the reports stay for the next round
        self._reports, self._failed = [], []
        self.delivered += len(reports)
        if reports:
            self._last_progress = time.monotonic()
            self.watch.up()

    def _unstall(self) -> None:
        """The broker answers but nothing we sent is confirmed for a long time: after a broker
        restart that lost producer state, librdkafka's idempotent producer can loop on "unknown
        producer id" without ever failing (seen with Tansu). A new producer gets a new id."""
        waiting_since = max(self._last_progress, self.watch.up_since)
        if self._in_flight == 0:
            self._last_progress = time.monotonic()
        elif time.monotonic() - waiting_since > STALL_S:
            log.warning(
                "no delivery confirmed for %.0f s with %d messages in flight and the broker "
                "answering: replacing the producer",
                time.monotonic() - self._last_progress,
                self._in_flight,
            )
            self._fatal = True

    def _replace_producer(self) -> None:
        """An idempotent producer that hit a fatal error (e.g. the broker forgot its producer
        id) cannot go on; a new one takes over and everything unconfirmed is sent again."""
        log.warning("kafka producer hit a fatal error; replacing it and re-sending")
        self._producer.purge(in_queue=True, in_flight=True)
        self._producer.poll(0)
        self._settle()
        self._producer = self._new_producer()
        self._in_flight = 0
        self._fatal = False
        self._last_progress = time.monotonic()
        self.spool.requeue_in_flight()

    def refill_lost(self) -> int:
        """Send again what the broker acknowledged but no longer has (see module docstring)."""
        futures = self._admin.describe_topics(TopicCollection([self.topic]), request_timeout=5.0)
        try:
            topic_id = str(futures[self.topic].result(timeout=5.0).topic_id)
        except TimeoutError:
            raise KafkaUnavailable(f"no answer describing {self.topic}") from None
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise KafkaUnavailable(f"cannot describe {self.topic}: {error.str()}") from None
            self._topics_ready = False  # the broker lost the topic itself: create it again
            return 0
        self.watch.up()  # the broker answered
        known = self.spool.remembered(TOPIC_ID)
        resent = 0
        if known is not None and known != topic_id:
            resent = self.spool.resend_delivered()
            log.warning(
                "topic %s was created anew on the broker (id %s, was %s): its messages are "
                "gone; re-sending the %d delivered messages kept",
                self.topic,
                topic_id,
                known,
                resent,
            )
            self.resent += resent
        if known != topic_id:
            self.spool.remember(TOPIC_ID, topic_id)
        return resent
