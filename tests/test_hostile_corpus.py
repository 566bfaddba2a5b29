"""A corpus of 100,000 hostile messages among 20,000 sound ones (tests/hostile_corpus.py),
through ``mass-tui headless`` replaying it and through a Kafka worker reading it from the
broker: every sound observation stored exactly once, every rejection quarantined, exact counts,
bounded memory. A worker dead-letters what the codec refuses; what validation refuses decoded
fine, so it is quarantined in the worker's store only.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from mass_tui.assemble import build_worker, open_store
from pipeline.clock import SystemClock
from pipeline.codec import decode_observation
from pipeline.kafka.client import ensure_topics, topic_specs
from pipeline.kafka.worker_bus import DEAD_LETTER_KEEP
from pipeline.observation import Observation
from pipeline.quarantine import MAX_PAYLOAD_CHARS
from pipeline.registry import StationRegistry
from pipeline.settings import ValidationSettings
from pipeline.text import has_control
from pipeline.validation import Validator
from pipeline.variables import STANDARD_VARIABLES
from tests.conftest import headless_lines
from tests.hostile_corpus import (
    INTERVAL,
    SQL_IDS,
    START,
    CorpusCounts,
    iso,
    message,
    write_corpus,
)
from tests.test_kafka import (
    assert_committed_to_the_end,
    assert_nothing_read_again,
    read_topic,
    settings_for,
    stored_keys,
    wait_for,
)

PEAK_RSS_LIMIT_MB = 600


@dataclass(frozen=True, slots=True)
class Corpus:
    path: Path
    counts: CorpusCounts


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    path = tmp_path_factory.mktemp("corpus") / "hostile.jsonl"
    return Corpus(path, write_corpus(path))


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """20,000 hostile and 5,070 sound messages: what a Kafka test can read in its time."""
    path = tmp_path_factory.mktemp("corpus") / "hostile-small.jsonl"
    counts = write_corpus(
        path, readings_per_station=250, hostile=20_000, duplicates=50, bad_readings=100
    )
    return Corpus(path, counts)


def test_the_corpus_is_as_large_and_as_hostile_as_it_says(corpus):
    """Each line decoded and validated on its own gives the counts the generator promises (so
    the tests below check the pipeline, not the generator)."""
    counts = corpus.counts
    assert counts.lines - counts.valid_unique - counts.duplicates >= 100_000  # hostile
    assert counts.valid_unique >= 20_000 and counts.big_lines == 5
    validator = Validator(STANDARD_VARIABLES, ValidationSettings(), SystemClock())
    registry = StationRegistry()
    undecodable = rejected = readings = analysed = 0
    with corpus.path.open("rb") as lines:
        for line in lines:
            decoded = decode_observation(line, received_at=0.0, source="check")
            if not isinstance(decoded, Observation):
                undecodable += 1
                continue
            frame, rejections = validator.to_frame([decoded], registry, 0.0)
            analysed += len(frame)
            rejected += sum(1 for r in rejections if r.variable is None)
            readings += sum(1 for r in rejections if r.variable is not None)
    assert undecodable == counts.undecodable
    assert rejected == counts.rejected_messages - counts.undecodable
    assert readings == counts.rejected_readings
    assert analysed == counts.valid_unique + counts.duplicates


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: str
    peak_rss_mb: float
    elapsed_s: float


def run_to_its_end(args: list[str], cwd: Path, timeout: float) -> Finished:
    """A command in a process of its own, to its exit, with the peak RSS of that process alone
    (``wait4``: ``RUSAGE_CHILDREN`` would be the largest of every child this run reaped)."""
    out, err = cwd / "stdout", cwd / "stderr"
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            env={k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MASS_"))},
        )
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    assert process.returncode >= 0, f"killed after {timeout} s: {err.read_text()[-2000:]}"
    return Finished(
        process.returncode, out.read_bytes(), err.read_text(), usage.ru_maxrss / 1024, elapsed
    )


SUMMARY = re.compile(
    r"([\d,]+) observations stored, ([\d,]+) duplicates, ([\d,]+) messages and ([\d,]+) "
    r"readings rejected \(quarantined\), ([\d,]+) waiting, ([\d,]+) lost"
)


def summary_numbers(stderr: str) -> list[int]:
    found = SUMMARY.findall(stderr)
    assert found, f"no summary on stderr: {stderr[-2000:]}"
    return [int(n.replace(",", "")) for n in found[-1]]


def test_headless_replay_stores_every_sound_observation_once_and_quarantines_the_rest(
    corpus, tmp_path
):
    counts = corpus.counts
    config = tmp_path / "replay.toml"
    config.write_text('[source.replay]\npace = "fast"\n')
    data = tmp_path / "data"
    finished = run_to_its_end(
        [
            sys.executable,
            "-m",
            "mass_tui",
            "headless",
            "--config",
            str(config),
            "--source",
            f"replay:{corpus.path}",
            "--data-dir",
            str(data),
        ],
        cwd=tmp_path,
        timeout=120,
    )
    print(
        f"headless replay: {counts.lines:,} lines ({corpus.path.stat().st_size / 1e6:.0f} MB)"
        f" in {finished.elapsed_s:.1f} s ({counts.lines / finished.elapsed_s:,.0f} lines/s),"
        f" peak RSS {finished.peak_rss_mb:.0f} MB"
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert summary_numbers(finished.stderr) == [
        counts.valid_unique,
        counts.duplicates,
        counts.rejected_messages,
        counts.rejected_readings,
        0,
        0,
    ]
    assert finished.peak_rss_mb < PEAK_RSS_LIMIT_MB
    anomalies, alerts = headless_lines(finished.stdout)  # JSON, and nothing a terminal obeys
    assert not any(has_control(a["station_id"]) for a in anomalies)
    assert not any(has_control(a["alert"]["station_id"]) for a in alerts)

    with sqlite3.connect(data / "mass.sqlite3") as db:
        stored = stored_keys(data / "mass.sqlite3")
        assert len(stored) == counts.valid_unique and set(stored.values()) == {1}
        assert {station for station, _ in stored} == counts.stations
        assert set(SQL_IDS) <= counts.stations  # SQL in an id is text: stored like any other
        (quarantined,) = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()
        (readings,) = db.execute(
            "SELECT COUNT(*) FROM quarantine WHERE variable IS NOT NULL"
        ).fetchone()
        (longest,) = db.execute("SELECT MAX(LENGTH(payload)) FROM quarantine").fetchone()
        names = [name for (name,) in db.execute("SELECT name FROM stations")]
    assert quarantined == counts.quarantined
    assert readings == counts.rejected_readings
    assert longest <= MAX_PAYLOAD_CHARS + 100
    assert names and not any(has_control(name) for name in names)
    assert any("\\x1b]52" in name for name in names)  # kept, escaped


def produce_lines(bootstrap: str, topic: str, path: Path, stamp_ms: int) -> int:
    """Every line of ``path`` as one message, as a plain client would send it. Stamped with
    the corpus's own time: the worker's clock follows the producers' stamps, and a wall-clock
    stamp (2026) would make its retention delete the 2025 readings it has just stored."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 2_000_000})
    sent = 0
    with path.open("rb") as lines:
        for line in lines:
            while True:
                try:
                    producer.produce(topic, line.rstrip(b"\n"), timestamp=stamp_ms)
                    break
                except BufferError:
                    producer.poll(0.5)
            sent += 1
    assert producer.flush(60) == 0
    return sent


def oversized_undecodable(path: Path) -> list[tuple[int, bytes]]:
    """The size and first :data:`DEAD_LETTER_KEEP` bytes of each line the codec refuses that
    is longer than that (the 1 MB lines, the deepest nestings): the dead letters to be cut."""
    with path.open("rb") as lines:
        long = [line.rstrip(b"\n") for line in lines if len(line) > DEAD_LETTER_KEEP + 1]
    return sorted(
        (len(line), line[:DEAD_LETTER_KEEP])
        for line in long
        if not isinstance(decode_observation(line, received_at=0.0, source="check"), Observation)
    )


def test_a_worker_stores_the_sound_dead_letters_the_undecodable_and_commits(
    kafka_broker, small_corpus, tmp_path
):
    counts = small_corpus.counts
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    kafka = loaded.settings.kafka
    ensure_topics(AdminClient({"bootstrap.servers": kafka_broker.bootstrap}), topic_specs(kafka))
    stamp_ms = int((START + 250 * INTERVAL) * 1000)
    assert produce_lines(kafka_broker.bootstrap, kafka.topic, small_corpus.path, stamp_ms) == (
        counts.lines
    )

    started = time.monotonic()
    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    c = pipeline.analytics.counters
    try:
        wait_for(lambda: c.received == counts.lines, 60, "every message")
        wait_for(lambda: c.stored == counts.valid_unique, 30, "the sound ones stored")
        wait_for(lambda: not bus._pending_offsets, 30, "the offsets to be committed")
    finally:
        pipeline.stop()
    elapsed = time.monotonic() - started
    print(f"kafka worker: {counts.lines:,} messages in {elapsed:.1f} s, joining the group included")
    assert bus.problem() == ""
    assert (c.stored, c.duplicates, c.rejected_messages, c.rejected_readings) == (
        counts.valid_unique,
        counts.duplicates,
        counts.rejected_messages,
        counts.rejected_readings,
    )
    stored = stored_keys(loaded.database_path)
    assert len(stored) == counts.valid_unique and set(stored.values()) == {1}
    with sqlite3.connect(loaded.database_path) as db:
        (quarantined,) = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()
    assert quarantined == counts.quarantined

    # What the codec refuses is dead-lettered; what validation refuses (ids with control
    # characters, far-future times...) decoded, so it is only quarantined.
    assert bus.dead_lettered == counts.undecodable
    letters = read_topic(kafka_broker.bootstrap, kafka.dead_letter_topic, counts.undecodable)
    assert len(letters) == counts.undecodable
    headers = [dict(letter.headers()) for letter in letters]
    assert all(h["reason"] for h in headers)
    cut = sorted(
        (int(h["original.size"]), letter.value())
        for letter, h in zip(letters, headers, strict=True)
        if h.get("truncated") == b"true"
    )
    assert cut == oversized_undecodable(small_corpus.path)

    assert_committed_to_the_end(kafka_broker.bootstrap, kafka.group_id, kafka.topic, counts.lines)
    assert_nothing_read_again(loaded)


def test_a_message_stamped_far_ahead_does_not_move_the_worker_s_clock(kafka_broker, tmp_path):
    loaded = settings_for(tmp_path, kafka_broker.bootstrap, "worker")
    kafka = loaded.settings.kafka
    ensure_topics(AdminClient({"bootstrap.servers": kafka_broker.bootstrap}), topic_specs(kafka))
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    stamp_ms = int((START + 600) * 1000)
    for step in range(5):
        line = message("st01", iso(START + step * INTERVAL), {"temperature_c": 10.0})
        producer.produce(kafka.topic, line, key=b"st01", timestamp=stamp_ms)
    year_2100_ms = 4_102_444_800_000
    producer.produce(kafka.topic, b"garbage", key=b"st01", timestamp=year_2100_ms)
    line = message("st01", "2099-06-01T00:00:00Z", {"temperature_c": 10.0})
    producer.produce(kafka.topic, line, key=b"st01", timestamp=stamp_ms)
    assert producer.flush(10) == 0

    pipeline, bus = build_worker(loaded, store=open_store(loaded), environ={})
    pipeline.start()
    try:
        wait_for(lambda: pipeline.analytics.counters.received == 7, 60, "every message")
        wait_for(lambda: not bus._pending_offsets, 30, "the offsets to be committed")
    finally:
        pipeline.stop()
    assert pipeline.analytics.counters.rejected_messages == 2  # the garbage, and 2099
    assert len(stored_keys(loaded.database_path)) == 5
    assert_nothing_read_again(loaded)
    assert len(stored_keys(loaded.database_path)) == 5  # retention after the restart
