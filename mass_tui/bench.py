"""``mass-tui bench``: throughput, memory and detection quality of the embedded pipeline.

Simulated observations are generated chunk by chunk (not timed) and pushed through the same
path the console runs (:func:`mass_tui.evaluation.runner.run_chunks`): the in-memory bus,
validation, de-duplication, detectors, rules, alerts and, in the second pass, the SQLite
store. Only that processing is timed, in this one thread, so the figures are per core.
Detection quality compares the anomalies with the simulator's labelled events (its ground
truth), as ``mass-tui evaluate`` does. The same observations are also fed as wire JSON (what a
Kafka worker receives: decoding timed with the rest), next to msgspec decoding those bytes and
nothing else, the limit any pipeline taking JSON works under.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import msgspec

from mass_tui.bench_memory import measure_peak_rss, peak_rss_mb
from mass_tui.evaluation.matching import match
from mass_tui.evaluation.runner import run_chunks
from mass_tui.evaluation.simulated import (
    CHUNK_OBSERVATIONS,
    GRACE_SAMPLES,
    START,
    simulated_chunks,
    simulated_stations,
)
from mass_tui.settings_layers import LoadedSettings
from pipeline.codec import WireObservation, encode_observation
from pipeline.observation import Observation
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.stations import Station
from pipeline.store import Store

__all__ = ["CHUNK_OBSERVATIONS", "START", "print_result", "run_bench", "run_with_storage"]


@dataclass(slots=True)
class BenchResult:
    n_obs: int
    n_stations: int
    n_variables: int
    obs_per_s: float
    obs_per_s_detect_only: float
    obs_per_s_from_json: float  # wire JSON bytes -> decode -> detect -> store
    obs_per_s_from_json_detect_only: float
    decode_only_obs_per_s: float  # msgspec decoding the same bytes, nothing else: the limit
    peak_rss_mb: float  # a fresh process taking the JSON through detection and storage
    bench_peak_rss_mb: float  # this process: the simulator and every pass included
    anomalies: int
    event_recall: float | None
    false_alarms_per_1k: float | None
    median_detection_delay_s: float | None
    recall_by_kind: dict[str, str]


def _steps(n_obs: int, stations: list[Station]) -> int:
    return math.ceil(n_obs / len(stations))


def run_with_storage(
    loaded: LoadedSettings,
    simulator: StationSimulator,
    stations: list[Station],
    n_obs: int,
    batch: int,
    *,
    from_json: bool = False,
) -> tuple[float, int]:
    """The pass the console runs, storing in a scratch SQLite file: (seconds, accepted)."""
    names = loaded.variable_names
    with tempfile.TemporaryDirectory(prefix="mass-bench-") as scratch:
        store = Store(
            Path(scratch) / "bench.sqlite3",
            names,
            retention_s=loaded.settings.storage.retention_days * 86_400,
        )
        chunks = simulated_chunks(simulator, stations, names, _steps(n_obs, stations))
        outcome = run_chunks(
            loaded, stations, encoded(chunks) if from_json else chunks, batch=batch, store=store
        )
    return outcome.seconds, outcome.accepted


def encoded(
    chunks: Iterable[tuple[float, list[Observation]]],
) -> Iterator[tuple[float, list[bytes]]]:
    """The chunks as wire JSON messages (what a Kafka worker receives); encoding is not timed."""
    for now, observations in chunks:
        yield now, [encode_observation(o) for o in observations]


def decode_only(chunks: Iterable[tuple[float, list[bytes]]]) -> tuple[float, int]:
    """msgspec decoding the messages into its structs and nothing more: (seconds, messages)."""
    decode = msgspec.json.Decoder(WireObservation).decode
    seconds, count = 0.0, 0
    for _, payloads in chunks:
        began = time.perf_counter()
        for payload in payloads:
            decode(payload)
        seconds += time.perf_counter() - began
        count += len(payloads)
    return seconds, count


def run_bench(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    simulator, stations = simulated_stations(loaded, args.stations)
    progress = sys.stderr if not args.json else None

    def say(message: str) -> None:
        if progress:
            print(message, file=progress, flush=True)

    batch = args.batch or loaded.settings.bus.batch_size
    names = loaded.variable_names
    say(
        f"bench: {args.observations} observations, {len(stations)} stations, "
        f"{len(loaded.variables)} variables, batches of {batch}"
    )
    steps = _steps(args.observations, stations)
    detected = run_chunks(
        loaded, stations, simulated_chunks(simulator, stations, names, steps), batch=batch
    )
    say(f"  detect-only: {detected.accepted / detected.seconds:,.0f} obs/s")
    stored_s, stored_accepted = run_with_storage(
        loaded, simulator, stations, args.observations, batch
    )
    say(f"  with storage: {stored_accepted / stored_s:,.0f} obs/s")
    decode_s, decoded = decode_only(encoded(simulated_chunks(simulator, stations, names, steps)))
    say(f"  decode only (msgspec): {decoded / decode_s:,.0f} obs/s")
    json_detected = run_chunks(
        loaded,
        stations,
        encoded(simulated_chunks(simulator, stations, names, steps)),
        batch=batch,
    )
    say(f"  from JSON, detect-only: {json_detected.accepted / json_detected.seconds:,.0f} obs/s")
    json_s, json_accepted = run_with_storage(
        loaded, simulator, stations, args.observations, batch, from_json=True
    )
    say(f"  from JSON, with storage: {json_accepted / json_s:,.0f} obs/s")
    worker_peak_mb, _ = measure_peak_rss(
        loaded,
        stations,
        encoded(simulated_chunks(simulator, stations, names, steps)),
        batch,
    )
    say(f"  peak RSS of a process taking the JSON to the store: {worker_peak_mb:,.0f} MB")
    interval = simulator.settings.interval_s
    end = START + steps * interval
    matched = match(
        simulator.events(START, end, interval),
        detected.anomalies,
        grace=GRACE_SAMPLES * interval,
        run=(START, end),
        station_days=len(stations) * steps * interval / 86_400,
    )
    quality = matched.as_dict()
    false_alarms = matched.false_alarms
    recall, median_delay = quality["recall"], quality["median_delay_s"]
    assert recall is None or isinstance(recall, float)  # Matched.as_dict: _round(...)
    assert median_delay is None or isinstance(median_delay, float)
    result = BenchResult(
        n_obs=detected.accepted,
        n_stations=len(stations),
        n_variables=len(loaded.variables),
        obs_per_s=round(stored_accepted / stored_s, 1),
        obs_per_s_detect_only=round(detected.accepted / detected.seconds, 1),
        obs_per_s_from_json=round(json_accepted / json_s, 1),
        obs_per_s_from_json_detect_only=round(json_detected.accepted / json_detected.seconds, 1),
        decode_only_obs_per_s=round(decoded / decode_s, 1),
        peak_rss_mb=round(worker_peak_mb, 1),
        bench_peak_rss_mb=round(peak_rss_mb(), 1),
        anomalies=len(detected.anomalies),
        event_recall=recall,
        false_alarms_per_1k=round(1000 * false_alarms / detected.accepted, 4)
        if detected.accepted
        else None,
        median_detection_delay_s=median_delay,
        recall_by_kind={
            kind: f"{f.detected}/{f.events}"
            for kind, f in sorted(matched.by_kind.items())  # as in Matched.as_dict
            if f.events
        },
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
