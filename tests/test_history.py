import numpy as np

from pipeline.frame import ObservationFrame
from pipeline.history import RecentHistory


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
