"""``mass-tui bench --bus kafka --bootstrap HOST:PORT``: the worker's throughput through a
broker, next to a bare confluent-kafka consume loop over the same messages.

Simulated observations are produced once to a fresh topic (its name is printed), then read
twice, each time by a new consumer group from the beginning: by a bare loop that only counts
messages, and by a worker (decode, validate, detect, store in a scratch SQLite file, publish
anomalies to a fresh anomalies topic, commit offsets after each batch). Each is timed from its
first message to its last, so joining the group is not counted. The ratio is the share of the
broker's deliverable rate the worker keeps. For scale, the same observations also go through
the embedded pipeline (in-process bus, no JSON, same storage), and the same JSON messages
through the pipeline without a broker (``obs_per_s_from_json`` of ``mass-tui bench``): the
worker's share of that is what the broker path itself costs.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import msgspec
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from mass_tui.assemble import worker_pipeline
from mass_tui.bench import CHUNK_OBSERVATIONS, START, print_result, run_with_storage
from mass_tui.settings_layers import LoadedSettings
from pipeline.codec import encode_observation
from pipeline.kafka.client import KafkaConnection, KafkaUnavailable, TopicSpec, ensure_topics
from pipeline.kafka.worker_bus import WorkerBus
from pipeline.settings import KafkaSettings
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.store import Store

GIVE_UP_S = 120.0  # with no progress for this long, the broker is not delivering


@dataclass(slots=True)
class KafkaBenchResult:
    bootstrap: str
    topic: str
    partitions: int
    n_obs: int
    produce_msgs_per_s: float
    bare_consume_msgs_per_s: float
    worker_obs_per_s: float
    worker_share_of_bare: float
    embedded_obs_per_s: float
    worker_share_of_embedded: float
    from_json_obs_per_s: float  # the same JSON messages through the pipeline, no broker
    worker_share_of_from_json: float
    anomalies_published: int


def _produce(settings: KafkaSettings, messages: list[tuple[bytes, bytes]]) -> float:
    producer = Producer(
        KafkaConnection(settings).config(**{"linger.ms": 20, "compression.type": "lz4"})
    )
    began = time.perf_counter()
    for key, value in messages:
        while True:
            try:
                producer.produce(settings.topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush(60)
    if left:
        raise RuntimeError(f"the broker did not take {left} messages in 60 s")
    return len(messages) / (time.perf_counter() - began)


def _bare_consume(settings: KafkaSettings, expected: int) -> float:
    consumer = Consumer(
        KafkaConnection(settings).config(
            **{
                "group.id": f"{settings.group_id}-bare",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    consumer.subscribe([settings.topic])
    began: float | None = None
    count, last_progress = 0, time.monotonic()
    try:
        while count < expected:
            messages = consumer.consume(10_000, timeout=1.0)
            if not messages:
                if time.monotonic() - last_progress > GIVE_UP_S:
                    raise RuntimeError(f"bare consumer stuck at {count}/{expected}")
                continue
            if began is None:
                began = time.perf_counter()
            count += sum(1 for m in messages if m.error() is None)
            last_progress = time.monotonic()
        assert began is not None  # expected > 0: a message was read
        return count / (time.perf_counter() - began)
    finally:
        consumer.close()


def _worker(
    loaded: LoadedSettings, settings: KafkaSettings, expected: int, scratch: Path
) -> tuple[float, int]:
    store = Store(
        scratch / "bench.sqlite3",
        loaded.variable_names,
        retention_s=loaded.settings.storage.retention_days * 86_400,
    )
    bus = WorkerBus(KafkaConnection(settings), variables=loaded.variable_names)
    pipeline = worker_pipeline(loaded, bus, store)
    counters = pipeline.analytics.counters
    began: float | None = None
    last_progress = time.monotonic()
    try:
        while counters.accepted + counters.duplicates + counters.late < expected:
            delivery = pipeline.bus.consume(loaded.settings.bus.batch_size, timeout=1.0)
            if delivery.empty:
                if time.monotonic() - last_progress > GIVE_UP_S:
                    raise RuntimeError(f"worker stuck at {counters.accepted}/{expected}")
                continue
            if began is None:
                began = time.perf_counter()
            pipeline.process(delivery)
            last_progress = time.monotonic()
        assert began is not None  # expected > 0: a delivery was processed
        elapsed = time.perf_counter() - began
    finally:
        bus.close()
        store.close()
    return counters.accepted / elapsed, bus.events_published


def run_kafka_bench(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    base = loaded.settings.kafka
    run_id = uuid.uuid4().hex[:8]
    settings = msgspec.structs.replace(
        base,
        topic=f"mass-bench-{run_id}",
        anomalies_topic=f"mass-bench-{run_id}-anomalies",
        dead_letter_topic=f"mass-bench-{run_id}-dlq",
        commands_topic=f"mass-bench-{run_id}-commands",
        group_id=f"mass-bench-{run_id}",
    )
    say = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    sim = loaded.settings.simulator
    pool = StationSimulator.stations_for(
        msgspec.structs.replace(sim, extra_stations=max(0, args.stations))
    )
    stations = pool[: args.stations]
    simulator = StationSimulator(stations, loaded.variables, sim)
    names = loaded.variable_names
    steps = math.ceil(args.observations / len(stations))
    say(
        f"bench: {steps * len(stations)} observations of {len(stations)} stations -> "
        f"{settings.bootstrap_servers} topic {settings.topic} ({settings.partitions} partitions)"
    )
    messages = []
    per_chunk = max(1, CHUNK_OBSERVATIONS // len(stations))
    for step in range(0, steps, per_chunk):
        block = simulator.generate(
            START + step * sim.interval_s, min(per_chunk, steps - step), sim.interval_s
        )
        messages += [
            (o.station_id.encode(), encode_observation(o))
            for o in block.to_observations(stations, names, source="simulator")
        ]
    admin = AdminClient(KafkaConnection(settings).config())
    try:
        ensure_topics(
            admin,
            [
                TopicSpec(t, settings.partitions, settings.replication_factor)
                for t in (settings.topic, settings.anomalies_topic, settings.dead_letter_topic)
            ],
        )
    except KafkaUnavailable as exc:
        print(f"mass-tui bench: broker {settings.bootstrap_servers}: {exc}", file=sys.stderr)
        return 2
    produce_rate = _produce(settings, messages)
    say(f"  produce: {produce_rate:,.0f} msgs/s")
    bare_rate = _bare_consume(settings, len(messages))
    say(f"  bare consume loop: {bare_rate:,.0f} msgs/s")
    with tempfile.TemporaryDirectory(prefix="mass-bench-") as scratch:
        worker_rate, published = _worker(loaded, settings, len(messages), Path(scratch))
    say(f"  worker: {worker_rate:,.0f} obs/s ({worker_rate / bare_rate:.0%} of bare)")

    def without_broker(from_json: bool) -> float:
        """The same observations through the pipeline in this process, stored likewise."""
        seconds, accepted = run_with_storage(
            loaded,
            StationSimulator(stations, loaded.variables, sim),
            stations,
            len(messages),
            loaded.settings.bus.batch_size,
            from_json=from_json,
        )
        return accepted / seconds

    embedded_rate = without_broker(from_json=False)
    say(
        f"  embedded pipeline: {embedded_rate:,.0f} obs/s"
        f" (the worker keeps {worker_rate / embedded_rate:.0%})"
    )
    json_rate = without_broker(from_json=True)
    say(
        f"  the same JSON without a broker: {json_rate:,.0f} obs/s"
        f" (the worker keeps {worker_rate / json_rate:.0%})"
    )
    result = KafkaBenchResult(
        bootstrap=settings.bootstrap_servers,
        topic=settings.topic,
        partitions=settings.partitions,
        n_obs=len(messages),
        produce_msgs_per_s=round(produce_rate, 1),
        bare_consume_msgs_per_s=round(bare_rate, 1),
        worker_obs_per_s=round(worker_rate, 1),
        worker_share_of_bare=round(worker_rate / bare_rate, 3),
        embedded_obs_per_s=round(embedded_rate, 1),
        worker_share_of_embedded=round(worker_rate / embedded_rate, 3),
        from_json_obs_per_s=round(json_rate, 1),
        worker_share_of_from_json=round(worker_rate / json_rate, 3),
        anomalies_published=published,
    )
    print_result(asdict(result), as_json=args.json)
    return 0
