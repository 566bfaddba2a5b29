"""Corpus (c): generic labelled series with known anomaly types, seeded.

Each series is ordinary behaviour of some kind (a daily cycle, a wandering level, white noise)
with anomalies of one type written in at drawn places. The labelled rows are the abnormal
ones: a spike's one row, a level shift's first ``SHIFT_LABEL_ROWS`` (after them the new level
is the series' level), every row of a burst, a flatline or a drift. The fused
``anomaly_score`` of ``mass-tui score`` and the windowed-Gaussian baseline both score every
row, and ROC-AUC and average precision say how well each ranks the labelled rows first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mass_tui.evaluation.ranking import average_precision, roc_auc, windowed_gaussian
from mass_tui.scoring import ANY_VALUE, ParsedSeries, score_series
from pipeline.detector_axis import STATISTICAL
from pipeline.detectors.calibration import fused_score
from pipeline.settings import DetectorSettings

ROWS = 4_000
SPACING_S = 300.0  # five-minute readings: a day is 288 rows
DAY_ROWS = 288
ANOMALIES = 6  # per series, after the first WARMUP_ROWS
WARMUP_ROWS = 600
SHIFT_LABEL_ROWS = 12


@dataclass(frozen=True, slots=True)
class GenericSeries:
    kind: str
    values: np.ndarray
    labels: np.ndarray  # bool (rows,)


def _background(rng: np.random.Generator, shape: str) -> np.ndarray:
    t = np.arange(ROWS)
    noise = np.zeros(ROWS)
    shocks = rng.normal(0.0, 0.3, ROWS)
    for i in range(1, ROWS):  # AR(1): weather noise is correlated from reading to reading
        noise[i] = 0.8 * noise[i - 1] + shocks[i]
    if shape == "daily":
        return 10.0 + 5.0 * np.sin(2 * np.pi * t / DAY_ROWS) + noise
    if shape == "wandering":
        return 1000.0 + np.cumsum(rng.normal(0.0, 0.05, ROWS)) + noise
    return rng.normal(0.0, 1.0, ROWS)


def _onsets(rng: np.random.Generator, span: int) -> np.ndarray:
    """ANOMALIES onsets after the warm-up, at least ``span`` + 50 rows apart."""
    slots = (ROWS - WARMUP_ROWS - span) // (span + 100)
    chosen = np.sort(rng.choice(slots, ANOMALIES, replace=False))
    return WARMUP_ROWS + chosen * (span + 100) + rng.integers(0, 50, ANOMALIES)


def _spikes(values: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    onsets = _onsets(rng, 1)
    values[onsets] += rng.choice([-1.0, 1.0], onsets.size) * rng.uniform(3.0, 6.0, onsets.size)
    return [(onset, 1) for onset in onsets.tolist()]


def _level_shifts(values: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    onsets = _onsets(rng, 150)
    for onset in onsets:
        values[onset : onset + 150] += rng.choice([-1.0, 1.0]) * rng.uniform(2.0, 4.0)
    return [(onset, SHIFT_LABEL_ROWS) for onset in onsets.tolist()]


def _variance_bursts(values: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    onsets = _onsets(rng, 60)
    for onset in onsets:
        values[onset : onset + 60] *= 5.0
    return [(onset, 60) for onset in onsets.tolist()]


def _flatlines(values: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    onsets = _onsets(rng, 200)
    for onset in onsets:
        values[onset : onset + 200] = values[onset - 1]
    return [(onset, 200) for onset in onsets.tolist()]


def _drifts(values: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    onsets = _onsets(rng, 200)
    for onset in onsets:
        values[onset : onset + 200] += np.linspace(0.0, 4.0, 200) * rng.choice([-1.0, 1.0])
    return [(onset, 200) for onset in onsets.tolist()]


KINDS: dict[str, tuple[str, Callable[[np.ndarray, np.random.Generator], list[tuple[int, int]]]]] = {
    "spikes_on_a_daily_cycle": ("daily", _spikes),
    "level_shifts_on_a_wandering_level": ("wandering", _level_shifts),
    "variance_bursts_in_white_noise": ("white", _variance_bursts),
    "flatlines_on_a_daily_cycle": ("daily", _flatlines),
    "drifts_on_a_wandering_level": ("wandering", _drifts),
}


def generic_series(kind: str, seed: int) -> GenericSeries:
    rng = np.random.default_rng([seed, list(KINDS).index(kind)])
    shape, write = KINDS[kind]
    values = np.round(_background(rng, shape), 2)  # a sensor reports to its resolution
    labels = np.zeros(ROWS, dtype=bool)
    for onset, rows in write(values, rng):
        labels[onset : onset + rows] = True
    return GenericSeries(kind, values, labels)


def fused_scores(values: np.ndarray, detectors: DetectorSettings) -> np.ndarray:
    """``anomaly_score`` of every row, as ``mass-tui score`` writes it."""
    n = values.shape[0]
    series = ParsedSeries(
        rows=[],
        fieldnames=[],
        usable=list(range(n)),
        times=np.arange(n) * SPACING_S,
        values=values,
        missing=0,
    )
    per_detector = score_series(series, detectors, ANY_VALUE)
    return fused_score(np.vstack([per_detector[name] for name in STATISTICAL]))


def evaluate_generic(detectors: DetectorSettings, seeds: int) -> dict[str, dict[str, float]]:
    """Per kind of series: ROC-AUC and average precision of the fused score and of the
    windowed-Gaussian baseline, over ``seeds`` series each, rows pooled."""
    report = {}
    for kind in KINDS:
        drawn = [generic_series(kind, seed) for seed in range(seeds)]
        labels = np.concatenate([s.labels for s in drawn])
        ours = np.concatenate([fused_scores(s.values, detectors) for s in drawn])
        baseline = np.concatenate([windowed_gaussian(s.values) for s in drawn])
        report[kind] = {
            "roc_auc": round(roc_auc(ours, labels), 4),
            "average_precision": round(average_precision(ours, labels), 4),
            "baseline_roc_auc": round(roc_auc(baseline, labels), 4),
            "baseline_average_precision": round(average_precision(baseline, labels), 4),
        }
    return report
