"""Corpus (a): the station simulator, with its exact labels."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import msgspec

from mass_tui.evaluation.matching import Matched, match, weather_alarms_on_faults
from mass_tui.evaluation.runner import Outcome, run_chunks
from mass_tui.settings_layers import LoadedSettings
from pipeline.observation import Observation
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.stations import Station

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a fixed start keeps runs comparable
CHUNK_OBSERVATIONS = 20_000
GRACE_SAMPLES = 30
"""An anomaly up to this many readings after a labelled event on the same series is put down
to it (a frozen sensor that recovers jumps back; a spike lingers in the rolling window)."""


def simulated_stations(
    loaded: LoadedSettings, count: int
) -> tuple[StationSimulator, list[Station]]:
    """The simulator of ``count`` stations: the configured ones, then synthetic ones."""
    settings = loaded.settings.simulator
    pool = StationSimulator.stations_for(
        msgspec.structs.replace(settings, extra_stations=max(0, count))
    )
    stations = pool[:count]
    return StationSimulator(stations, loaded.variables, settings), stations


def simulated_chunks(
    simulator: StationSimulator, stations: Sequence[Station], names: Sequence[str], steps: int
) -> Iterator[tuple[float, list[Observation]]]:
    """``steps`` readings of every station from START, cut into chunks of about
    CHUNK_OBSERVATIONS; each comes with the clock time at its end."""
    interval = simulator.settings.interval_s
    per_chunk = max(1, CHUNK_OBSERVATIONS // len(stations))
    for step in range(0, steps, per_chunk):
        taken = min(per_chunk, steps - step)
        first = START + step * interval
        block = simulator.generate(first, taken, interval)
        yield first + taken * interval, block.to_observations(stations, names, "simulator")


def evaluate_simulated(loaded: LoadedSettings, stations: int, days: float) -> dict[str, object]:
    simulator, chosen = simulated_stations(loaded, stations)
    interval = simulator.settings.interval_s
    steps = math.ceil(days * 86_400 / interval)
    names = loaded.variable_names
    outcome: Outcome = run_chunks(loaded, chosen, simulated_chunks(simulator, chosen, names, steps))
    end = START + steps * interval
    events = simulator.events(START, end, interval)
    grace = GRACE_SAMPLES * interval
    matched: Matched = match(
        events,
        outcome.anomalies,
        grace=grace,
        run=(START, end),
        station_days=len(chosen) * steps * interval / 86_400,
    )
    figures = matched.as_dict()
    observations = outcome.accepted
    figures["observations"] = observations
    figures["weather_alarms_on_faults"] = weather_alarms_on_faults(events, outcome.anomalies, grace)
    figures["false_alarms_per_1k_observations"] = (
        round(1000 * matched.false_alarms / observations, 4) if observations else None
    )
    return {"stations": len(chosen), "days": days, **figures}
