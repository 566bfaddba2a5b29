"""The daily profile: what each hour is, worked by hand, learnt from past days only."""

import numpy as np
import pytest

from pipeline.detectors import DetectorBank
from pipeline.detectors.diurnal import DiurnalProfile
from pipeline.frame import ObservationFrame
from pipeline.settings import DetectorSettings, DiurnalSettings, RuleSettings
from pipeline.variables import STANDARD_VARIABLES

NAMES = [v.name for v in STANDARD_VARIABLES]
T = NAMES.index("temperature_c")
HOUR, DAY = 3600.0, 86400.0
# Warm from noon to 17:00, cool the rest of the day: mean 0 over the day, no slope.
CYCLE = np.array([3.0 if 12 <= h < 18 else -1.0 for h in range(24)])


def day_of(profile: DiurnalProfile, day: int, level, spacing_s: float = HOUR) -> np.ndarray:
    """Feed one day of temperature readings (``level(t)`` plus CYCLE); what came out."""
    times = day * DAY + np.arange(0, DAY, spacing_s)
    readings = np.full((times.shape[0], len(NAMES)), np.nan)
    hours = (times % DAY // HOUR).astype(int)
    readings[:, T] = level(times) + CYCLE[hours]
    stations = np.zeros(times.shape[0], dtype=np.intp)
    out = profile.take_out(stations, times, readings)  # None: nothing taken out
    return (readings if out is None else out)[:, T]


def fresh() -> DiurnalProfile:
    profile = DiurnalProfile(STANDARD_VARIABLES, DiurnalSettings(), min_spacing_s=180.0)
    profile.grow(1)
    return profile


def test_each_hour_is_learnt_as_its_distance_from_the_day_and_taken_out_after_three_days():
    profile = fresh()
    column = list(profile.columns).index(T)
    outputs = [day_of(profile, day, lambda t: np.full(t.shape, 10.0)) for day in range(5)]
    # Day 0 only gives a mean to measure the next day's drift by; days 1, 2 and 3 are learnt
    # (gains 1, 1/2, 1/3 of an identical cycle: exactly the cycle), and from day 4 on the
    # readings come out with it taken away.
    assert profile.profile[0, :, column] == pytest.approx(CYCLE)
    for out in outputs[:4]:
        assert out == pytest.approx(10.0 + CYCLE[np.arange(24)])
    assert outputs[4] == pytest.approx(np.full(24, 10.0))


def test_the_weathers_drift_through_a_day_is_not_learnt_as_a_cycle():
    """Temperature rising a degree an hour, day after day: only the cycle is learnt."""
    profile = fresh()
    column = list(profile.columns).index(T)
    for day in range(5):
        day_of(profile, day, lambda t: 10.0 + t / HOUR)
    assert profile.profile[0, :, column] == pytest.approx(CYCLE)


def test_one_minute_series_keep_their_cycle():
    """A baseline that forgets within minutes follows the cycle itself: nothing taken out."""
    profile = fresh()
    for day in range(5):
        out = day_of(profile, day, lambda t: np.full(t.shape, 10.0), spacing_s=60.0)
    hours = (np.arange(0, DAY, 60.0) // HOUR).astype(int)
    assert out == pytest.approx(10.0 + CYCLE[hours])


def test_detection_over_days_does_not_depend_on_the_batches():
    """The profile of a day is learnt from the days before it only: one batch or many, the
    same anomalies and scores."""
    rng = np.random.default_rng(5)
    hours = 24 * 9
    times = np.arange(hours) * HOUR
    table = np.full((hours, len(NAMES)), np.nan)
    cycle = 4.0 * np.sin(2 * np.pi * (times % DAY) / DAY)
    table[:, T] = 12.0 + cycle + rng.normal(0, 0.3, hours)
    table[150, T] += 6.0  # something for the detectors to find
    frame = ObservationFrame(np.zeros(hours, dtype=np.int64), times, table)

    def run(batch: int):
        bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
        anomalies, scores = [], []
        for start in range(0, hours, batch):
            part = frame.take(np.arange(start, min(start + batch, hours)))
            result = bank.process(part, ["s"], want_scores=True)
            anomalies += result.anomalies
            scores.append(result.scores["zscore"][:, T])
        return anomalies, np.concatenate(scores)

    whole, whole_scores = run(hours)
    for batch in (1, 7, 50):
        parts, part_scores = run(batch)
        assert parts == whole
        np.testing.assert_array_equal(part_scores, whole_scores)


def test_a_day_of_ten_minute_readings_learns_the_same_however_batched_and_no_midnight_bump():
    """A pressure rising 4 hPa a day, no daily cycle: the readings just before midnight belong
    to the next day's first hour, not to the same day's (which mixed readings a day apart and
    taught hour 0 a day's rise), and a station's hour split across runs of a batch still
    counts every reading (one run was dropped)."""
    spacing, days = 600.0, 7
    times = np.arange(0, days * DAY, spacing)
    readings = np.full((times.shape[0], len(NAMES)), np.nan)
    p = NAMES.index("pressure_hpa")
    readings[:, p] = 1000.0 + 4.0 * times / DAY
    stations = np.zeros(times.shape[0], dtype=np.intp)

    def learnt(batch: int) -> np.ndarray:
        profile = fresh()
        for start in range(0, times.shape[0], batch):
            rows = slice(start, start + batch)
            profile.take_out(stations[rows], times[rows], readings[rows])
        return profile.profile[0, :, list(profile.columns).index(p)]

    whole = learnt(times.shape[0])
    np.testing.assert_allclose(whole, 0.0, atol=1e-3)  # was 3.8 hPa at hour 0
    np.testing.assert_allclose(learnt(1), whole, atol=1e-12)
