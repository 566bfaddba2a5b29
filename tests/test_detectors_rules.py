"""The meteorological rules of the DetectorBank (pressure fall, gust, rapid change) and the
trailing-window extremes they are built on."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detectors import DetectorBank, windows
from pipeline.detectors.windows import N_BUCKETS, WindowExtremes, running_max, trailing_max
from pipeline.frame import ObservationFrame
from pipeline.settings import DetectorSettings, GustSettings, RuleSettings
from pipeline.variables import STANDARD_VARIABLES

NAMES = [v.name for v in STANDARD_VARIABLES]
HOUR = 3600.0


def frame_of(columns: dict[str, np.ndarray], times: np.ndarray, station: int = 0):
    """A one-station frame of the standard variables; unnamed columns are missing."""
    values = np.full((len(times), len(NAMES)), np.nan)
    for name, column in columns.items():
        values[:, NAMES.index(name)] = column
    return ObservationFrame(np.full(len(times), station, dtype=np.int64), times, values)


def rule_anomalies(result, rule: str):
    return [a for a in result.anomalies if a.detector == rule]


def pressure_run(fall_hpa: float, variable: str = "pressure_msl_hpa"):
    """Steady 1015 hPa for 6 h, a linear fall of ``fall_hpa`` over 3 h, then steady (10 min)."""
    times = np.arange(0, 15 * HOUR, 600.0)
    progress = np.clip((times - 6 * HOUR) / (3 * HOUR), 0.0, 1.0)
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    result = bank.process(frame_of({variable: 1015.0 - fall_hpa * progress}, times), ["a"])
    return rule_anomalies(result, "pressure_fall")


def test_pressure_fall_of_7_hpa_in_3h_raises_advisory_then_warning():
    alarms = pressure_run(7.0)
    assert [a.severity for a in alarms] == ["advisory", "warning"]
    advisory, warning = alarms
    assert advisory.threshold == 3.5 and 3.5 <= advisory.quantity < 3.5 + 7 / 18
    assert warning.threshold == 6.0 and 6.0 <= warning.quantity < 6.0 + 7 / 18
    assert warning.statistic == warning.quantity
    assert warning.score == pytest.approx(warning.quantity / (warning.quantity + 6.0))
    assert warning.variable == "pressure_msl_hpa"


def test_pressure_fall_of_4_hpa_in_3h_raises_advisory():
    alarms = pressure_run(4.0)
    assert [a.severity for a in alarms] == ["advisory"]


def test_pressure_fall_of_2_hpa_in_3h_raises_nothing():
    assert pressure_run(2.0) == []


def test_station_and_sea_level_pressure_are_separate_series():
    times = np.arange(0, 12 * HOUR, 600.0)
    progress = np.clip((times - 6 * HOUR) / (3 * HOUR), 0.0, 1.0)
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    # A high station: ~900 hPa at the barometer, ~1013 reduced to sea level. Mixing the two
    # would read as a 113 hPa "fall".
    steady = bank.process(
        frame_of({"pressure_hpa": np.full(len(times), 900.0), "pressure_msl_hpa": 1013.0}, times),
        ["a"],
    )
    assert rule_anomalies(steady, "pressure_fall") == []
    later = times + 12 * HOUR
    falling = bank.process(
        frame_of({"pressure_hpa": 900.0 - 7.0 * progress, "pressure_msl_hpa": 1013.0}, later),
        ["a"],
    )
    assert {a.variable for a in rule_anomalies(falling, "pressure_fall")} == {"pressure_hpa"}


def test_gust_levels_follow_the_nws_thresholds_and_re_arm_below_advisory():
    gusts = np.array([15.0, 22.0, 22.0, 27.0, 27.0, 15.0, 27.0])
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    result = bank.process(frame_of({"wind_gust_ms": gusts}, np.arange(7) * 60.0), ["a"])
    alarms = rule_anomalies(result, "gust")
    assert [(a.severity, a.quantity, a.threshold, a.observed_at) for a in alarms] == [
        ("advisory", 22.0, 20.6, 60.0),
        ("warning", 27.0, 25.9, 180.0),
        ("warning", 27.0, 25.9, 360.0),
    ]
    assert bank.holding_rules(["a"]) == {("a", "gust", "wind_gust_ms")}
    bank.process(frame_of({"wind_gust_ms": np.array([10.0])}, np.array([420.0])), ["a"])
    assert bank.holding_rules(["a"]) == set()


def test_gust_exactly_at_the_advisory_threshold_scores_one_half():
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    frame = frame_of({"wind_gust_ms": np.array([10.0, 20.6])}, np.array([0.0, 60.0]))
    result = bank.process(frame, ["a"], want_scores=True)
    column = NAMES.index("wind_gust_ms")
    assert result.scores["gust"][1, column] == 0.5
    (alarm,) = rule_anomalies(result, "gust")
    assert (alarm.severity, alarm.score) == ("advisory", 0.5)


def test_rapid_rise_of_7_degrees_in_30_minutes_raises_advisory():
    times = np.arange(0, 4 * HOUR, 300.0)
    temperature = 10.0 + 7.0 * np.clip((times - 2 * HOUR) / 1800.0, 0.0, 1.0)
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    result = bank.process(frame_of({"temperature_c": temperature}, times), ["a"])
    (alarm,) = rule_anomalies(result, "rapid_change")
    assert (alarm.severity, alarm.threshold, alarm.variable) == ("advisory", 6.0, "temperature_c")
    # Readings every 5 min climb 7/6 °C each: the sixth, 7 °C above the start, is past 6 °C.
    assert (alarm.quantity, alarm.observed_at) == (pytest.approx(7.0), 2 * HOUR + 1800.0)


def test_rapid_drop_counts_as_much_as_a_rise():
    times = np.arange(0, 3 * HOUR, 300.0)
    humidity = np.where(times < HOUR, 90.0, 50.0)
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    result = bank.process(frame_of({"humidity_pct": humidity}, times), ["a"])
    assert [(a.quantity, a.observed_at) for a in rule_anomalies(result, "rapid_change")] == [
        (40.0, HOUR)
    ]


def test_slow_rise_of_7_degrees_over_3_hours_is_not_rapid():
    times = np.arange(0, 6 * HOUR, 300.0)
    temperature = 10.0 + 7.0 * np.clip((times - HOUR) / (3 * HOUR), 0.0, 1.0)
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    result = bank.process(frame_of({"temperature_c": temperature}, times), ["a"])
    assert rule_anomalies(result, "rapid_change") == []


def test_disabled_rules_and_variables_absent_from_the_bank_are_skipped():
    rules = RuleSettings(gust=GustSettings(enabled=False))
    no_wind = DetectorBank(STANDARD_VARIABLES[:4], DetectorSettings(), RuleSettings())
    assert any(t.detector == "rapid_change" for t in no_wind.thresholds("temperature_c"))
    no_wind.process(
        ObservationFrame(np.zeros(1, dtype=np.int64), np.zeros(1), np.ones((1, 4))), ["a"]
    )
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), rules)
    assert not any(t.detector == "gust" for t in bank.thresholds("wind_gust_ms"))
    result = bank.process(
        frame_of({"wind_gust_ms": np.array([40.0, 40.0])}, np.array([0.0, 60.0])), ["a"]
    )
    assert rule_anomalies(result, "gust") == []


# -- the windows underneath -------------------------------------------------------------------


def test_trailing_max_matches_brute_force():
    grid = np.random.default_rng(1).normal(size=(50, 3, 2))
    got = trailing_max(grid, 7)
    assert np.isneginf(got[0]).all()
    for g in range(1, 50):
        np.testing.assert_array_equal(got[g], grid[max(0, g - 7) : g].max(axis=0))


def test_running_max_restarts_with_each_group():
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    group = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    assert running_max(values, group).tolist() == [3, 3, 4, 1, 5, 9, 9, 9]
    # Two interleaved sequences (rows of an (n, 2) array), grouped independently.
    pairs = np.array([[3, 0], [1, 5], [4, 2], [1, 8]], dtype=float)
    groups = np.array([[0, 0], [0, 0], [1, 0], [1, 1]])
    assert running_max(pairs.ravel(), groups.ravel(), 2).reshape(4, 2).tolist() == [
        [3, 0],
        [3, 5],
        [4, 5],
        [4, 8],
    ]


@pytest.mark.parametrize(
    ("stations", "chunks", "few_readings"),
    [(3, 7, 0), (3, 7, 1_000), (40, 60, 0), (40, 60, 1_000)],
    ids=["grid", "rounds", "many-stations-grid", "many-stations-rounds"],
)
def test_window_extremes_across_batches_match_brute_force(
    monkeypatch, stations, chunks, few_readings
):
    """Both ways of taking a batch (on the grid; a round at a time) give every reading its
    exact window extremes, across batches, silences and missing values."""
    monkeypatch.setattr(windows, "FEW_READINGS", few_readings)
    rng = np.random.default_rng(2)
    n = 600
    station = rng.integers(0, stations, size=n)
    times = np.sort(rng.uniform(0, 20 * HOUR, size=n))
    times[n // 3 :] += 2 * 24 * HOUR  # silences far longer than a window, within a batch
    times[n // 2 :] += 5 * 24 * HOUR
    values = rng.normal(size=(n, 2))
    values[rng.random((n, 2)) < 0.1] = np.nan
    windows_s = [3 * HOUR, 1 * HOUR]
    extremes = WindowExtremes([0, 1], windows_s, capacity=stations)
    got_high, got_low = np.empty((n, 2)), np.empty((n, 2))
    for chunk in np.array_split(np.arange(n), chunks):
        order = chunk[np.lexsort((times[chunk], station[chunk]))]
        starts = np.flatnonzero(np.r_[True, np.diff(station[order]) != 0])
        high, low = extremes.update(station[order], times[order], values[order], starts)
        got_high[order], got_low[order] = high, low
    for i in range(n):
        for c, window in enumerate(windows_s):
            width = window / N_BUCKETS
            bucket = np.floor(times / width)
            mine = (station == station[i]) & (times <= times[i])
            mine &= bucket >= bucket[i] - N_BUCKETS
            seen = values[mine, c]
            seen = seen[~np.isnan(seen)]
            assert got_high[i, c] == (seen.max() if seen.size else -np.inf)
            assert got_low[i, c] == (seen.min() if seen.size else np.inf)


def test_a_silence_longer_than_max_gap_re_arms_the_rules():
    times = np.array([0.0, 60.0, 120.0, 120.0 + 4 * HOUR])
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    result = bank.process(frame_of({"wind_gust_ms": np.full(4, 27.0)}, times), ["a"])
    assert [a.observed_at for a in rule_anomalies(result, "gust")] == [0.0, times[-1]]
