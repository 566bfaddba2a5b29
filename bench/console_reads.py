"""What a console's reads cost: a 24 h chart at 1 Hz data, and an attached console's refresh.

Run: ``.venv/bin/python bench/console_reads.py``. Prints, side by side in the same run:

- the 24 h chart read the straightforward way (every reading of the span from the store,
  thinned to 4,000 points in Python, as the console did before) and as minute ranges
  aggregated by SQLite (two points a minute);
- an attached console's refresh: ``GET /api/v1/console`` from a service on loopback, next to
  the embedded console's in-process ``pipeline.snapshot()``; for 5 and 100 stations.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mass_tui.http.access import Access
from mass_tui.http.api import ServiceApi
from mass_tui.http.metrics import PipelineCollector, registry_of
from mass_tui.http.serve import serving
from mass_tui.settings_layers import load_settings, pipeline_settings
from pipeline.bus import MemoryBus
from pipeline.clock import FixedClock
from pipeline.runtime import Pipeline
from pipeline.settings import SimulatorSettings
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.store import Store

START = 1_767_225_600.0
DAY = 86_400


def timed(call, rounds: int = 7) -> float:
    """Median seconds of ``rounds`` calls (after one warm-up)."""
    call()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def chart_reads(directory: Path) -> None:
    variables = ["temperature_c", "pressure_msl_hpa"]
    store = Store(directory / "chart.sqlite3", variables, retention_s=10 * DAY)
    from pipeline.stations import Station

    key = store.station_key(Station("s", "S", 0.0, 0.0))
    times = START + np.arange(DAY + 3 * 3600, dtype=np.float64)  # a day at 1 Hz, and a lead-in
    values = np.column_stack([np.sin(times / 3600), 1000 + np.cos(times / 7200)])
    for chunk in range(0, len(times), 10_000):
        part = slice(chunk, chunk + 10_000)
        store.write(
            station_keys=np.full(len(times[part]), key),
            observed_at=times[part],
            values=values[part],
            source="bench",
        )
    reader = store.reader()
    now = times[-1]
    raw = timed(lambda: reader.series("s", "temperature_c", now - DAY - 3 * 3600, now, 4_000))
    rolled = timed(lambda: reader.minute_envelope("s", "temperature_c", now - DAY, now))
    n_raw = len(reader.series("s", "temperature_c", now - DAY - 3 * 3600, now)[0])
    n_rolled = len(reader.minute_envelope("s", "temperature_c", now - DAY, now)[0]) // 2
    print("24 h chart of one variable at 1 Hz")
    print(f"  every reading (thinned to 4,000): {raw * 1000:7.1f} ms  ({n_raw:,} rows read)")
    print(f"  minute ranges by SQLite:          {rolled * 1000:7.1f} ms  ({n_rolled:,} rows read)")
    print(f"  ratio:                            {raw / rolled:7.1f}x")
    reader.close()
    store.close()


def console_refresh(directory: Path, extra_stations: int) -> None:
    config = directory / f"c{extra_stations}.toml"
    config.write_text(f"[simulator]\nextra_stations = {extra_stations}\n")
    loaded = load_settings(
        environ={},
        config_path=config,
        user_config=directory / "user.toml",
        flags={"data_dir": str(directory / f"d{extra_stations}")},
    )
    stations = StationSimulator.stations_for(loaded.settings.simulator, loaded.stations)
    simulator = StationSimulator(stations, loaded.variables, SimulatorSettings(seed=3))
    store = Store(loaded.database_path, [v.name for v in loaded.variables], retention_s=10 * DAY)
    pipeline = Pipeline(
        pipeline_settings(loaded, stations),
        clock=FixedClock(START + 240 * 60),
        source=None,
        bus=MemoryBus(100_000),
        store=store,
        wall=FixedClock(0.0),
    )
    block = simulator.generate(START, 240, 60.0)
    pipeline.bus.publish(block.to_observations(stations, [v.name for v in loaded.variables]))
    pipeline.process_pending()
    api = ServiceApi(
        pipeline,
        store.reader(),
        loaded,
        Access.for_address("127.0.0.1", None),
        metrics=registry_of(PipelineCollector(pipeline)),
    )
    with serving(api.app(), "127.0.0.1:0") as server, httpx.Client(base_url=server.url) as client:
        focused = stations[0].station_id
        remote = timed(lambda: client.get("/api/v1/console", params={"series": focused}).content)
        size = len(client.get("/api/v1/console", params={"series": focused}).content)
        local = timed(lambda: (pipeline.snapshot(), pipeline.recent_series(focused)))
    print(f"a console's refresh, {len(stations)} stations")
    print(f"  embedded, pipeline.snapshot():    {local * 1000:7.2f} ms")
    print(f"  attached, GET /api/v1/console:    {remote * 1000:7.2f} ms  ({size / 1024:.0f} KiB)")
    api.reader.close()
    pipeline.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        chart_reads(Path(directory))
        for extra in (0, 95):
            console_refresh(Path(directory), extra)


if __name__ == "__main__":
    main()
