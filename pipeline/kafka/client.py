"""Connection settings, topic creation and broker reachability, shared by every Kafka role.

librdkafka never fails at construction when the broker is away: it reconnects by itself and
reports through ``error_cb``. :class:`BrokerWatch` turns those reports (and successful calls)
into one state the console and the log can show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.errors import MassError
from pipeline.settings import KafkaSettings

log = logging.getLogger(__name__)

# librdkafka error codes that mean "cannot reach the cluster" rather than a bad request.
UNREACHABLE = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}


class KafkaUnavailable(MassError):
    """The broker could not be reached (or refused) within the time allowed."""


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """What every client needs to reach the cluster; ``sasl_password`` comes from the
    environment only (``KAFKA_SASL_PASSWORD``) and is never logged."""

    settings: KafkaSettings
    sasl_password: str = ""

    @classmethod
    def from_environment(
        cls, settings: KafkaSettings, environ: Mapping[str, str]
    ) -> KafkaConnection:
        return cls(settings, environ.get("KAFKA_SASL_PASSWORD", ""))

    def config(self, **extra: Any) -> dict[str, Any]:
        s = self.settings
        conf: dict[str, Any] = {
            "bootstrap.servers": s.bootstrap_servers,
            "client.id": s.client_id,
            "security.protocol": s.security_protocol,
            # librdkafka's own log goes to the log file, never to the terminal (the console).
            "logger": logging.getLogger("librdkafka"),
        }
        if s.sasl_mechanism:
            conf["sasl.mechanism"] = s.sasl_mechanism
        if s.sasl_username:
            conf["sasl.username"] = s.sasl_username
        if self.sasl_password:
            conf["sasl.password"] = self.sasl_password
        if s.ssl_ca_location:
            conf["ssl.ca.location"] = s.ssl_ca_location
        conf.update(extra)
        return conf


class BrokerWatch:
    """Whether the broker answered lately, from client callbacks (any thread)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._lock = threading.Lock()
        self._up: bool | None = None  # None: not heard from yet
        self._error = ""
        self._since = time.monotonic()

    def on_error(self, error: KafkaError) -> None:
        """``error_cb`` for every client: a transport error marks the broker down."""
        if error.code() in UNREACHABLE:
            self.down(error.str())
        else:
            log.warning("kafka: %s", error.str())

    def down(self, reason: str) -> None:
        # librdkafka says "host:port/bootstrap: Connect to ipv4#... failed: Connection refused
        # (after 0ms in state CONNECT)": keep the part a person needs.
        reason = reason.split("failed: ")[-1].split(" (after")[0]
        with self._lock:
            if self._up is not False:
                log.warning("kafka broker %s unreachable: %s", self.bootstrap, reason)
                self._since = time.monotonic()
            self._up, self._error = False, reason

    def up(self) -> None:
        with self._lock:
            if self._up is False:
                log.info("kafka broker %s reachable again", self.bootstrap)
            if self._up is not True:
                self._since = time.monotonic()
            self._up, self._error = True, ""

    @property
    def up_since(self) -> float:
        """When (monotonic) the broker last came up; +inf while it is not up."""
        with self._lock:
            return self._since if self._up is True else float("inf")

    @property
    def is_up(self) -> bool:
        with self._lock:
            return self._up is True

    @property
    def is_down(self) -> bool:
        with self._lock:
            return self._up is False

    def state(self) -> str:
        """``up``, ``connecting`` or ``unreachable for 12 s: <reason>``."""
        with self._lock:
            if self._up is None:
                return "connecting"
            if self._up:
                return "up"
            down_s = time.monotonic() - self._since
            return (
                f"unreachable for {down_s:.0f} s: {self._error}"
                if down_s >= 1
                else (f"unreachable: {self._error}")
            )


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int


def topic_specs(settings: KafkaSettings) -> list[TopicSpec]:
    """The observations, anomalies and dead-letter topics, created with the configured size,
    and the commands topic, with one partition (one order for every worker)."""
    return [
        TopicSpec(name, settings.partitions, settings.replication_factor)
        for name in (settings.topic, settings.anomalies_topic, settings.dead_letter_topic)
    ] + [TopicSpec(settings.commands_topic, 1, settings.replication_factor)]


def ensure_topics(admin: AdminClient, specs: list[TopicSpec], timeout: float = 10.0) -> list[str]:
    """Create the topics that do not exist; returns those created. Raises
    :class:`KafkaUnavailable` when the broker does not answer in ``timeout``."""
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot list topics: {exc.args[0].str()}") from None
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, s.replication_factor) for s in missing],
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except TimeoutError:
            raise KafkaUnavailable(f"no answer creating topic {name}") from None
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another client won the race
                raise KafkaUnavailable(f"cannot create topic {name}: {error.str()}") from None
    if created:
        log.info("created kafka topics %s", ", ".join(created))
    return created
