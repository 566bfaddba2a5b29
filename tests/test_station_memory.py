"""A process's memory is bounded by the stations it keeps, not by every id it has ever seen:
stations silent for ``limits.forget_after_s`` leave memory (their rows stay in the store), and
forgetting them changes nothing for the stations that remain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mass_tui.settings_layers import ConfigError, load_settings
from pipeline.batch_processing import Analytics
from pipeline.bus import Delivery
from pipeline.clock import FixedClock
from pipeline.observation import Observation
from pipeline.registry import StationRegistry
from pipeline.settings import DetectorSettings, RuleSettings, ValidationSettings
from pipeline.stations import Station
from pipeline.store import Store
from pipeline.variables import STANDARD_VARIABLES
from tests.test_store import stored_rows

START = 1_767_225_600.0
DAY = 86_400.0
FORGET_AFTER = 3 * 3600.0  # detectors.max_gap_s, the least it may be
NAMES = [v.name for v in STANDARD_VARIABLES]
CONFIGURED = Station("cfg", "Configured", 51.5, -0.1)


def analytics(clock: FixedClock, store: Store | None = None) -> Analytics:
    return Analytics(
        variables=STANDARD_VARIABLES,
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
        clock=clock,
        registry=StationRegistry([CONFIGURED]),
        store=store,
        forget_after_s=FORGET_AFTER,
    )


def reading(station_id: str, at: float, **values: float) -> Observation:
    return Observation(station_id, station_id.upper(), None, None, at, "test", values)


def feed(worker: Analytics, clock: FixedClock, observations: list[Observation]):
    clock.set(max(clock.now(), *(o.observed_at for o in observations)))
    return worker.process(Delivery(observations, []))


def steady_series(n: int, seed: int) -> list[tuple[float, float, float]]:
    """(time, temperature, pressure) once a minute with noise, a spike at reading 400 and a
    sharp pressure fall from reading 450 on: something for every kind of detector."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        temperature = 12.0 + rng.normal(0, 0.2) + (9.0 if i == 400 else 0.0)
        pressure = 1012.0 + rng.normal(0, 0.05) - max(0, i - 450) * 0.1
        rows.append((START + 60.0 * i, temperature, pressure))
    return rows


def as_tuples(anomalies) -> list[tuple]:
    return [
        (a.station_id, a.variable, a.detector, a.observed_at, round(a.score, 12)) for a in anomalies
    ]


def test_forgetting_idle_stations_changes_nothing_for_the_others():
    """Two workers see the same station; one also saw 500 stations once, at the start. Once
    they are forgotten, the two agree on every anomaly, score and recent reading."""
    series = steady_series(600, seed=7)
    plain_clock, busy_clock = FixedClock(START), FixedClock(START)
    plain, busy = analytics(plain_clock), analytics(busy_clock)
    passers_by = [reading(f"p{i:03d}", START, temperature_c=10.0 + i % 7) for i in range(500)]
    feed(busy, busy_clock, passers_by)

    found_plain, found_busy = [], []
    for at, temperature, pressure in series:
        observation = reading("kept", at, temperature_c=temperature, pressure_msl_hpa=pressure)
        found_plain += as_tuples(feed(plain, plain_clock, [observation]))
        found_busy += as_tuples(feed(busy, busy_clock, [observation]))
        if at == START + FORGET_AFTER:
            assert len(busy.registry) == 502  # not yet: silent for exactly forget_after_s
    assert busy.registry.ids == plain.registry.ids == ["cfg", "kept"]  # configured: kept
    assert found_busy == found_plain
    assert {detector for _, _, detector, _, _ in found_plain} >= {"zscore", "pressure_fall"}
    np.testing.assert_array_equal(busy.bank.latest_zscore(1), plain.bank.latest_zscore(1))
    for got, expected in zip(busy.history.series(1), plain.history.series(1), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert busy.counters.duplicates == plain.counters.duplicates == 0


def test_a_forgotten_station_that_speaks_again_starts_afresh_and_its_rows_stay(tmp_path: Path):
    clock = FixedClock(START)
    store = Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e12)
    worker = analytics(clock, store)
    feed(worker, clock, [reading("gone", START, temperature_c=11.0)])
    feed(worker, clock, [reading("here", START + FORGET_AFTER + 60, temperature_c=11.0)])
    assert worker.registry.get("gone") is None  # looked for as the batch was processed
    assert worker.history.series(worker.registry.get("here"))[0].tolist() == [
        START + FORGET_AFTER + 60
    ]

    feed(worker, clock, [reading("gone", START + FORGET_AFTER + 120, temperature_c=12.0)])
    feed(worker, clock, [reading("gone", START, temperature_c=11.0)])  # re-sent: in the store
    times, values = worker.history.series(worker.registry.get("gone"))
    assert times.tolist() == [START + FORGET_AFTER + 120] and values[0, 0] == 12.0
    assert stored_rows(store)[0] == 3
    store.close()


def test_a_station_with_an_open_alert_is_not_forgotten():
    clock = FixedClock(START)
    worker = analytics(clock)
    feed(worker, clock, [reading("gusty", START, wind_speed_ms=20.0, wind_gust_ms=40.0)])
    assert any(alert.is_open for alert in worker.alerts.alerts())
    feed(worker, clock, [reading("calm", START + 2 * FORGET_AFTER, temperature_c=10.0)])
    assert worker.forget_idle() == 0
    assert "gusty" in worker.registry.ids


def test_sixty_thousand_passing_ids_keep_memory_bounded_and_lose_nothing(tmp_path: Path):
    """60,000 one-message station ids over a week of observed time (as anyone who can write to
    the topic could send): all stored, none rejected for the station limit, and the process
    never keeps more than the stations of the last few hours."""
    clock = FixedClock(START)
    store = Store(tmp_path / "m.sqlite3", NAMES, retention_s=1e12)
    worker = analytics(clock, store)
    spacing = 7 * DAY / 60_000
    kept_most = 0
    for first in range(0, 60_000, 500):
        batch = [
            reading(f"id{i:05d}", START + i * spacing, temperature_c=10.0, pressure_msl_hpa=1010.0)
            for i in range(first, first + 500)
        ]
        feed(worker, clock, batch)
        kept_most = max(kept_most, len(worker.registry))
    per_forget_window = FORGET_AFTER / spacing
    assert kept_most <= per_forget_window + 500 + 1
    assert worker.history.series(0)[0].size == 0  # the configured station, never heard from
    assert worker.counters.rejected_messages == 0
    assert stored_rows(store)[0] == 60_000
    assert worker.bank.latest_zscore(len(worker.registry) + 10).shape == (len(NAMES),)
    store.close()


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("10800", True), ("600", False)])
def test_forget_after_is_never_or_at_least_the_longest_gap(tmp_path: Path, value, ok):
    config = tmp_path / "config.toml"
    config.write_text(f"[limits]\nforget_after_s = {value}\n")
    if ok:
        assert load_settings(
            config_path=config, environ={}
        ).settings.limits.forget_after_s == float(value)
    else:
        with pytest.raises(
            ConfigError, match=r"limits\.forget_after_s: must be 0 \(never\) or at least"
        ):
            load_settings(config_path=config, environ={})


@pytest.mark.parametrize(
    "bounds", ["minimum = -1e308\nmaximum = 1.7e308", "minimum = 0\nmaximum = 1e13"]
)
def test_a_variable_s_range_is_one_the_detectors_can_square(tmp_path: Path, bounds):
    """A declared range of ±1e308 let 1e308 readings in: inf statistics, null scores and
    spurious alarms for the rest of the series."""
    config = tmp_path / "config.toml"
    config.write_text(f'[variables.foo]\nunit = "x"\nlabel = "Foo"\n{bounds}\n')
    with pytest.raises(ConfigError, match="must lie within ±1e\\+12"):
        load_settings(config_path=config, environ={})
