import numpy as np

from pipeline.frame import ObservationFrame
from pipeline.recent_history import RecentHistory


def frame(stations, times, values):
    return ObservationFrame(np.array(stations), np.array(times, float), np.array(values, float))


def test_series_keeps_the_newest_readings_oldest_first():
    history = RecentHistory(n_variables=1, depth=3)
    history.append(frame([0, 0], [1, 2], [[10], [20]]))
    history.append(frame([0, 0, 1], [3, 4, 4], [[30], [40], [99]]))
    times, values = history.series(0)
    assert times.tolist() == [2, 3, 4]
    assert values[:, 0].tolist() == [20, 30, 40]
    assert history.series(1)[1][:, 0].tolist() == [99]


def test_latest_gives_the_last_known_value_of_each_variable():
    history = RecentHistory(n_variables=2, depth=4)
    history.append(frame([0, 0], [1, 2], [[1.0, 5.0], [2.0, np.nan]]))
    times, values = history.latest()
    assert times.tolist() == [2]
    assert values.tolist() == [[2.0, 5.0]]


def walked_latest(history: RecentHistory, n_stations: int) -> tuple[list, list]:
    """What the rings hold, read the slow way: each station's newest time and, per variable,
    its newest value."""
    times, values = [], []
    for station in range(n_stations):
        t, v = history.series(station)
        times.append(t[-1] if len(t) else np.nan)
        row = []
        for column in range(v.shape[1]):
            seen = v[~np.isnan(v[:, column]), column]
            row.append(float(seen[-1]) if len(seen) else np.nan)
        values.append(row)
    return times, values


def test_latest_is_what_the_rings_hold_as_stations_arrive_and_the_budget_shrinks_them():
    rng = np.random.default_rng(7)
    row_bytes = 8 + 4 * 3
    # room for 240 rows of 10 stations: the ring shrinks as the 40th, then the 200th arrive
    history = RecentHistory(n_variables=3, depth=240, budget_mb=240 * 10 * row_bytes / (1 << 20))
    clock = 0.0
    for n_stations in (5, 10, 40, 40, 200, 200):
        for _ in range(3):
            stations = np.sort(rng.integers(0, n_stations, size=300))
            clock += 1.0
            times = clock + np.arange(300) * 1e-3
            values = rng.normal(size=(300, 3)).astype(np.float32).astype(float)
            values[rng.random((300, 3)) < 0.4] = np.nan
            history.append(frame(stations, times, values))
        latest_times, latest_values = history.latest()
        walked_times, walked_values = walked_latest(history, len(latest_times))
        np.testing.assert_array_equal(latest_times, walked_times)
        np.testing.assert_array_equal(latest_values, np.array(walked_values))
    assert history.depth == 32  # 200 stations in the budget of 10 at 240: the floor


def test_a_shrunk_ring_keeps_each_station_s_newest_readings():
    history = RecentHistory(n_variables=1, depth=64, budget_mb=64 * 2 * 12 / (1 << 20))
    history.append(frame([0] * 50 + [1] * 3, [*range(50), 0, 1, 2], [[v] for v in range(53)]))
    assert history.depth == 64
    history.append(frame([2, 3], [0, 0], [[98], [99]]))  # 4 stations: 32 rows each fit
    assert history.depth == 32
    times, values = history.series(0)
    assert times.tolist() == list(range(18, 50))
    assert values[:, 0].tolist() == list(range(18, 50))
    assert history.series(1)[0].tolist() == [0, 1, 2]
    history.append(frame([0], [50], [[50]]))
    assert history.series(0)[0].tolist() == list(range(19, 51))
