"""``mass-tui bench``: throughput, memory and detection quality of the embedded pipeline.

Simulated observations are generated chunk by chunk (not timed) and pushed through the same
path the console runs: the in-memory bus, validation, de-duplication, detectors, rules, alerts
and, in the second pass, the SQLite store. Only that processing is timed, in this one thread,
so the figures are per core. Detection quality compares the anomalies with the simulator's
labelled events (its ground truth).
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import msgspec
import numpy as np

from mass_tui.config import LoadedSettings, pipeline_settings
from pipeline.anomaly import Anomaly
from pipeline.bus import MemoryBus
from pipeline.clock import FixedClock
from pipeline.runtime import Pipeline
from pipeline.simulator import LabelledEvent, StationSimulator
from pipeline.store import Store

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a fixed start keeps runs comparable
CHUNK_OBSERVATIONS = 20_000
DETECTABLE = ("spike", "stuck", "dropout", "frontal_passage")
GRACE_SAMPLES = 30
"""An anomaly up to this many readings after a labelled event on the same series is put down
to it (a frozen sensor that recovers jumps back; a spike lingers in the rolling window)."""


@dataclass(slots=True)
class Quality:
    event_recall: float
    recall_by_kind: dict[str, str]
    fronts_found_by_pressure_rule: str
    false_alarms_per_1k: float
    false_alarms: int
    median_detection_delay_s: float | None


@dataclass(slots=True)
class BenchResult:
    n_obs: int
    n_stations: int
    n_variables: int
    obs_per_s: float
    obs_per_s_detect_only: float
    peak_rss_mb: float
    anomalies: int
    event_recall: float
    false_alarms_per_1k: float
    median_detection_delay_s: float | None
    recall_by_kind: dict[str, str]
    fronts_found_by_pressure_rule: str


def _run(
    loaded: LoadedSettings,
    simulator: StationSimulator,
    stations,
    n_obs: int,
    batch: int,
    store: Store | None,
) -> tuple[float, list[Anomaly], int]:
    """Push ``n_obs`` simulated observations through a pipeline; returns (seconds, anomalies,
    observations accepted)."""
    settings = loaded.settings
    interval = settings.simulator.interval_s
    names = [v.name for v in loaded.variables]
    clock = FixedClock(START)
    pipeline = Pipeline(
        replace(
            pipeline_settings(loaded, stations),
            bus=msgspec.structs.replace(settings.bus, batch_size=batch),
        ),
        clock=clock,
        source=None,  # fed directly below
        bus=MemoryBus(CHUNK_OBSERVATIONS + batch),
        store=store,
    )
    anomalies: list[Anomaly] = []
    pipeline.subscribe(anomalies=anomalies.append)
    steps_per_chunk = max(1, CHUNK_OBSERVATIONS // len(stations))
    total_steps = math.ceil(n_obs / len(stations))
    elapsed = 0.0
    step = 0
    while step < total_steps:
        steps = min(steps_per_chunk, total_steps - step)
        first = START + step * interval
        observations = simulator.generate(first, steps, interval).to_observations(
            stations, names, source="simulator"
        )
        clock.set(first + steps * interval)
        began = time.perf_counter()
        pipeline.bus.publish(observations)
        pipeline.process_pending()
        elapsed += time.perf_counter() - began
        step += steps
    if store is not None:
        began = time.perf_counter()
        store.close()
        elapsed += time.perf_counter() - began
    return elapsed, anomalies, pipeline.analytics.counters.accepted


def run_with_storage(
    loaded: LoadedSettings, simulator: StationSimulator, stations, n_obs: int, batch: int
) -> tuple[float, int]:
    """The pass the console runs, storing in a scratch SQLite file: (seconds, accepted)."""
    with tempfile.TemporaryDirectory(prefix="mass-bench-") as scratch:
        store = Store(
            Path(scratch) / "bench.sqlite3",
            [v.name for v in loaded.variables],
            retention_s=loaded.settings.storage.retention_days * 86_400,
        )
        seconds, _, accepted = _run(loaded, simulator, stations, n_obs, batch, store)
    return seconds, accepted


def _explains(event: LabelledEvent, anomaly: Anomaly, grace: float) -> bool:
    return (
        event.station_id == anomaly.station_id
        and event.variable in ("*", anomaly.variable)
        and event.start <= anomaly.observed_at <= event.end + grace
    )


def assess(
    events: list[LabelledEvent],
    anomalies: list[Anomaly],
    n_obs: int,
    interval: float,
    run: tuple[float, float],
) -> Quality:
    """Recall counts events wholly inside the run (one cut off at either end cannot be judged);
    every event, cut off or not, explains the anomalies it causes."""
    grace = GRACE_SAMPLES * interval
    by_station: dict[str, list[Anomaly]] = defaultdict(list)
    for anomaly in anomalies:
        by_station[anomaly.station_id].append(anomaly)
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fronts = [0, 0]
    delays = []
    for event in events:
        if event.start < run[0] or event.end > run[1]:
            continue
        candidates = [a for a in by_station[event.station_id] if _explains(event, a, grace)]
        if event.kind == "frontal_passage":
            fronts[1] += 1
            fronts[0] += any(a.detector == "pressure_fall" for a in candidates)
        if event.kind not in DETECTABLE:
            continue
        found[event.kind][1] += 1
        if candidates:
            found[event.kind][0] += 1
            delays.append(min(a.observed_at for a in candidates) - event.start)
    explained_events = defaultdict(list)
    for event in events:
        explained_events[event.station_id].append(event)
    false = sum(
        not any(_explains(e, a, grace) for e in explained_events[a.station_id]) for a in anomalies
    )
    hit = sum(v[0] for v in found.values())
    total = sum(v[1] for v in found.values())
    return Quality(
        event_recall=hit / total if total else math.nan,
        recall_by_kind={kind: f"{v[0]}/{v[1]}" for kind, v in sorted(found.items())},
        fronts_found_by_pressure_rule=f"{fronts[0]}/{fronts[1]}",
        false_alarms_per_1k=1000 * false / n_obs if n_obs else math.nan,
        false_alarms=false,
        median_detection_delay_s=float(np.median(delays)) if delays else None,
    )


def run_bench(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    sim_settings = loaded.settings.simulator
    pool = StationSimulator.stations_for(
        msgspec.structs.replace(sim_settings, extra_stations=max(0, args.stations))
    )
    stations = pool[: args.stations]
    simulator = StationSimulator(stations, loaded.variables, sim_settings)
    progress = sys.stderr if not args.json else None

    def say(message: str) -> None:
        if progress:
            print(message, file=progress, flush=True)

    batch = args.batch or loaded.settings.bus.batch_size
    say(
        f"bench: {args.observations} observations, {len(stations)} stations, "
        f"{len(loaded.variables)} variables, batches of {batch}"
    )
    detect_s, anomalies, accepted = _run(
        loaded, simulator, stations, args.observations, batch, None
    )
    say(f"  detect-only: {accepted / detect_s:,.0f} obs/s")
    stored_s, stored_accepted = run_with_storage(
        loaded, simulator, stations, args.observations, batch
    )
    say(f"  with storage: {stored_accepted / stored_s:,.0f} obs/s")
    interval = sim_settings.interval_s
    end = START + math.ceil(args.observations / len(stations)) * interval
    quality = assess(
        simulator.events(START, end, interval), anomalies, accepted, interval, (START, end)
    )
    result = BenchResult(
        n_obs=accepted,
        n_stations=len(stations),
        n_variables=len(loaded.variables),
        obs_per_s=round(stored_accepted / stored_s, 1),
        obs_per_s_detect_only=round(accepted / detect_s, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        anomalies=len(anomalies),
        event_recall=round(quality.event_recall, 4),
        false_alarms_per_1k=round(quality.false_alarms_per_1k, 4),
        median_detection_delay_s=quality.median_detection_delay_s,
        recall_by_kind=quality.recall_by_kind,
        fronts_found_by_pressure_rule=quality.fronts_found_by_pressure_rule,
    )
    print_result(asdict(result), as_json=args.json)
    return 0


def print_result(figures: dict, *, as_json: bool) -> None:
    """One JSON object, or a figure a line."""
    if as_json:
        print(msgspec.json.encode(figures).decode())
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")
