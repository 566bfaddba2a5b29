"""The simulator: deterministic, chunk-independent, plausible, and honest about what it injects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.settings import SimulatorSettings
from pipeline.simulation.station_simulator import LabelledEvent, SimulatedBlock, StationSimulator
from pipeline.stations import DEFAULT_STATIONS
from pipeline.variables import ENVIRONMENTAL_VARIABLES, STANDARD_VARIABLES, VariableSpec

T0 = 1_717_200_000.0  # 2024-06-01 00:00 UTC, a whole number of minutes
MINUTE = 60.0
HOUR = 3600.0
NAMES = [spec.name for spec in STANDARD_VARIABLES]


def simulator(
    variables: tuple[VariableSpec, ...] = STANDARD_VARIABLES, **overrides: float
) -> StationSimulator:
    settings = SimulatorSettings(**overrides)
    return StationSimulator(StationSimulator.stations_for(settings), variables, settings)


def grid(block: SimulatedBlock, sim: StationSimulator) -> np.ndarray:
    """Values as (step, station, variable)."""
    return block.values.reshape(-1, len(sim.stations), len(sim.variables))


def local_hours(sim: StationSimulator, station: int, steps: int, interval: float) -> np.ndarray:
    times = T0 + np.arange(steps) * interval
    return (times / HOUR + sim.stations[station].longitude / 15.0) % 24.0


@pytest.fixture(scope="module")
def faulty() -> tuple[StationSimulator, np.ndarray, list[LabelledEvent]]:
    """Two days of ten stations with many faults, and the labels of what was injected."""
    sim = simulator(
        extra_stations=5,
        faults_per_day=12.0,
        environmental=True,
        variables=STANDARD_VARIABLES + ENVIRONMENTAL_VARIABLES,
    )
    steps = 2 * 24 * 60
    values = grid(sim.generate(T0, steps, MINUTE), sim)
    return sim, values, sim.events(T0, T0 + (steps - 1) * MINUTE, MINUTE)


def fault_cells(sim: StationSimulator, label: LabelledEvent, steps: int) -> tuple[slice, int, int]:
    station = [s.station_id for s in sim.stations].index(label.station_id)
    variable = [v.name for v in sim.variables].index(label.variable)
    first = max(round((label.start - T0) / MINUTE), 0)
    last = min(round((label.end - T0) / MINUTE), steps - 1)
    return slice(first, last + 1), station, variable


def test_same_seed_gives_identical_data_and_events() -> None:
    a, b = simulator(seed=7), simulator(seed=7)
    assert np.array_equal(
        a.generate(T0, 300, MINUTE).values, b.generate(T0, 300, MINUTE).values, equal_nan=True
    )
    assert a.events(T0, T0 + 2 * 86400) == b.events(T0, T0 + 2 * 86400)


def test_different_seed_gives_different_data() -> None:
    a = simulator(seed=1).generate(T0, 100, MINUTE).values
    b = simulator(seed=2).generate(T0, 100, MINUTE).values
    assert np.nanmean(np.abs(a - b)) > 0.1


@pytest.mark.parametrize("split", [1, 100, 137])
def test_generating_in_chunks_equals_generating_at_once(split: int) -> None:
    settings = {"extra_stations": 3, "faults_per_day": 20.0, "fronts_per_day": 3.0}
    whole = simulator(**settings).generate(T0, 400, MINUTE)
    chunked = simulator(**settings)
    head = chunked.generate(T0, split, MINUTE)
    tail = chunked.generate(T0 + split * MINUTE, 400 - split, MINUTE)
    assert np.array_equal(np.concatenate([head.values, tail.values]), whole.values, equal_nan=True)
    assert np.array_equal(np.concatenate([head.observed_at, tail.observed_at]), whole.observed_at)
    assert np.array_equal(np.concatenate([head.station, tail.station]), whole.station)


def test_events_do_not_depend_on_the_window_asked_for() -> None:
    sim = simulator(faults_per_day=10.0)
    day = sim.events(T0, T0 + 86400)
    halves = sim.events(T0, T0 + 43200) + sim.events(T0 + 43200, T0 + 86400)
    assert set(day) == set(halves)


def test_every_station_and_step_is_present_in_time_then_station_order() -> None:
    sim = simulator(extra_stations=2)
    block = sim.generate(T0, 50, MINUTE)
    stations = len(sim.stations)
    assert block.values.shape == (50 * stations, len(STANDARD_VARIABLES))
    assert block.station.dtype == np.int64
    assert np.array_equal(block.station, np.tile(np.arange(stations), 50))
    assert np.array_equal(block.observed_at, np.repeat(T0 + np.arange(50) * MINUTE, stations))


def test_values_are_plausible_and_missing_only_in_dropouts(faulty) -> None:
    sim, values, labels = faulty
    expected_missing = np.zeros(values.shape, dtype=bool)
    faulted = np.zeros(values.shape, dtype=bool)
    for label in labels:
        if label.kind == "dropout":
            expected_missing[fault_cells(sim, label, values.shape[0])] = True
        if label.variable != "*":
            faulted[fault_cells(sim, label, values.shape[0])] = True
    assert np.array_equal(np.isnan(values), expected_missing)
    for v, spec in enumerate(sim.variables):
        column = values[:, :, v]
        assert np.nanmin(column) >= spec.minimum and np.nanmax(column) <= spec.maximum
    plausible = {
        "temperature_c": (-40.0, 60.0),
        "pressure_msl_hpa": (960.0, 1060.0),
        "wind_speed_ms": (0.0, 60.0),
        "wind_gust_ms": (0.0, 80.0),
        "wind_dir_deg": (0.0, 359.999),
    }
    for name, (low, high) in plausible.items():
        column = values[:, :, NAMES.index(name)]
        assert np.nanmin(column) >= low and np.nanmax(column) <= high, name
    humidity = NAMES.index("humidity_pct")
    sound = values[:, :, humidity][~faulted[:, :, humidity]]
    assert np.mean(sound >= 99.5) < 0.01


def test_afternoon_is_warmer_than_before_dawn() -> None:
    sim = simulator(faults_per_day=0.0, fronts_per_day=0.0)
    steps = 4 * 24 * 6
    values = grid(sim.generate(T0, steps, 600.0), sim)
    for station in range(len(sim.stations)):
        hours = local_hours(sim, station, steps, 600.0)
        temperature = values[:, station, NAMES.index("temperature_c")]
        afternoon = temperature[(hours >= 14) & (hours < 16)].mean()
        before_dawn = temperature[(hours >= 4) & (hours < 6)].mean()
        assert afternoon > before_dawn + 3.0


def test_humidity_moves_against_temperature() -> None:
    sim = simulator(faults_per_day=0.0)
    values = grid(sim.generate(T0, 3 * 24 * 6, 600.0), sim)
    for station in range(len(sim.stations)):
        temperature = values[:, station, NAMES.index("temperature_c")]
        humidity = values[:, station, NAMES.index("humidity_pct")]
        assert np.corrcoef(temperature, humidity)[0, 1] < -0.3


def test_scheduled_front_drops_pressure_3_5_hpa_in_3_hours_and_raises_wind() -> None:
    sim = simulator(fronts_per_day=0.0, windy_spells_per_day=0.0, faults_per_day=0.0)
    start = T0 + 6 * HOUR
    label = sim.schedule_front("lon", start, depth_hpa=8.0, fall_hours=3.0)
    assert label == LabelledEvent("frontal_passage", "lon", "*", start, label.end, 8.0)
    assert label in sim.events(T0, T0 + 86400)

    values = grid(sim.generate(T0, 24 * 60, MINUTE), sim)
    london = [s.station_id for s in sim.stations].index("lon")
    at = round((start - T0) / MINUTE)
    msl = values[:, london, NAMES.index("pressure_msl_hpa")]
    wind = values[:, london, NAMES.index("wind_speed_ms")]
    assert msl[at] - msl[at : at + 180 + 1].min() >= 3.5
    assert wind[at + 150 : at + 210].mean() > wind[at - 60 : at].mean() + 4.0


def test_every_drawn_front_falls_3_5_hpa_within_3_hours() -> None:
    sim = simulator(extra_stations=5, fronts_per_day=2.0, faults_per_day=0.0)
    steps = 3 * 24 * 12
    values = grid(sim.generate(T0, steps, 300.0), sim)
    fronts = [e for e in sim.events(T0, T0 + (steps - 1) * 300.0) if e.kind == "frontal_passage"]
    ids = [s.station_id for s in sim.stations]
    checked = 0
    for front in fronts:
        first, last = math.ceil((front.start - T0) / 300.0), int((front.end - T0) / 300.0)
        if first < 0 or last >= steps:
            continue
        msl = values[first : last + 1, ids.index(front.station_id), NAMES.index("pressure_msl_hpa")]
        falls_in_3h = msl[:-36] - msl[36:]
        assert falls_in_3h.max() >= 3.5
        checked += 1
    assert checked >= 10


def test_calm_spells_hold_the_wind_low_and_windy_spells_raise_it() -> None:
    sim = simulator(fronts_per_day=0.0, windy_spells_per_day=2.0, faults_per_day=0.0)
    steps = 4 * 24 * 12
    values = grid(sim.generate(T0, steps, 300.0), sim)
    wind = values[:, :, NAMES.index("wind_speed_ms")]
    ids = [s.station_id for s in sim.stations]
    spells = [e for e in sim.events(T0, T0 + (steps - 1) * 300.0) if e.kind.endswith("_spell")]
    assert {e.kind for e in spells} == {"calm_spell", "windy_spell"}
    for spell in spells:
        # The middle of the spell, clear of its ramps of up to an hour.
        first = max(math.ceil((spell.start + HOUR - T0) / 300.0), 0)
        last = min(int((spell.end - HOUR - T0) / 300.0), steps - 1)
        if last - first < 6:
            continue
        station = ids.index(spell.station_id)
        during = wind[first : last + 1, station].mean()
        if spell.kind == "calm_spell":
            assert during < 1.5
        else:
            assert during > np.median(wind[:, station]) + 2.0


def test_stuck_labels_cover_exactly_the_frozen_readings(faulty) -> None:
    sim, values, labels = faulty
    stuck = [label for label in labels if label.kind == "stuck"]
    assert stuck and all(label.variable != "precip_mm" for label in stuck)
    for label in stuck:
        rows, station, variable = fault_cells(sim, label, values.shape[0])
        frozen = values[rows, station, variable]
        assert np.all(frozen == frozen[0])
        if rows.start > 0:  # frozen at the last good reading
            assert frozen[0] == pytest.approx(values[rows.start - 1, station, variable])
        if rows.stop < values.shape[0] and rows.stop - rows.start == label.magnitude:
            assert values[rows.stop, station, variable] != frozen[0]


def test_spike_labels_mark_a_single_large_jump(faulty) -> None:
    sim, values, labels = faulty
    spikes = [label for label in labels if label.kind == "spike"]
    assert len(spikes) >= 10
    for label in spikes:
        assert label.start == label.end
        rows, station, variable = fault_cells(sim, label, values.shape[0])
        if rows.start == 0 or rows.start == values.shape[0] - 1:
            continue
        before, spike, after = values[rows.start - 1 : rows.start + 2, station, variable]
        jump = spike - (before + after) / 2
        if label.variable == "wind_dir_deg":
            jump = (jump + 180.0) % 360.0 - 180.0
        assert abs(jump) > 0.6 * label.magnitude


def test_fault_labels_follow_the_sampling_interval() -> None:
    sim = simulator(faults_per_day=30.0)
    interval = 300.0
    values = grid(sim.generate(T0, 2 * 288, interval), sim)
    dropouts = [e for e in sim.events(T0, T0 + 2 * 86400, interval) if e.kind == "dropout"]
    assert dropouts
    ids = [s.station_id for s in sim.stations]
    for label in dropouts:
        first = round((label.start - T0) / interval)
        last = min(round((label.end - T0) / interval), values.shape[0] - 1)
        assert label.start % interval == 0
        cells = values[
            max(first, 0) : last + 1, ids.index(label.station_id), NAMES.index(label.variable)
        ]
        assert np.isnan(cells).all()


def test_extra_stations_are_seeded_synthetic_ones_after_the_configured() -> None:
    three = StationSimulator.stations_for(SimulatorSettings(seed=3, extra_stations=3))
    five = StationSimulator.stations_for(SimulatorSettings(seed=3, extra_stations=5))
    other = StationSimulator.stations_for(SimulatorSettings(seed=4, extra_stations=3))
    assert three[: len(DEFAULT_STATIONS)] == list(DEFAULT_STATIONS)
    synthetic = three[len(DEFAULT_STATIONS) :]
    assert [s.station_id for s in synthetic] == ["syn-0001", "syn-0002", "syn-0003"]
    assert five[: len(three)] == three
    assert other[len(DEFAULT_STATIONS) :] != synthetic
    for station in synthetic:
        assert station.name and -90 <= station.latitude <= 90 and -180 <= station.longitude <= 180


def test_environmental_variables_are_read_only_when_enabled() -> None:
    variables = STANDARD_VARIABLES + ENVIRONMENTAL_VARIABLES
    names = [spec.name for spec in variables]
    off = simulator(variables, faults_per_day=0.0)
    on = simulator(variables, faults_per_day=0.0, environmental=True)
    block_off, block_on = off.generate(T0, 60, MINUTE), on.generate(T0, 60, MINUTE)
    environmental = [names.index(spec.name) for spec in ENVIRONMENTAL_VARIABLES]
    assert np.isnan(block_off.values[:, environmental]).all()
    assert np.isfinite(block_on.values).all()
    observation = block_off.to_observations(off.stations, names)[0]
    assert set(observation.values) == set(NAMES)
    assert set(block_on.to_observations(on.stations, names)[0].values) == set(names)


def test_city_noise_peaks_at_rush_hour_and_quietens_at_night() -> None:
    variables = STANDARD_VARIABLES + ENVIRONMENTAL_VARIABLES
    sim = simulator(variables, faults_per_day=0.0, environmental=True)
    steps = 2 * 24 * 6
    values = grid(sim.generate(T0, steps, 600.0), sim)
    noise = values[:, 0, len(NAMES) + 2]
    hours = local_hours(sim, 0, steps, 600.0)
    assert (
        noise[(hours >= 7.5) & (hours < 8.5)].mean() > noise[(hours >= 2) & (hours < 4)].mean() + 10
    )


def test_user_added_sensor_wanders_within_its_range() -> None:
    co2 = VariableSpec("co2_ppm", "ppm", "CO2", 300.0, 2000.0, 1.0)
    sim = simulator((*STANDARD_VARIABLES, co2), faults_per_day=0.0)
    column = sim.generate(T0, 500, MINUTE).values[:, -1]
    assert np.isfinite(column).all()
    assert column.min() >= 300.0 and column.max() <= 2000.0
    assert column.std() > 1.0


def test_observations_omit_readings_lost_to_a_dropout() -> None:
    block = SimulatedBlock(
        station=np.array([1], dtype=np.int64),
        observed_at=np.array([T0]),
        values=np.array([[21.5, np.nan]]),
    )
    [observation] = block.to_observations(DEFAULT_STATIONS, ["temperature_c", "humidity_pct"])
    assert observation.station_id == "lon" and observation.observed_at == T0
    assert observation.values == {"temperature_c": 21.5}
    assert observation.source == "simulator"
