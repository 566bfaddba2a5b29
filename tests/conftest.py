"""Shared fixtures: a console app over a real pipeline fed to a known state.

Deterministic for snapshots: a seeded simulator, a fixed observed clock, a fixed wall clock
for rates, no worker threads (the data is fed before the app starts) and, with
``make_console(..., deterministic=True)``, no wall-clock timers driving the screen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from msgspec.structs import replace

from mass_tui.app import MassApp
from mass_tui.settings_layers import LoadedSettings, load_settings, pipeline_settings
from pipeline.alerts import Alert
from pipeline.bus import MemoryBus
from pipeline.clock import FixedClock
from pipeline.runtime import Pipeline
from pipeline.settings import SimulatorSettings
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.store import Store

# librdkafka keeps talking from its threads after a test's log capture is gone (a broker that
# was stopped); without a handler of its own Python would print that on stderr.
logging.getLogger("librdkafka").addHandler(logging.NullHandler())

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
INTERVAL = 60.0
QUIET = SimulatorSettings(seed=11, fronts_per_day=0, windy_spells_per_day=0, faults_per_day=3)


@dataclass
class Console:
    app: MassApp
    pipeline: Pipeline
    store: Store
    clock: FixedClock
    simulator: StationSimulator
    loaded: LoadedSettings
    steps: int = 0

    def feed(self, steps: int) -> None:
        names = self.loaded.variable_names
        first = START + self.steps * INTERVAL
        block = self.simulator.generate(first, steps, INTERVAL)
        stations = list(self.pipeline.registry.stations)
        observations = block.to_observations(stations, names)
        room = self.loaded.settings.bus.capacity  # publish blocks on a full bus: no consumer
        for start in range(0, len(observations), room):
            chunk = observations[start : start + room]
            self.clock.set(chunk[-1].observed_at)  # "now" is the newest reading, as live
            self.pipeline.bus.publish(chunk)
            self.pipeline.process_pending()
        self.steps += steps


def make_console(
    tmp_path: Path,
    *,
    steps: int = 330,
    config: str = "",
    deterministic: bool = False,
    extra_stations: int = 0,
) -> Console:
    """A console fed ``steps`` readings a station. ``deterministic`` (snapshots): the app has
    no refresh timer, no throttles and no expiring notifications (see ``MassApp``), so what
    is on screen does not depend on how fast the machine is. ``extra_stations``: the
    simulator's synthetic stations after the configured ones (a network to watch)."""
    settings_file = tmp_path / "config.toml"
    settings_file.write_text(config)
    loaded = load_settings(
        config_path=settings_file,
        environ={},
        user_config=tmp_path / "user" / "config.toml",
        flags={"data_dir": str(tmp_path / "data")},
    )
    quiet = replace(QUIET, extra_stations=extra_stations)
    stations = StationSimulator.stations_for(quiet, loaded.stations)
    simulator = StationSimulator(stations, loaded.variables, quiet)
    # A deep front in London three hours in: after 330 readings (5.5 h) its pressure-fall
    # warning is active.
    simulator.schedule_front("lon", START + 3 * 3600, depth_hpa=9.0, fall_hours=2.5)
    store = Store(loaded.database_path, loaded.variable_names, retention_s=7 * 86400)
    clock = FixedClock(START)
    settings = loaded.settings
    pipeline = Pipeline(
        pipeline_settings(loaded, stations),
        clock=clock,
        source=None,
        bus=MemoryBus(settings.bus.capacity),
        store=store,
        wall=FixedClock(0.0),
    )
    app = MassApp(
        loaded,
        pipeline,
        reader=store.reader(),
        start_pipeline=False,
        user="tester",
        screenshot_dir=tmp_path / "shots",
        deterministic=deterministic,
    )
    console = Console(app, pipeline, store, clock, simulator, loaded)
    console.feed(steps)
    return console


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver on IPv4 loopback, any free port: tests never leave this machine."""
    return ("127.0.0.1", 0)


@pytest.fixture
def console(tmp_path: Path) -> Console:
    return make_console(tmp_path)


@pytest.fixture
def kafka_broker(tmp_path):
    """A Tansu broker on a free loopback port for one test (see tests/kafka_broker.py)."""
    from tests.kafka_broker import TansuBroker

    broker = TansuBroker(tmp_path / "tansu.log")
    broker.start()
    yield broker
    broker.stop()


def headless_lines(stdout: str) -> tuple[list[dict], list[dict]]:
    """``headless`` output split into anomalies and alert transitions."""
    import json

    lines = [json.loads(line) for line in stdout.splitlines()]
    return [x for x in lines if "transition" not in x], [x for x in lines if "transition" in x]


def gust_alert(**fields) -> Alert:
    """An open gust advisory at London opened at ``START``; ``fields`` override."""
    defaults = dict(
        id=1,
        station_id="lon",
        rule="gust",
        variable="wind_gust_ms",
        severity="advisory",
        state="active",
        opened_at=START,
        updated_at=START,
        value=21.0,
        quantity=21.0,
        threshold=20.6,
    )
    return Alert(**{**defaults, **fields})
