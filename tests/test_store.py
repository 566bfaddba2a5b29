"""The SQLite store: what goes in comes back, once, and failures surface as StoreError."""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.anomaly import Anomaly
from pipeline.quarantine import Rejection
from pipeline.stations import Station
from pipeline.store import SCHEMA_VERSION, Store, StoreError

VARIABLES = ("temperature_c", "pressure_hpa", "wind_speed_ms")
T0 = 1_700_000_000.0
DAY = 86_400.0
LONDON = Station("lon", "London", 51.5074, -0.1278, 11.0)
TOKYO = Station("tyo", "Tokyo", 35.6762, 139.6503, 40.0)


def stored_rows(store: Store) -> tuple[int, int, int]:
    """(observations, anomalies, quarantined messages) in the store's file, counted by SQLite."""
    with sqlite3.connect(store.path) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("observations", "anomalies", "quarantine")
        )


def open_store(path: Path, variables: tuple[str, ...] = VARIABLES) -> Store:
    return Store(path, variables, retention_s=7 * DAY)


def write(store: Store, station: Station, times: list[float], values: list[list[float]]) -> int:
    key = store.station_key(station)
    return store.write(
        station_keys=np.full(len(times), key, dtype=np.int64),
        observed_at=np.array(times, dtype=np.float64),
        values=np.array(values, dtype=np.float64).reshape(len(times), len(store.variables)),
        source="test",
    )


def gust_warning(at: float, station_id: str = "lon", detector: str = "gust") -> Anomaly:
    return Anomaly(
        station_id=station_id,
        variable="wind_gust_ms",
        value=27.0,
        detector=detector,
        score=0.51,
        threshold=25.9,
        observed_at=at,
        statistic=27.0,
        quantity=27.0,
        severity="warning",
    )


def zscore(at: float, score: float, station_id: str = "lon", variable: str = "temperature_c"):
    return Anomaly(
        station_id=station_id,
        variable=variable,
        value=31.5,
        detector="zscore",
        score=score,
        threshold=6.0,
        observed_at=at,
        statistic=6.0 * score / (1 - score),
    )


@pytest.fixture
def store(tmp_path: Path):
    with open_store(tmp_path / "mass.db") as opened:
        yield opened


def test_observations_round_trip_with_missing_readings_as_nan(store: Store):
    new = write(store, LONDON, [T0, T0 + 60], [[12.5, np.nan, 3.0], [12.75, 1003.25, np.nan]])

    stored = store.recent_observations(T0)

    assert new == 2
    assert stored.station_ids == ["lon"]
    assert stored.stations == {"lon": LONDON}
    assert stored.station.tolist() == [0, 0]
    assert stored.observed_at.tolist() == [T0, T0 + 60]
    np.testing.assert_array_equal(stored.values, [[12.5, np.nan, 3.0], [12.75, 1003.25, np.nan]])


def test_nan_is_stored_as_null_with_the_source_of_each_row(store: Store, tmp_path: Path):
    key = store.station_key(LONDON)
    store.write(
        station_keys=np.array([key, key]),
        observed_at=np.array([T0, T0 + 60]),
        values=np.array([[np.nan, 1000.0, np.nan], [1.0, 2.0, 3.0]]),
        source=["owm", "sim"],
    )
    store.close()

    with sqlite3.connect(tmp_path / "mass.db") as db:
        rows = db.execute(
            "SELECT source, temperature_c, pressure_hpa, wind_speed_ms FROM observations"
        ).fetchall()
    assert rows == [("owm", None, 1000.0, None), ("sim", 1.0, 2.0, 3.0)]


def test_anomalies_and_rejections_round_trip_every_field(store: Store):
    statistical = zscore(T0, 0.6)
    gap = Anomaly(
        station_id="lon",
        variable="temperature_c",
        value=math.nan,
        detector="gap",
        score=0.7,
        threshold=4.0,
        observed_at=T0 + 1,
        statistic=9.3,
    )
    rejections = [
        Rejection(received_at=T0, source="owm", reason="not JSON", payload="{oops"),
        Rejection(
            received_at=T0 + 1,
            source="sim",
            reason="temperature_c 99 above 65",
            payload='{"temperature_c": 99}',
            station_id="lon",
            variable="temperature_c",
        ),
    ]
    store.write(
        station_keys=np.empty(0, dtype=np.int64),
        observed_at=np.empty(0),
        values=np.empty((0, len(VARIABLES))),
        source="sim",
        anomalies=[statistical, gust_warning(T0 + 2), gap],
        rejections=rejections,
    )

    anomalies = store.anomalies()
    assert anomalies[0] == gust_warning(T0 + 2)
    assert anomalies[1].detector == "gap" and math.isnan(anomalies[1].value)
    assert anomalies[2] == statistical
    assert anomalies[2].quantity is None and anomalies[2].severity is None
    assert store.quarantine() == rejections[::-1]
    assert stored_rows(store) == (0, 3, 2)


def test_duplicate_observations_are_not_counted_twice_within_a_batch(store: Store):
    new = write(store, LONDON, [T0, T0, T0 + 60], [[1, 2, 3], [1, 2, 3], [4, 5, 6]])

    assert new == 2
    assert stored_rows(store)[0] == 2


def test_observations_replayed_after_a_restart_are_recognised(tmp_path: Path):
    with open_store(tmp_path / "mass.db") as store:
        write(store, LONDON, [T0, T0 + 60], [[1, 2, 3], [4, 5, 6]])

    with open_store(tmp_path / "mass.db") as store:
        new = write(store, LONDON, [T0 + 60, T0 + 120], [[4, 5, 6], [7, 8, 9]])
        assert new == 1
        assert stored_rows(store)[0] == 3


def test_history_is_restored_in_time_order_after_reopening(tmp_path: Path):
    with open_store(tmp_path / "mass.db") as store:
        write(store, LONDON, [T0, T0 + 120], [[1, 2, 3], [5, 6, 7]])
        write(store, TOKYO, [T0 + 60, T0 + 180], [[10, 20, 30], [50, 60, 70]])

    with open_store(tmp_path / "mass.db") as store:
        stored = store.recent_observations(T0)
        latest = store.latest_observed_at()

    assert stored.station_ids == ["lon", "tyo"]
    assert stored.stations["tyo"] == TOKYO
    assert stored.observed_at.tolist() == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert stored.station.tolist() == [0, 1, 0, 1]
    assert stored.values[:, 0].tolist() == [1, 10, 5, 50]
    assert latest == T0 + 180


def test_recent_observations_keeps_the_newest_per_station_and_filters_stations(store: Store):
    write(store, LONDON, [T0 + 60 * i for i in range(5)], [[i, i, i] for i in range(5)])
    write(store, TOKYO, [T0 + 30 + 60 * i for i in range(5)], [[i, i, i] for i in range(5)])

    newest = store.recent_observations(T0, limit_per_station=2)
    tokyo = store.recent_observations(T0 + 100, station_ids=["tyo", "nowhere"])

    assert newest.observed_at.tolist() == [T0 + 180, T0 + 210, T0 + 240, T0 + 270]
    assert [newest.station_ids[s] for s in newest.station] == ["lon", "tyo", "lon", "tyo"]
    assert tokyo.station_ids == ["tyo"]
    assert tokyo.observed_at.tolist() == [T0 + 150, T0 + 210, T0 + 270]


def test_empty_store_reads_empty(store: Store):
    stored = store.recent_observations(0.0)

    assert stored.values.shape == (0, len(VARIABLES))
    assert store.latest_observed_at() is None
    assert store.series("lon", "temperature_c", 0.0)[0].size == 0


def test_a_new_variable_adds_a_column_and_old_rows_read_nan(tmp_path: Path):
    with open_store(tmp_path / "mass.db") as store:
        write(store, LONDON, [T0], [[1, 2, 3]])

    with open_store(tmp_path / "mass.db", (*VARIABLES, "pm25_ugm3")) as store:
        write(store, LONDON, [T0 + 60], [[4, 5, 6, 17.5]])
        stored = store.recent_observations(T0)

    np.testing.assert_array_equal(stored.values, [[1, 2, 3, np.nan], [4, 5, 6, 17.5]])


def test_prune_deletes_only_what_is_past_retention(store: Store):
    write(store, LONDON, [T0, T0 + DAY, T0 + 8 * DAY], [[1, 2, 3]] * 3)
    store.write(
        station_keys=np.empty(0, dtype=np.int64),
        observed_at=np.empty(0),
        values=np.empty((0, len(VARIABLES))),
        source="sim",
        anomalies=[zscore(T0, 0.6), zscore(T0 + 8 * DAY, 0.6)],
        rejections=[
            Rejection(received_at=T0, source="sim", reason="r", payload="p"),
            Rejection(received_at=T0 + 8 * DAY, source="sim", reason="r", payload="p"),
        ],
    )

    deleted = store.prune(now=T0 + 7.5 * DAY)

    assert deleted == 3
    assert store.recent_observations(0.0).observed_at.tolist() == [T0 + DAY, T0 + 8 * DAY]
    assert [a.observed_at for a in store.anomalies()] == [T0 + 8 * DAY]
    assert [r.received_at for r in store.quarantine()] == [T0 + 8 * DAY]
    assert stored_rows(store) == (2, 1, 1)


def test_series_drops_missing_readings_and_respects_the_time_range(store: Store):
    write(
        store,
        LONDON,
        [T0, T0 + 60, T0 + 120, T0 + 180],
        [[1, 0, 0], [np.nan, 0, 0], [3, 0, 0], [4, 0, 0]],
    )

    times, values = store.series("lon", "temperature_c", T0, until=T0 + 120)

    assert times.tolist() == [T0, T0 + 120]
    assert values.tolist() == [1, 3]


def test_thinned_series_keeps_a_one_sample_spike_in_time_order(store: Store):
    n = 10_000
    temperature = np.sin(np.arange(n) / 500.0)
    temperature[6_543] = 40.0
    temperature[7_001] = -30.0
    write(
        store,
        LONDON,
        (T0 + 60 * np.arange(n)).tolist(),
        np.c_[temperature, temperature, temperature],
    )

    times, values = store.series("lon", "temperature_c", T0, max_points=100)

    assert 50 <= len(times) <= 100
    assert np.all(np.diff(times) > 0)
    assert values.max() == 40.0 and values.min() == -30.0
    assert times[values.argmax()] == T0 + 60 * 6_543


def test_series_of_an_unknown_variable_is_refused(store: Store):
    with pytest.raises(ValueError, match="no_such"):
        store.series("lon", "no_such", T0)


def test_anomalies_are_newest_first_and_filtered(store: Store):
    anomalies = [
        zscore(T0, 0.55),
        zscore(T0 + 60, 0.9, station_id="tyo"),
        gust_warning(T0 + 120),
        zscore(T0 + 180, 0.8, variable="humidity_pct"),
    ]
    store.write(
        station_keys=np.empty(0, dtype=np.int64),
        observed_at=np.empty(0),
        values=np.empty((0, len(VARIABLES))),
        source="sim",
        anomalies=anomalies,
    )

    def times(**filters) -> list[float]:
        return [a.observed_at - T0 for a in store.anomalies(**filters)]

    assert times() == [180, 120, 60, 0]
    assert times(limit=2) == [180, 120]
    assert times(since=T0 + 60) == [180, 120, 60]
    assert times(station_id="tyo") == [60]
    assert times(variable="temperature_c") == [60, 0]
    assert times(detector="gust") == [120]
    assert times(min_score=0.7) == [180, 60]
    assert times(detector="zscore", station_id="lon", min_score=0.6) == [180]


def test_a_file_in_place_of_the_directory_raises_store_error_naming_the_path(tmp_path: Path):
    (tmp_path / "data").write_text("not a directory")
    path = tmp_path / "data" / "mass.db"

    with pytest.raises(StoreError, match=re.escape(str(path))):
        open_store(path)


def test_a_corrupt_file_raises_store_error_naming_the_path(tmp_path: Path):
    path = tmp_path / "mass.db"
    path.write_bytes(b"this is not an SQLite database, just text" * 100)

    with pytest.raises(StoreError, match=re.escape(str(path))):
        open_store(path)


def test_a_store_from_a_newer_schema_is_refused(tmp_path: Path):
    open_store(tmp_path / "mass.db").close()
    with sqlite3.connect(tmp_path / "mass.db") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(StoreError, match="newer"):
        open_store(tmp_path / "mass.db")


def test_use_after_close_raises_store_error_and_close_is_idempotent(store: Store):
    store.close()
    store.close()

    with pytest.raises(StoreError, match=re.escape("mass.db")):
        store.recent_observations(0.0)


def test_a_reader_in_another_thread_sees_commits_while_the_writer_writes(store: Store):
    key = store.station_key(LONDON)
    batches, batch = 40, 500
    seen: list[int] = []
    failures: list[BaseException] = []
    reader = store.reader()
    writer_done = threading.Event()

    def read() -> None:
        try:
            while not writer_done.is_set():
                seen.append(len(reader.recent_observations(T0).observed_at))
                reader.recent_observations(T0, limit_per_station=10)
                reader.series("lon", "temperature_c", T0, max_points=50)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(batches):
            times = T0 + 60.0 * (i * batch + np.arange(batch))
            store.write(
                station_keys=np.full(batch, key),
                observed_at=times,
                values=np.ones((batch, len(VARIABLES))),
                source="sim",
            )
    finally:
        writer_done.set()
        thread.join()

    assert failures == []
    assert seen == sorted(seen) and len(seen) > 1
    assert all(count % batch == 0 for count in seen)  # whole batches, never half of one
    assert stored_rows(store)[0] == batches * batch
    reader.close()


def test_a_station_without_a_position_is_stored_and_read_back_as_nan(store: Store):
    somewhere = Station("x1", "Nowhere", math.nan, math.nan, math.nan)
    assert write(store, somewhere, [1.0], [[1.0] * len(VARIABLES)]) == 1
    stored = store.recent_observations(0.0).stations["x1"]
    assert math.isnan(stored.latitude) and math.isnan(stored.elevation_m)


def old_store(path: Path, version: int) -> sqlite3.Connection:
    """A store file as an earlier version left it: its meta table; the caller adds the rest."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    return conn


def test_a_version_1_store_is_migrated_keeping_its_stations(tmp_path: Path):
    path = tmp_path / "v1.sqlite3"
    with old_store(path, 1) as conn:
        conn.execute(
            "CREATE TABLE stations (id INTEGER PRIMARY KEY, station_id TEXT NOT NULL UNIQUE,"
            " name TEXT NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL,"
            " elevation_m REAL NOT NULL)"
        )
        conn.execute("INSERT INTO stations VALUES (7, 'lon', 'London', 51.5, -0.1, 11.0)")
    store = open_store(path)
    try:
        assert store.station_key(Station("lon", "London", 51.5, -0.1, 11.0)) == 7
        assert store.station_key(Station("x", "x", math.nan, math.nan)) == 8
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)


def test_a_version_2_store_gains_the_event_start_of_its_anomalies(tmp_path: Path):
    path = tmp_path / "v2.sqlite3"
    with old_store(path, 2) as conn:
        conn.execute(
            "CREATE TABLE anomalies (id INTEGER PRIMARY KEY, station_id TEXT NOT NULL,"
            " variable TEXT NOT NULL, value REAL, detector TEXT NOT NULL, score REAL,"
            " threshold REAL, observed_at REAL NOT NULL, statistic REAL, quantity REAL,"
            " severity TEXT)"
        )
        conn.execute(
            "INSERT INTO anomalies VALUES (1, 'lon', 'temperature_c', 9.0, 'zscore', 0.6, 6.0,"
            " 100.0, 7.0, NULL, NULL)"
        )
    store = open_store(path)
    try:
        (old,) = store.anomalies()
        assert old.detector == "zscore" and old.event_start is None
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)


def test_quarantined_messages_age_by_the_wall_time_they_were_received_at(store: Store):
    """Readings age by observed time (a simulator's runs ahead of the wall), but a message
    that could not be read has no observed time: it ages by when it came in."""
    store.write(
        station_keys=np.empty(0, dtype=np.int64),
        observed_at=np.empty(0),
        values=np.empty((0, len(VARIABLES))),
        source="sim",
        anomalies=[],
        rejections=[
            Rejection(received_at=T0, source="sim", reason="r", payload="old"),
            Rejection(received_at=T0 + 8 * DAY, source="sim", reason="r", payload="new"),
        ],
    )

    store.prune(now=T0 + 100 * DAY, received_before=T0 + 7.5 * DAY)

    assert [r.payload for r in store.quarantine()] == ["new"]


def test_a_version_3_store_gains_qc_flags_and_keeps_its_readings(tmp_path: Path):
    path = tmp_path / "v3.sqlite3"
    with old_store(path, 3) as conn:
        conn.execute(
            "CREATE TABLE observations (station INTEGER NOT NULL, observed_at REAL NOT NULL,"
            " source TEXT NOT NULL, temperature_c REAL, PRIMARY KEY (station, observed_at))"
            " WITHOUT ROWID"
        )
        conn.execute("INSERT INTO observations VALUES (1, 100.0, 'old', 9.5)")
    store = open_store(path, ("temperature_c",))
    try:
        lon = Station("lon", "London", 51.5, -0.1, 11.0)
        store.write(
            station_keys=np.array([store.station_key(lon)]),
            observed_at=np.array([200.0]),
            values=np.array([[99.0]]),
            source="test",
            suspect=np.array([[True]]),
        )
        assert store.suspect_readings("lon", 0.0) == [(200.0, ("temperature_c",))]
        old = store.recent_observations(0.0)
        assert sorted(old.values[:, 0].tolist()) == [9.5, 99.0]
    finally:
        store.close()
    with sqlite3.connect(path) as conn:  # its station-first key serves the reads already
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(observations)")}
    assert "observations_by_station" not in indexes


@pytest.mark.parametrize(
    "query",
    [
        "SELECT observed_at, temperature_c FROM observations"
        " WHERE station = 1 AND observed_at >= 0 ORDER BY observed_at DESC LIMIT 10",
        "SELECT o.observed_at, o.temperature_c FROM observations AS o"
        " JOIN stations AS s ON s.id = o.station"
        " WHERE s.station_id = 'lon' AND o.observed_at >= 0 AND o.observed_at <= 9"
        " ORDER BY o.observed_at",
        "DELETE FROM observations WHERE station = 1 AND observed_at < 5",
    ],
)
def test_reads_of_one_station_take_an_index_not_a_scan(store: Store, query: str):
    """Rows are keyed time first (writes at the table's end); a station's span is read
    through the index by station, never by scanning every station's rows."""
    write(store, Station("lon", "London", 51.5, -0.1, 11.0), [1.0, 2.0], [[1.0] * 3] * 2)
    with sqlite3.connect(store.path) as conn:
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "observations_by_station" in plan, plan
    assert "SCAN o " not in plan + " " and "SCAN observations" not in plan, plan


def test_qc_flags_name_the_variables_held_back_and_only_those_rows(store: Store):
    lon = Station("lon", "London", 51.5, -0.1, 11.0)
    suspect = np.zeros((3, len(VARIABLES)), dtype=bool)
    suspect[1, [0, len(VARIABLES) - 1]] = True
    store.write(
        station_keys=np.full(3, store.station_key(lon)),
        observed_at=np.array([10.0, 20.0, 30.0]),
        values=np.ones((3, len(VARIABLES))),
        source="test",
        suspect=suspect,
    )
    assert store.suspect_readings("lon", 0.0) == [(20.0, (VARIABLES[0], VARIABLES[-1]))]
    assert store.suspect_readings("lon", 25.0) == []


def expected_stats(times, values, step):
    """Per period of ``step`` seconds: (start, count, min, mean, max, std) computed directly."""
    rows = []
    present = ~np.isnan(values)
    times, values = times[present], values[present]
    for start in np.unique(np.floor(times / step) * step):
        inside = values[(times >= start) & (times < start + step)]
        rows.append((start, len(inside), inside.min(), inside.mean(), inside.max(), inside.std()))
    return rows


def assert_stats(store, variable, column, times, values, step=3600.0):
    found = store.stats(variable, step, T0 - DAY, station_id="lon")
    want = expected_stats(np.asarray(times), np.asarray(values)[:, column], step)
    assert len(found) == len(want)
    for got, (start, count, low, mean, high, std) in zip(found, want, strict=True):
        assert (got.start, got.count, got.minimum, got.maximum) == (start, count, low, high)
        assert math.isclose(got.mean, mean, rel_tol=1e-12)
        assert count == 1 or math.isclose(got.stddev, std, rel_tol=1e-6, abs_tol=1e-9)


def test_rollups_count_every_reading_once(store: Store):
    rng = np.random.default_rng(5)
    times = (T0 + np.arange(0, 3 * 3600, 7.0)).tolist()
    values = np.column_stack(
        [
            rng.normal(10, 3, len(times)),
            rng.normal(1000, 5, len(times)),
            rng.gamma(2, 2, len(times)),
        ]
    )
    values[rng.random(values.shape) < 0.1] = np.nan  # readings missing here and there
    write(store, LONDON, times[:900], values[:900].tolist())
    # Overlapping batches (a replay after a restart): the 100 already stored count once.
    write(store, LONDON, times[800:], values[800:].tolist())
    write(store, LONDON, times[1000:1200], values[1000:1200].tolist())
    for column, variable in enumerate(VARIABLES):
        assert_stats(store, variable, column, times, values)
    assert_stats(store, "temperature_c", 0, times, values, step=60.0)
    with pytest.raises(ValueError, match="whole number of minutes"):
        store.stats("temperature_c", 90.0, T0)


def test_a_store_written_before_rollups_gets_them_from_its_rows(tmp_path: Path):
    path = tmp_path / "v4.sqlite3"
    times = [T0 + 30.0 * i for i in range(400)]
    values = [[float(i % 17), 1000.0 + i % 5, float(i % 3)] for i in range(400)]
    with open_store(path) as store:
        write(store, LONDON, times, values)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE rollup_hour")
        conn.execute("UPDATE meta SET value = '4'")
    with open_store(path) as store:
        assert_stats(store, "temperature_c", 0, times, values)


def test_pruning_drops_the_rollups_of_what_it_deletes(store: Store):
    write(store, LONDON, [T0, T0 + 8 * DAY], [[1.0, 1000.0, 2.0], [3.0, 1001.0, 4.0]])
    store.prune(T0 + 8 * DAY)
    (only,) = store.stats("temperature_c", DAY, T0 - DAY)
    assert only.count == 1 and only.mean == 3.0


def test_a_constant_series_has_no_spread(store: Store):
    times = [T0 + i for i in range(3600)]
    write(store, LONDON, times, [[1013.3, 1001.7, 0.1]] * len(times))
    hourly = store.stats("temperature_c", 3600.0, T0 - DAY)
    for found in hourly + store.stats("pressure_hpa", 60.0, T0, station_id="lon"):
        assert found.stddev == 0.0 or (found.count == 1 and math.isnan(found.stddev))
