"""The store under faults: a full disk, the file deleted under the process, a second process,
and the health and summaries that must say so."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.bus import MemoryBus
from pipeline.clock import FixedClock, ObservedClock
from pipeline.codec import encode_observation
from pipeline.observation import Observation
from pipeline.runtime import Pipeline
from pipeline.settings import (
    BusSettings,
    DetectorSettings,
    PipelineSettings,
    RuleSettings,
    ValidationSettings,
)
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.stations import DEFAULT_STATIONS
from pipeline.store import Store, StoreError
from pipeline.variables import STANDARD_VARIABLES
from tests.test_pipeline import NAMES, QUIET, START
from tests.test_store import stored_rows

MASS_TUI = [sys.executable, "-m", "mass_tui"]


def settings(capacity: int = 100_000) -> PipelineSettings:
    return PipelineSettings(
        stations=DEFAULT_STATIONS,
        variables=STANDARD_VARIABLES,
        bus=BusSettings(capacity=capacity),
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
    )


def feed(pipeline: Pipeline, simulator: StationSimulator, clock: FixedClock, step: int, n: int):
    first = START + step * 60.0
    clock.set(first + n * 60.0)
    block = simulator.generate(first, n, 60.0)
    pipeline.bus.publish(block.to_observations(DEFAULT_STATIONS, NAMES))
    pipeline.process_pending()


def test_a_full_disk_keeps_processed_batches_and_stores_them_once_it_has_room(tmp_path):
    store = Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e9)
    clock = FixedClock(START)
    pipeline = Pipeline(settings(), clock=clock, source=None, bus=MemoryBus(100_000), store=store)
    simulator = StationSimulator(DEFAULT_STATIONS, STANDARD_VARIABLES, QUIET)
    feed(pipeline, simulator, clock, 0, 10)
    assert pipeline.analytics.counters.stored == 50
    (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL from here on
    for step in range(10, 400, 30):
        feed(pipeline, simulator, clock, step, 30)
    counters = pipeline.analytics.counters
    assert counters.waiting == 5 * 30 * 13 and counters.stored == 50
    assert pipeline.bus.depth() == counters.waiting  # not acknowledged: the source is held back
    assert any("database or disk is full" in p for p in pipeline.problems())
    store._conn.execute("PRAGMA max_page_count = 1073741823")  # room again
    feed(pipeline, simulator, clock, 400, 2)
    assert counters.waiting == 0 and counters.lost == 0
    assert counters.stored == 50 + 5 * 30 * 13 + 10
    assert stored_rows(store)[0] == counters.stored
    assert pipeline.bus.depth() == 0 and pipeline.analytics.store_error is None


def test_a_full_disk_keeps_the_readings_of_stations_it_has_not_recorded_yet(tmp_path, monkeypatch):
    """Recording a new station failed before the batch was analysed: every reading of the
    batch was quarantined as "processing failed" (valid readings filed as bad input), and
    the quarantine rows, which could not be written either, were counted as kept."""
    store = Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e9)
    clock = FixedClock(START)
    pipeline = Pipeline(settings(), clock=clock, source=None, bus=MemoryBus(100_000), store=store)
    simulator = StationSimulator(DEFAULT_STATIONS, STANDARD_VARIABLES, QUIET)
    feed(pipeline, simulator, clock, 0, 2)
    record = store.station_key

    def full_disk(station):
        raise StoreError(f"cannot record station {station.station_id}: database or disk is full")

    monkeypatch.setattr(store, "station_key", full_disk)
    newcomers = [
        Observation(f"new{i}", "New", None, None, START + 600.0, "test", {"temperature_c": 5.0})
        for i in range(40)
    ]
    clock.set(START + 600.0)
    pipeline.bus.publish(newcomers)
    pipeline.process_pending()
    counters = pipeline.analytics.counters
    assert counters.rejected_messages == 0 and counters.waiting == 40
    monkeypatch.setattr(store, "station_key", record)  # room again
    feed(pipeline, simulator, clock, 20, 1)
    assert counters.waiting == 0 and counters.lost == 0
    assert stored_rows(store)[0] == 10 + 40 + 5 and stored_rows(store)[2] == 0


def test_what_a_full_disk_never_took_is_counted_lost_at_exit(tmp_path):
    store = Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e9)
    clock = FixedClock(START)
    pipeline = Pipeline(settings(), clock=clock, source=None, bus=MemoryBus(100_000), store=store)
    simulator = StationSimulator(DEFAULT_STATIONS, STANDARD_VARIABLES, QUIET)
    feed(pipeline, simulator, clock, 0, 2)
    (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    feed(pipeline, simulator, clock, 2, 60)
    pipeline.stop()
    assert pipeline.analytics.counters.lost == 300


def test_a_store_deleted_under_the_running_process_is_reported(tmp_path):
    path = tmp_path / "m.sqlite3"
    store = Store(path, NAMES, retention_s=1e9)
    clock = FixedClock(START)
    pipeline = Pipeline(settings(), clock=clock, source=None, bus=MemoryBus(100_000), store=store)
    simulator = StationSimulator(DEFAULT_STATIONS, STANDARD_VARIABLES, QUIET)
    feed(pipeline, simulator, clock, 0, 2)
    assert pipeline.problems() == []
    stored = pipeline.analytics.counters.stored
    path.unlink()
    feed(pipeline, simulator, clock, 2, 2)
    assert any("was deleted while running" in p for p in pipeline.problems())
    # What went on to the unlinked file was never "stored": it waits, and at exit is lost.
    assert pipeline.analytics.counters.stored == stored
    assert pipeline.analytics.counters.waiting == 10
    pipeline.stop()
    assert (pipeline.analytics.counters.waiting, pipeline.analytics.counters.lost) == (0, 10)


def test_a_store_that_cannot_close_on_a_full_disk_is_said_not_raised(tmp_path, monkeypatch):
    """The last checkpoint failing (a full disk) used to raise out of stop(), so headless
    printed no summary at all."""
    store = Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e9)
    pipeline = Pipeline(
        settings(), clock=FixedClock(START), source=None, bus=MemoryBus(10), store=store
    )
    real_close = store.close

    def full_disk_close() -> None:
        real_close()
        raise StoreError(f"{store.path}: cannot close the store: database or disk is full")

    monkeypatch.setattr(store, "close", full_disk_close)
    pipeline.stop()
    assert any("cannot close the store: database or disk is full" in p for p in pipeline.problems())


def test_a_second_store_on_the_same_data_names_the_process_that_holds_it(tmp_path):
    first = Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e9)
    try:
        with pytest.raises(StoreError, match=r"is in use by process \d+"):
            Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e9)
    finally:
        first.close()
    Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e9).close()  # free once closed


@pytest.mark.parametrize(
    "second_command", [["headless", "--duration", "5"], []], ids=["headless", "console"]
)
def test_a_second_process_on_the_same_data_dir_exits_2_naming_the_first(tmp_path, second_command):
    """The console ran a second pipeline without storage (notifying people twice) instead."""
    data = tmp_path / "d"
    first = subprocess.Popen(
        [*MASS_TUI, "headless", "--duration", "30", "--data-dir", str(data)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (data / "mass.sqlite3.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        second = subprocess.run(
            [*MASS_TUI, *second_command, "--data-dir", str(data)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        first.terminate()
        first.communicate(timeout=30)
    assert second.returncode == 2
    assert f"is in use by process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr and second.stderr.count("\n") == 1


def test_health_stays_failing_while_most_messages_are_rejected(tmp_path):
    pipeline = Pipeline(
        settings(), clock=FixedClock(START), source=None, bus=MemoryBus(1000), store=None
    )
    bad = Observation("lon", "London", 0, 0, START + 86_400 * 30, "t", {"temperature_c": 1.0})
    pipeline.bus.publish([bad] * 100)
    pipeline.process_pending()
    assert any(
        p.startswith("input failing: rejecting 100% of messages") for p in pipeline.problems()
    )


def replayed_alerts(tmp_path: Path, pace: str) -> list[tuple]:
    """The demo front's alerts from a replay of a simulated file, fast or paced."""
    from pipeline.sources.replay import ReplaySource

    simulator = StationSimulator(DEFAULT_STATIONS, STANDARD_VARIABLES, QUIET)
    simulator.schedule_front("lon", START + 3 * 3600, depth_hpa=9.0, fall_hours=2.0)
    block = simulator.generate(START, 12 * 60, 60.0)
    path = tmp_path / f"{pace}.jsonl"
    path.write_bytes(
        b"\n".join(map(encode_observation, block.to_observations(DEFAULT_STATIONS, NAMES)))
    )
    clock = ObservedClock(0.0)
    pace_clock = FixedClock(0.0)
    source = ReplaySource(path, clock=pace_clock, pace=pace, speed=3600.0, batch=997)
    pipeline = Pipeline(
        settings(), clock=clock, source=source, bus=MemoryBus(100_000), store=None, replayed=True
    )
    changes = []
    pipeline.subscribe(alerts=lambda a: changes.append((a.key, a.last_transition, a.severity)))
    while not source.exhausted:
        pace_clock.advance(0.37)
        pipeline.bus.publish(source.poll())
        pipeline.process_pending()
    return changes


def test_a_replay_gives_the_same_alerts_fast_or_at_its_recorded_pace(tmp_path):
    fast = replayed_alerts(tmp_path, "fast")
    paced = replayed_alerts(tmp_path, "recorded")
    assert any(t == "opened" for _, t, _ in fast)
    assert any(t == "cleared" for _, t, _ in fast)
    assert fast == paced


def test_a_replay_whose_store_is_deleted_ends_by_itself_and_counts_the_rest_lost(tmp_path):
    """It waited for a store that could never come back until someone pressed Ctrl-C."""
    stream = tmp_path / "obs.jsonl"
    stream.write_text(
        "".join(
            json.dumps(
                {"station_id": "s1", "observed_at": START + 60 * i, "values": {"temperature_c": 9}}
            )
            + "\n"
            for i in range(200)
        )
    )
    config = tmp_path / "paced.toml"
    config.write_text("[source.replay]\npace = 'recorded'\nspeed = 1200.0\n")  # 10 s
    data = tmp_path / "d"
    source = ["--source", f"replay:{stream}"]
    proc = subprocess.Popen(
        [*MASS_TUI, "headless", "--config", str(config), "--data-dir", str(data), *source],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    (data / "mass.sqlite3").unlink()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "LOST" in err.strip().splitlines()[-1] and "Traceback" not in err
