"""How the DetectorBank takes batches: several stations at once, any batch size, rows out of
order or repeated, warming without emitting, resets, and the shape of its outputs."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detectors import DetectorBank
from pipeline.frame import ObservationFrame
from pipeline.settings import (
    DetectorSettings,
    EwmaSettings,
    RuleSettings,
    StuckSettings,
    ZScoreSettings,
)
from pipeline.variables import STANDARD_VARIABLES

NAMES = [v.name for v in STANDARD_VARIABLES]
IDS = ["nyc", "lon", "tyo", "syd"]
SETTINGS = DetectorSettings(
    ewma=EwmaSettings(warmup=20),
    zscore=ZScoreSettings(window=20),
    stuck=StuckSettings(min_hours=0),  # its frozen stretches are short
)


def eventful_frame(seed: int = 0, per_station: int = 400) -> ObservationFrame:
    """Four stations of random-walk weather with faults, holes, a long silence and a front, in
    time order across stations."""
    rng = np.random.default_rng(seed)
    n_st, n_var = len(IDS), len(NAMES)
    base = np.array([15.0, 70.0, 980.0, 1013.0, 5.0, 8.0, 180.0, 0.0])
    step = np.array([0.2, 1.0, 0.1, 0.1, 0.5, 0.8, 10.0, 0.0])
    values = base + np.cumsum(rng.normal(size=(per_station, n_st, n_var)) * step, axis=0)
    values[:, :, NAMES.index("precip_mm")] = np.maximum(rng.normal(size=(per_station, n_st)), 0)
    values[:, :, NAMES.index("wind_gust_ms")] = np.abs(values[:, :, NAMES.index("wind_gust_ms")])
    front, spike, stuck, gust, silence = (int(per_station * f) for f in (0.5, 0.3, 0.7, 0.6, 0.4))
    msl = NAMES.index("pressure_msl_hpa")
    values[front : front + 30, 0, msl] -= np.linspace(0, 8, 30)
    values[front + 30 :, 0, msl] -= 8
    values[spike, 1, NAMES.index("temperature_c")] += 12
    values[stuck : stuck + 30, 2, NAMES.index("humidity_pct")] = 55.0
    values[gust : gust + 3, 3, NAMES.index("wind_gust_ms")] = 30.0
    values[rng.random(values.shape) < 0.05] = np.nan
    times = np.arange(per_station)[:, None] * 600.0 + rng.uniform(0, 120, size=(per_station, n_st))
    times[silence:, 1] += 5 * 3600.0  # a silence longer than max_gap at one station
    order = np.argsort(times.ravel(), kind="stable")
    station = np.tile(np.arange(n_st), per_station)
    return ObservationFrame(station[order], times.ravel()[order], values.reshape(-1, n_var)[order])


def run(frame: ObservationFrame, batch: int, **kwargs):
    bank = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    anomalies, scores = [], []
    for start in range(0, len(frame), batch):
        rows = np.arange(start, min(start + batch, len(frame)))
        result = bank.process(frame.take(rows), IDS, want_scores=True, **kwargs)
        anomalies += result.anomalies
        scores.append(result.scores)
    merged = {name: np.concatenate([s[name] for s in scores]) for name in scores[0]}
    return bank, anomalies, merged


def test_results_are_identical_whether_fed_in_one_batch_or_many():
    frame = eventful_frame()
    _, whole, whole_scores = run(frame, len(frame))
    assert {a.detector for a in whole} >= {"pressure_fall", "gust", "gap", "stuck", "zscore"}
    for batch in (1, 37, 500):
        _, parts, part_scores = run(frame, batch)
        assert parts == whole
        for name, scores in whole_scores.items():
            np.testing.assert_array_equal(part_scores[name], scores)


def test_stations_in_one_batch_are_each_taken_in_time_order_whatever_the_row_order():
    frame = eventful_frame(seed=1, per_station=150)
    _, expected, expected_scores = run(frame, len(frame))
    shuffled = np.random.default_rng(2).permutation(len(frame))
    _, got, got_scores = run(frame.take(shuffled), len(frame))
    assert got == expected
    for name, scores in expected_scores.items():
        np.testing.assert_array_equal(got_scores[name][np.argsort(shuffled)], scores)


def test_rows_not_later_than_the_station_previous_one_are_ignored():
    frame = eventful_frame(seed=3, per_station=100)
    reference = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    reference.process(frame.take(np.arange(200)), IDS)
    expected = reference.process(frame.take(np.arange(200, 250)), IDS, want_scores=True)

    bank = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    bank.process(frame.take(np.arange(200)), IDS)
    # Rows 150..199 were taken already, and 190..199 come a third time at the end.
    repeats = np.r_[np.arange(150, 250), np.arange(190, 200)]
    result = bank.process(frame.take(repeats), IDS, want_scores=True)
    assert result.anomalies == expected.anomalies
    for name, scores in result.scores.items():
        assert np.isnan(scores[:50]).all() and np.isnan(scores[100:]).all()
        np.testing.assert_array_equal(scores[50:100], expected.scores[name])


def test_warming_without_emitting_then_continuing_matches_an_uninterrupted_run():
    frame = eventful_frame(seed=4, per_station=300)
    _, everything, _ = run(frame, 250)
    warmed = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    history = warmed.process(frame.take(np.arange(800)), IDS, emit=False, want_scores=True)
    assert history.anomalies == []
    assert not np.isnan(history.scores["ewma"]).all()  # scores still come (mass-tui score)
    live = warmed.process(frame.take(np.arange(800, len(frame))), IDS).anomalies
    cutoff = frame.observed_at[800]
    assert live == [a for a in everything if a.observed_at >= cutoff]
    assert live


def test_scores_lie_between_0_and_1_and_are_nan_only_where_not_evaluated():
    frame = eventful_frame(seed=5, per_station=200)
    _, anomalies, scores = run(frame, 300)
    for name, score in scores.items():
        given = score[~np.isnan(score)]
        assert given.size and (given >= 0).all() and (given <= 1).all(), name
        assert np.isnan(score[np.isnan(frame.values)]).all()
    assert all(0.5 <= a.score < 1 for a in anomalies)
    # Statistical detectors never score wind direction, a circular quantity.
    direction = NAMES.index("wind_dir_deg")
    for name in ("zscore", "ewma", "cusum"):
        assert np.isnan(scores[name][:, direction]).all()


def test_a_new_station_index_grows_the_bank():
    bank = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    ids = [f"s{i}" for i in range(40)]
    values = np.tile(np.arange(8.0), (2, 1))
    bank.process(ObservationFrame(np.array([0, 0]), np.array([0.0, 60.0]), values), ids)
    gusty = values.copy()
    gusty[:, NAMES.index("wind_gust_ms")] = 30.0
    result = bank.process(ObservationFrame(np.array([39, 39]), np.array([0.0, 60.0]), gusty), ids)
    assert [(a.station_id, a.detector) for a in result.anomalies] == [("s39", "gust")]


def test_frame_with_the_wrong_number_of_columns_is_refused():
    bank = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    with pytest.raises(ValueError, match="one column per variable"):
        bank.process(ObservationFrame(np.array([0]), np.array([0.0]), np.ones((1, 3))), IDS)


def test_an_empty_frame_gives_empty_results():
    bank = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    empty = ObservationFrame(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 8)))
    result = bank.process(empty, IDS, want_scores=True)
    assert result.anomalies == [] and result.scores["zscore"].shape == (0, 8)
