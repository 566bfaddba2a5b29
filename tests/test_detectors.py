"""The statistical detectors of the DetectorBank: values against hand computations and pandas,
warm-up, gaps, missing values, edge-triggering and run-time thresholds."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pandas as pd
import pytest

from pipeline.detectors import DetectorBank, control_band
from pipeline.detectors.calibration import ALARM_TAIL
from pipeline.detectors.layout import MEAN, N_STATS, initial_block
from pipeline.detectors.statistics import StatisticalConstants, advance
from pipeline.frame import ObservationFrame
from pipeline.settings import (
    CusumSettings,
    DetectorSettings,
    EwmaSettings,
    GapSettings,
    RuleSettings,
    StuckSettings,
    ZScoreSettings,
)
from pipeline.variables import STANDARD_VARIABLES, VariableSpec

X = VariableSpec("x", "", "x", -1e9, 1e9, 1.0)
NO_RULES = RuleSettings(
    pressure_fall=msgspec.structs.replace(RuleSettings().pressure_fall, enabled=False),
    gust=msgspec.structs.replace(RuleSettings().gust, enabled=False),
    rapid_change=msgspec.structs.replace(RuleSettings().rapid_change, enabled=False),
)


def series_frame(values, times=None, station: int = 0) -> ObservationFrame:
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    times = np.arange(len(values)) * 60.0 if times is None else np.asarray(times, dtype=float)
    return ObservationFrame(np.full(len(values), station, dtype=np.int64), times, values)


def statistic(result, detector: str, threshold: float, column: int = 0) -> np.ndarray:
    """The detector's statistic at each reading (``threshold``: the one in force, which the
    uncalibrated detectors' score ``stat / (stat + threshold)`` is checked against)."""
    stat = result.statistics[detector][:, column]
    if detector not in ("zscore", "ewma", "cusum"):
        score = result.scores[detector][:, column]
        np.testing.assert_allclose(score, stat / (stat + threshold), rtol=1e-12)
    return stat


def hand_settings(**changes) -> DetectorSettings:
    """lam = baseline_lam = 0.5, warm after one reading, k = 0.5, h = 2: easy by hand."""
    settings = DetectorSettings(
        ewma=EwmaSettings(lam=0.5, baseline_lam=0.5, warmup=1, limit=5.0),
        cusum=CusumSettings(k=0.5, h=2.0),
    )
    return msgspec.structs.replace(settings, **changes)


def flat_baseline_settings(lam: float, **ewma) -> DetectorSettings:
    """A baseline that does not move (baseline_lam ~ 0) so r = x - x[0] with resolution 1."""
    return DetectorSettings(
        ewma=EwmaSettings(lam=lam, baseline_lam=1e-15, warmup=1, limit=5.0, **ewma)
    )


# -- EWMA, CUSUM, baseline ------------------------------------------------------------------


def test_ewma_chart_matches_hand_computation_on_short_series():
    # x: 0 seeds mean 0, var 1 (resolution 1). x=2: r=2, z=0.5*2=1, mean 1, var 0.5*(1+0.5*4)=1.5.
    # x=1: r=0, z=0.5; var 0.75 -> sigma floored at 1. x=4: r=3, z=0.5*3+0.5*0.5=1.75.
    bank = DetectorBank((X,), hand_settings(), NO_RULES)
    result = bank.process(series_frame([0.0, 2.0, 1.0, 4.0]), ["a"], want_scores=True)
    sd = math.sqrt(0.5 / 1.5)
    expected = np.array([np.nan, 1.0, 0.5, 1.75]) / sd
    np.testing.assert_allclose(statistic(result, "ewma", 5.0), expected, rtol=1e-12)


def test_ewma_recursion_matches_pandas_ewm_on_regular_spacing():
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=200))
    bank = DetectorBank((X,), flat_baseline_settings(0.2), NO_RULES)
    result = bank.process(series_frame(x), ["a"], want_scores=True)
    z = pd.Series(x - x[0]).ewm(alpha=0.2, adjust=False).mean().to_numpy()
    expected = np.abs(z) / math.sqrt(0.2 / 1.8)
    np.testing.assert_allclose(statistic(result, "ewma", 5.0)[1:], expected[1:], rtol=1e-9)


def baseline_means(x: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """The baseline mean after each reading of a 60 s series, straight from the kernel."""
    constants = StatisticalConstants.build((X,), settings).widened(1)
    state = initial_block(constants.resolution[0])[:, None, :].copy()
    stats = np.empty((N_STATS, 1, 1))
    ring = np.zeros(settings.zscore.window)
    ring_base, cusum_h = np.zeros((1, 1), dtype=np.intp), np.full((1, 1), 12.0)
    means = []
    with np.errstate(invalid="ignore", divide="ignore"):  # the z-score window starts empty
        for i, value in enumerate(x):
            reading, when = np.array([[value]]), np.array([[60.0 * i]])
            advance(state, reading, when, stats, ring, ring_base, constants, cusum_h, None)
            means.append(state[MEAN, 0, 0])
    return np.array(means)


def test_baseline_mean_matches_pandas_ewm_on_regular_spacing():
    rng = np.random.default_rng(4)
    x = 1000.0 + np.cumsum(rng.normal(scale=0.3, size=300))
    # Warm-up longer than the series: no clipping, the baseline is a plain EW mean.
    settings = DetectorSettings(ewma=EwmaSettings(baseline_lam=0.05, warmup=1000))
    expected = pd.Series(x).ewm(alpha=0.05, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(baseline_means(x, settings), expected, rtol=1e-12)


def test_baseline_clips_outliers_at_4_sigma_only_once_warm():
    # Resolution 1, so sigma = 1 after the first reading; baseline_lam 0.5.
    x = np.array([0.0, 100.0])
    warm = DetectorSettings(ewma=EwmaSettings(baseline_lam=0.5, warmup=1))
    cold = DetectorSettings(ewma=EwmaSettings(baseline_lam=0.5, warmup=2))
    assert baseline_means(x, warm)[-1] == pytest.approx(0.5 * 4.0)
    assert baseline_means(x, cold)[-1] == pytest.approx(0.5 * 100.0)


def test_cusum_matches_hand_computation_and_restarts_after_alarm():
    # r = 2, 0, 3 (as in the EWMA test), then x = 2.5 equals the mean: r = 0.
    # S+ = 1.5, 1.0, 3.5 -> alarm at h = 2, sums restart -> 0 (it would be 3.0 without).
    bank = DetectorBank((X,), hand_settings(), NO_RULES)
    result = bank.process(series_frame([0.0, 2.0, 1.0, 4.0, 2.5]), ["a"], want_scores=True)
    np.testing.assert_allclose(
        statistic(result, "cusum", 2.0), [np.nan, 1.5, 1.0, 3.5, 0.0], atol=1e-12
    )
    alarms = [a for a in result.anomalies if a.detector == "cusum"]
    assert [(a.observed_at, a.statistic, a.threshold) for a in alarms] == [(180.0, 3.5, 2.0)]
    # Calibrated (pipeline.detectors.calibration): the running mean and variance of the CUSUM
    # statistic, from the prior E|Z|, Var|Z|, took 1.5 and 1.0 before the alarm's 3.5.
    rate, mean, var = 1 / 500, math.sqrt(2 / math.pi), 1 - 2 / math.pi
    for seen in (1.5, 1.0):
        e = min(seen - mean, 4 * math.sqrt(var))
        mean, var = mean + rate * e, (1 - rate) * (var + rate * e * e)
    u = (3.5 - mean) / math.sqrt(var)
    tail = 0.5 * math.erfc(u / math.sqrt(2))
    at_alarm = -math.log10(ALARM_TAIL)
    assert alarms[0].score == pytest.approx(-math.log10(tail) / (-math.log10(tail) + at_alarm))


def test_cusum_signals_once_for_a_sustained_shift_and_again_after_recovery():
    rng = np.random.default_rng(5)
    calm = rng.normal(scale=1.0, size=120)
    shifted = rng.normal(scale=1.0, size=40) + 4.0
    x = np.concatenate([calm, shifted, calm[:60], shifted])
    settings = DetectorSettings(
        ewma=EwmaSettings(warmup=60, baseline_lam=0.01), cusum=CusumSettings(k=1.0, h=12.0)
    )
    bank = DetectorBank((X,), settings, NO_RULES)
    alarms = [a for a in bank.process(series_frame(x), ["a"]).anomalies if a.detector == "cusum"]
    minutes = [a.observed_at / 60 for a in alarms]
    assert len(minutes) == 2
    assert 120 <= minutes[0] < 130 and 220 <= minutes[1] < 260


def test_irregular_spacing_weights_by_elapsed_time():
    # Spacings 60, 60, 180, 30 s: the first sets dt_ref = 60; 180 s counts as 3 steps (then
    # dt_ref = 60 + 0.1 * 120 = 72); 30 s as 30/72 of a step. lam = 0.5, r = x - 0.
    times = [0.0, 60.0, 120.0, 300.0, 330.0]
    bank = DetectorBank((X,), flat_baseline_settings(0.5), NO_RULES)
    result = bank.process(series_frame([0.0, 1.0, 1.0, 2.0, 2.0], times), ["a"], want_scores=True)
    z1 = 0.5
    z2 = 1.0 + 0.5 * (z1 - 1.0)
    z3 = 2.0 + 0.5**3 * (z2 - 2.0)
    z4 = 2.0 + 0.5 ** (30 / 72) * (z3 - 2.0)
    expected = np.array([z1, z2, z3, z4]) * math.sqrt(3.0)
    np.testing.assert_allclose(statistic(result, "ewma", 5.0)[1:], expected, rtol=1e-9)


def test_control_band_is_the_detector_chart_in_data_units():
    rng = np.random.default_rng(6)
    x = 20 + np.cumsum(rng.normal(scale=0.2, size=400))
    x[250] += 3.0
    times = np.cumsum(rng.uniform(30, 90, size=400))
    settings = DetectorSettings(ewma=EwmaSettings(warmup=30))
    bank = DetectorBank((X,), settings, NO_RULES)
    result = bank.process(series_frame(x, times), ["a"], want_scores=True)
    line, lower, upper = control_band(times, x, settings.ewma, X.resolution)
    centre = (lower + upper) / 2
    from_band = settings.ewma.limit * np.abs(line - centre) / (upper - centre)
    np.testing.assert_allclose(from_band, statistic(result, "ewma", 5.0), rtol=1e-9)
    assert np.isnan(line[:30]).all() and not np.isnan(line[30:]).any()


# -- rolling z-score ------------------------------------------------------------------------


def test_zscore_matches_pandas_rolling_mean_and_std_of_previous_window():
    rng = np.random.default_rng(7)
    x = 50 + np.cumsum(rng.normal(size=150))
    resolution = VariableSpec("x", "", "x", -1e9, 1e9, 1e-9)
    settings = DetectorSettings(zscore=ZScoreSettings(window=10))
    bank = DetectorBank((resolution,), settings, NO_RULES)
    result = bank.process(series_frame(x), ["a"], want_scores=True)
    s = pd.Series(x)
    z = ((s - s.rolling(10).mean().shift(1)) / s.rolling(10).std().shift(1)).to_numpy()
    got = statistic(result, "zscore", settings.zscore.threshold)
    assert np.isnan(got[:10]).all()
    np.testing.assert_allclose(got[10:], np.abs(z[10:]), rtol=1e-9)
    assert bank.latest_zscore(0)[0] == pytest.approx(z[-1], rel=1e-9)


def test_zscore_spread_is_floored_at_the_resolution():
    x = [5.0] * 12 + [5.2]
    bank = DetectorBank((X,), DetectorSettings(zscore=ZScoreSettings(window=10)), NO_RULES)
    result = bank.process(series_frame(x), ["a"], want_scores=True)
    assert statistic(result, "zscore", 6.0)[-1] == pytest.approx(0.2)


def test_latest_zscore_is_nan_until_the_window_is_full_and_for_unknown_stations():
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    values = np.tile(np.arange(8, dtype=float), (30, 1))
    bank.process(series_frame(values), ["a"])
    assert np.isnan(bank.latest_zscore(0)).all()
    assert np.isnan(bank.latest_zscore(5)).all()


# -- warm-up, gaps, missing values -----------------------------------------------------------


def test_no_alarms_during_warm_up():
    x = [0.0, 100.0, -100.0, 250.0, 0.0, 500.0] + [0.0] * 20
    settings = DetectorSettings(ewma=EwmaSettings(warmup=10), zscore=ZScoreSettings(window=10))
    bank = DetectorBank((X,), settings, NO_RULES)
    result = bank.process(series_frame(x), ["a"], want_scores=True)
    early = [a for a in result.anomalies if a.observed_at < 600 and a.detector != "stuck"]
    assert early == []
    for detector in ("ewma", "cusum", "zscore"):
        assert np.isnan(result.scores[detector][:10]).all()


def test_gap_longer_than_max_gap_restarts_warm_up():
    rng = np.random.default_rng(8)
    x = rng.normal(size=80)
    times = np.arange(80) * 60.0
    times[40:] += 4 * 3600.0  # four silent hours before reading 40
    x[41] = 30.0  # would be a huge outlier against the old baseline
    settings = DetectorSettings(ewma=EwmaSettings(warmup=10), zscore=ZScoreSettings(window=10))
    bank = DetectorBank((X,), settings, NO_RULES)
    result = bank.process(series_frame(x, times), ["a"], want_scores=True)
    assert not np.isnan(result.scores["ewma"][39]).any()
    assert np.isnan(result.scores["ewma"][40:50]).all()
    assert np.isnan(result.scores["zscore"][40:50]).all()
    kinds = {(a.detector, a.observed_at) for a in result.anomalies}
    assert ("gap", times[40]) in kinds
    assert not any(d in ("ewma", "cusum", "zscore") and t == times[41] for d, t in kinds)


def test_missing_values_leave_their_series_untouched_and_outputs_nan_free():
    rng = np.random.default_rng(9)
    n = 300
    values = np.column_stack([np.cumsum(rng.normal(size=n)), rng.normal(size=n) * 3])
    values[150, 1] = 40.0
    holes = rng.random(n) < 0.2
    with_holes = values.copy()
    with_holes[holes, 0] = np.nan
    variables = (X, VariableSpec("y", "", "y", -1e9, 1e9, 0.1))
    settings = DetectorSettings(ewma=EwmaSettings(warmup=20), zscore=ZScoreSettings(window=20))
    full = DetectorBank(variables, settings, NO_RULES)
    result = full.process(series_frame(with_holes), ["a"], want_scores=True)
    for anomaly in result.anomalies:
        fields = (anomaly.value, anomaly.score, anomaly.threshold, anomaly.statistic)
        assert all(math.isfinite(f) for f in fields)
        assert 0 < anomaly.score < 1
    for scores in result.scores.values():
        assert np.isnan(scores[holes, 0]).all()
    # Column 0 behaves exactly as if the rows with holes had never been sent.
    kept = DetectorBank((X,), settings, NO_RULES)
    alone = kept.process(
        series_frame(values[~holes, 0], np.arange(n)[~holes] * 60.0), ["a"], want_scores=True
    )
    for name, scores in alone.scores.items():
        np.testing.assert_array_equal(result.scores[name][~holes, 0], scores[:, 0])


# -- edges, thresholds, stuck, gap -----------------------------------------------------------


def test_a_long_excursion_gives_one_ewma_anomaly_and_a_second_one_after_re_arming():
    rng = np.random.default_rng(10)
    calm = rng.normal(scale=0.5, size=100)
    x = np.concatenate([calm, calm[:30] + 6.0, calm, calm[:30] + 6.0])
    bank = DetectorBank((X,), DetectorSettings(ewma=EwmaSettings(warmup=60)), NO_RULES)
    alarms = [a for a in bank.process(series_frame(x), ["a"]).anomalies if a.detector == "ewma"]
    assert len(alarms) == 2
    assert 100 <= alarms[0].observed_at / 60 < 130 and 230 <= alarms[1].observed_at / 60 < 260


def test_set_threshold_applies_from_the_next_observation():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(200, 2))
    x[150] = 5.0  # about 5 sigma in both variables
    variables = (
        VariableSpec("x", "", "x", -1e9, 1e9, 1e-3),
        VariableSpec("y", "", "y", -1e9, 1e9, 1e-3),
    )
    settings = DetectorSettings(zscore=ZScoreSettings(window=60, threshold=6.0))

    def zscore_alarms(change: bool) -> list[tuple[str, float, float]]:
        bank = DetectorBank(variables, settings, NO_RULES)
        bank.process(series_frame(x[:150]), ["a"])
        if change:
            bank.set_threshold("zscore", "threshold", "x", 4.0)
            assert [t.value for t in bank.thresholds("x") if t.detector == "zscore"] == [4.0]
            assert [t.value for t in bank.thresholds("y") if t.detector == "zscore"] == [6.0]
        result = bank.process(series_frame(x[150:], np.arange(150, 200) * 60.0), ["a"])
        alarms = [a for a in result.anomalies if a.detector == "zscore"]
        return [(a.variable, a.observed_at, a.threshold) for a in alarms]

    assert zscore_alarms(change=False) == []
    assert zscore_alarms(change=True) == [("x", 150 * 60.0, 4.0)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("zscor", "threshold", "x", 3.0), "unknown detector 'zscor'"),
        (("zscore", "limit", "x", 3.0), "has no parameter 'limit'"),
        (("zscore", "threshold", "nope", 3.0), "unknown variable 'nope'"),
        (("zscore", "threshold", "x", 0.0), "must be a positive number"),
        (("zscore", "threshold", "x", -1.0), "must be a positive number"),
        (("gap", "factor", "x", 0.5), "must be above 1"),
        (("stuck", "samples", "dir", 5.0), "does not apply to 'dir'"),
        (("pressure_fall", "advisory_hpa", "x", 3.0), "does not apply to 'x'"),
    ],
)
def test_set_threshold_rejects_bad_requests_with_a_clear_message(args, message):
    direction = VariableSpec("dir", "°", "dir", 0, 360, 1.0, "sporadic")
    bank = DetectorBank((X, direction), DetectorSettings(), NO_RULES)
    with pytest.raises(ValueError, match=message):
        bank.set_threshold(*args)


def test_thresholds_list_what_applies_to_each_variable():
    settings = DetectorSettings(
        zscore=ZScoreSettings(thresholds={"humidity_pct": 4.0}), cusum=CusumSettings(enabled=False)
    )
    bank = DetectorBank(STANDARD_VARIABLES, settings, RuleSettings())

    def listed(variable):
        return {
            (t.detector, t.parameter): (t.value, t.step, t.unit) for t in bank.thresholds(variable)
        }

    temperature = listed("temperature_c")
    assert set(temperature) == {
        ("zscore", "threshold"),
        ("ewma", "limit"),
        ("stuck", "samples"),
        ("gap", "factor"),
        ("rapid_change", "threshold"),
    }
    assert temperature["rapid_change", "threshold"] == (6.0, 0.5, "°C")
    assert temperature["stuck", "samples"] == (15.0, 1.0, "samples")
    assert listed("humidity_pct")["zscore", "threshold"] == (4.0, 0.5, "σ")
    assert set(listed("wind_dir_deg")) == {("stuck", "samples"), ("gap", "factor")}
    assert set(listed("precip_mm")) == set()  # zero-inflated: rules only, and none is set
    assert set(listed("wind_gust_ms")) == {("gust", "advisory_ms"), ("gust", "warning_ms")}
    assert ("stuck", "samples") in listed("humidity_pct")  # bounded: stuck except at a bound
    assert listed("pressure_msl_hpa")["pressure_fall", "warning_hpa"] == (6.0, 0.5, "hPa")
    assert listed("wind_gust_ms")["gust", "advisory_ms"] == (20.6, 0.5, "m/s")


def test_stuck_sensor_alarms_once_after_the_configured_repeats():
    x = list(np.linspace(0, 10, 20)) + [7.0] * 30 + [8.0, 9.0] + [7.0] * 10
    settings = DetectorSettings(stuck=StuckSettings(samples=15, min_hours=0))
    bank = DetectorBank((X,), settings, NO_RULES)
    result = bank.process(series_frame(x), ["a"], want_scores=True)
    stuck = [a for a in result.anomalies if a.detector == "stuck"]
    # Reading 20 is the first 7.0; reading 35 is its 15th repeat.
    assert [(a.observed_at / 60, a.statistic, a.score) for a in stuck] == [(35.0, 15.0, 0.5)]


def test_stuck_check_skips_variables_that_rest_legitimately():
    rain = VariableSpec("precip_mm", "mm", "rain", 0, 500, 0.1, "zero_inflated")
    bank = DetectorBank((rain,), DetectorSettings(), NO_RULES)
    result = bank.process(series_frame([0.0] * 40), ["a"], want_scores=True)
    assert result.anomalies == []
    assert np.isnan(result.scores["stuck"]).all()


def test_gap_detector_reports_a_late_reading_with_its_spacing():
    times = [*np.arange(10) * 60.0, 540 + 200.0, 740 + 300.0, 1040 + 60.0]
    bank = DetectorBank((X,), DetectorSettings(gap=GapSettings(factor=4.0)), NO_RULES)
    result = bank.process(series_frame(np.arange(13.0), times), ["a"])
    gaps = [a for a in result.anomalies if a.detector == "gap"]
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap.observed_at, gap.quantity, gap.threshold) == (1040.0, 300.0, 4.0)
    # dt_ref after nine 60 s spacings and one of 200 s: 60 + 0.1 * 140 = 74.
    assert gap.statistic == pytest.approx(300 / 74)


def test_a_bounded_variable_resting_at_its_bound_is_not_stuck():
    """Humidity at 100 % through a night of fog is weather; at 63 % for as long it is a
    frozen sensor."""
    humidity = VariableSpec("humidity_pct", "%", "RH", 0, 100, 0.5, "bounded")

    def stuck(series):
        settings = DetectorSettings(stuck=StuckSettings(min_hours=0))
        bank = DetectorBank((humidity,), settings, NO_RULES)
        return [
            a for a in bank.process(series_frame(series), ["a"]).anomalies if a.detector == "stuck"
        ]

    assert stuck(list(np.linspace(80, 100, 10)) + [100.0] * 60) == []
    assert len(stuck(list(np.linspace(80, 63, 10)) + [63.0] * 60)) == 1


def test_a_value_held_for_hours_is_not_stuck_until_it_has_been_for_min_hours():
    """Hourly whole degrees: 18 h on one value happened several times a year on a real
    station; a failed sensor stays for days. The alarm comes at 24 h, not at 15 readings."""
    rng = np.random.default_rng(8)
    moving = list(np.round(10 + rng.normal(0, 2, 30)))

    def stuck_at(flat_hours: int) -> list[float]:
        series = moving + [3.0] * (flat_hours + 1) + moving
        times = np.arange(len(series)) * 3600.0
        bank = DetectorBank((X,), DetectorSettings(), NO_RULES)
        found = bank.process(series_frame(series, times), ["a"]).anomalies
        return [a.observed_at / 3600.0 - 30 for a in found if a.detector == "stuck"]

    assert stuck_at(18) == []
    assert stuck_at(40) == [24.0]  # 24 h after the first 3.0
