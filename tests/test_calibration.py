"""Calibration of the statistical detectors: hand-computed running distribution and tail,
and its purpose, on crafted series: a statistic routinely past its threshold for a restless
series is not an anomaly there; the same excursion on a calm series, or a far larger one on
the restless series, still is."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.detectors import DetectorBank
from pipeline.detectors.calibration import (
    ALARM_TAIL,
    PRIOR_MEAN,
    PRIOR_VAR,
    RATE,
    SIGNIFICANT_U,
    calibrated_score,
    fused_score,
    learn,
    log10_tail,
)
from pipeline.frame import ObservationFrame
from pipeline.settings import DetectorSettings, RuleSettings
from pipeline.variables import VariableSpec

X = VariableSpec("x", "u", "x", -1e6, 1e6, 0.01)
HOUR = 3600.0


def test_learn_is_the_incremental_weighted_mean_and_variance_with_clipping():
    mean, var = np.array([PRIOR_MEAN]), np.array([PRIOR_VAR])
    m, v = PRIOR_MEAN, PRIOR_VAR
    for stat in (1.0, 0.2, 30.0, np.nan, 0.5):
        learn(np.array([stat]) - mean, np.sqrt(var), mean, var)
        if math.isnan(stat):
            continue  # not evaluated: nothing learnt
        e = min(stat - m, 4 * math.sqrt(v))  # 30 is clipped at 4 sd
        m, v = m + RATE * e, (1 - RATE) * (v + RATE * e * e)
        assert mean[0] == pytest.approx(m, rel=1e-12) and var[0] == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("u", [0.0, 1.0, 2.5, 3.719, 4.265, 6.0, 7.99])
def test_the_tail_is_the_normal_tail(u):
    assert 10 ** log10_tail(np.array([u]))[0] == pytest.approx(0.5 * math.erfc(u / math.sqrt(2)))


def test_the_tail_far_out_goes_on_falling_smoothly_and_the_score_never_reaches_1():
    u = np.array([7.9, 8.0, 8.1, 20.0, 40.0])
    tail = log10_tail(u)
    assert np.all(np.diff(tail) < 0) and abs(tail[1] - math.log10(6.22096e-16)) < 1e-3
    score = calibrated_score(u)
    assert np.all(np.diff(score) > 0) and score[-1] < 1.0
    assert calibrated_score(np.array([SIGNIFICANT_U]))[0] == pytest.approx(0.5, abs=1e-4)
    at_alarm = -log10_tail(np.array([SIGNIFICANT_U]))[0]
    assert at_alarm == pytest.approx(-math.log10(ALARM_TAIL), abs=2e-3)


def alarms(series: np.ndarray, detector: str = "ewma") -> list[int]:
    times = np.arange(len(series)) * HOUR
    frame = ObservationFrame(np.zeros(len(series), dtype=np.int64), times, series[:, None])
    bank = DetectorBank((X,), DetectorSettings(), RuleSettings())
    result = bank.process(frame, ["a"], want_scores=True)
    return [int(a.observed_at / HOUR) for a in result.anomalies if a.detector == detector]


def restless(n: int, seed: int) -> np.ndarray:
    """Hourly weather that wanders with heavy-tailed steps (Student t, 2 degrees of
    freedom): the EWMA chart of its residuals passes 5 sigma every week or so, as on real
    hourly temperature, humidity and wind."""
    return 10 + np.cumsum(np.random.default_rng(seed).standard_t(2, n) * 0.5)


def ewma_crossings(series: np.ndarray, since: int) -> tuple[int, int]:
    """(times the raw EWMA statistic went past its limit, EWMA anomalies), after ``since``."""
    frame = ObservationFrame(
        np.zeros(len(series), dtype=np.int64), np.arange(len(series)) * HOUR, series[:, None]
    )
    result = DetectorBank((X,), DetectorSettings(), RuleSettings()).process(
        frame, ["a"], want_scores=True
    )
    stats = result.statistics["ewma"][since:, 0]
    raw = int(np.count_nonzero(np.diff((stats >= 5.0).astype(int)) == 1))
    found = [a for a in result.anomalies if a.detector == "ewma" and a.observed_at >= since * HOUR]
    return raw, len(found)


def test_an_excursion_usual_for_a_restless_series_is_not_an_anomaly_there():
    counted = [ewma_crossings(restless(24 * 120, seed), since=24 * 30) for seed in range(3)]
    raw, found = (sum(c) for c in zip(*counted, strict=True))
    assert raw >= 30  # uncalibrated, the chart would alarm every few days
    assert found <= raw / 3


def test_a_large_shift_on_a_restless_series_is_still_an_anomaly():
    series = restless(24 * 120, seed=2)
    series[24 * 100 :] += 60.0  # far beyond anything the series did (and no QC on x)
    assert any(24 * 100 <= h < 24 * 100 + 6 for h in alarms(series))


def test_the_same_excursion_on_a_calm_series_is_an_anomaly():
    rng = np.random.default_rng(3)
    series = 10 + rng.normal(0, 0.3, 24 * 60)
    series[24 * 50 : 24 * 50 + 6] += 4.0
    assert any(24 * 50 <= h < 24 * 50 + 6 for h in alarms(series))


def test_fusion_takes_the_smallest_tail_times_the_detectors_that_evaluated():
    tails = np.array([[1e-6, 0.5, np.nan], [1e-3, np.nan, np.nan], [1e-9, 0.2, np.nan]])
    scores = np.where(np.isnan(tails), np.nan, calibrated_score(-_quantile(tails)))
    fused = fused_score(scores)
    t_alarm = -math.log10(ALARM_TAIL)
    expected_t = [-math.log10(3 * 1e-9), -math.log10(min(1.0, 2 * 0.2))]
    np.testing.assert_allclose(fused[:2], [t / (t + t_alarm) for t in expected_t], rtol=1e-6)
    assert fused[2] == 0.0  # no detector evaluated the row


def _quantile(p: np.ndarray) -> np.ndarray:
    """-u with upper tail ``p``, by bisection on log10_tail (test helper)."""
    lo, hi = np.full(p.shape, -10.0), np.full(p.shape, 40.0)
    for _ in range(200):
        mid = (lo + hi) / 2
        above = 10 ** log10_tail(mid) > p
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return -(lo + hi) / 2
