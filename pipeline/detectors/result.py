"""What a batch through the bank yields: anomalies, and optionally every score.

The round loop only records, per reading, series and detector, the statistic and whether an
anomaly was triggered; turning those into :class:`~pipeline.anomaly.Anomaly` objects and score
arrays happens once per batch, here, on whole arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.anomaly import Anomaly
from pipeline.detector_axis import CALIBRATED, GAP, DetectorAxis
from pipeline.detectors.calibration import calibrated_score
from pipeline.detectors.thresholds import GateLimits

SEVERITIES = (None, "advisory", "warning")


@dataclass(slots=True)
class DetectionResult:
    """``scores[detector]`` is (n, V) in the frame's row order, 0..1 (0.5 = at the threshold),
    NaN where the detector did not evaluate a reading."""

    anomalies: list[Anomaly]
    scores: dict[str, np.ndarray] | None
    statistics: dict[str, np.ndarray] | None = None
    """The detectors' statistics, as ``scores`` is laid out (with ``want_scores``)."""
    suspect: np.ndarray | None = None
    """(n, V) in the frame's order: the readings quality control held back from every
    detector and rule (their QC flag); None when there were none."""


def anomalies_from(
    triggered: np.ndarray,
    stats: np.ndarray,
    tails: np.ndarray,
    values: np.ndarray,
    times: np.ndarray,
    stations: np.ndarray,
    station_ids: Sequence[str],
    names: Sequence[str],
    limits: GateLimits,
    axis: DetectorAxis,
) -> list[Anomaly]:
    """Anomalies for every ``triggered`` (detectors, n, V) entry, in time order.

    ``score = statistic / (statistic + threshold)`` with the threshold of the level reached:
    a rule's warning is scored against the warning threshold it crossed. The calibrated
    detectors' score is their calibrated one (``tails``: their ``u``, see
    :mod:`~pipeline.detectors.calibration`).
    """
    found = np.flatnonzero(triggered)  # much faster than np.nonzero on a 3-d array
    if not found.shape[0]:
        return []
    detector, row, column = np.unravel_index(found, triggered.shape)
    order = np.lexsort((column, detector, stations[row], times[row]))
    row, detector, column = row[order], detector[order], column[order]
    statistic = stats[detector, row, column]
    lower = np.where(detector == GAP, limits.gap[column], limits.lower[detector, column])
    upper = limits.upper[detector, column]
    level = np.where(statistic >= upper, 2, 1)
    threshold = np.where(level == 2, upper, lower)
    score = statistic / (statistic + threshold)
    calibrated = detector < len(CALIBRATED)
    if calibrated.any():
        u = tails[detector[calibrated], row[calibrated], column[calibrated]]
        score[calibrated] = calibrated_score(u)
    is_rule = np.isin(detector, axis.rules)
    spacing = np.where(detector == GAP, stats[axis.spacing, row, column], np.nan)
    quantity = np.where(is_rule, statistic, spacing)
    severity = np.where(is_rule, level, 0)
    fields = zip(
        [station_ids[s] for s in stations[row].tolist()],
        column.tolist(),
        values[row, column].tolist(),
        detector.tolist(),
        score.tolist(),
        threshold.tolist(),
        times[row].tolist(),
        statistic.tolist(),
        quantity.tolist(),
        severity.tolist(),
        strict=True,
    )
    return [
        Anomaly(
            station_id=station_id,
            variable=names[c],
            value=value,
            detector=axis.names[d],
            score=score_i,
            threshold=threshold_i,
            observed_at=observed_at,
            statistic=statistic_i,
            quantity=None if math.isnan(quantity_i) else quantity_i,
            severity=SEVERITIES[severity_i],
        )
        for (
            station_id,
            c,
            value,
            d,
            score_i,
            threshold_i,
            observed_at,
            statistic_i,
            quantity_i,
            severity_i,
        ) in fields
    ]


def score_arrays(
    stats: np.ndarray,
    tails: np.ndarray,
    limits: GateLimits,
    rows: np.ndarray,
    n: int,
    names: Sequence[str],
) -> dict[str, np.ndarray]:
    """Scores per detector in the frame's original row order (``rows`` maps stats rows to it).

    Rules are scored against their lowest (advisory) threshold so that the score rises
    steadily with the quantity; the calibrated detectors by how improbable their statistic
    is for the series (``tails``), wherever they evaluated a reading.
    """
    thresholds = limits.lower.copy()
    thresholds[GAP] = limits.gap
    detected = stats[: len(names)]
    score = detected / (detected + thresholds[:, None, :])
    score[: len(CALIBRATED)] = calibrated_score(tails)
    return in_frame_order(score, rows, n, names)


def in_frame_order(
    per_detector: np.ndarray, rows: np.ndarray, n: int, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """(detectors, stats rows, V) as one (n, V) array per detector (``names``) in the frame's
    order."""
    out = {}
    for d, name in enumerate(names):
        column = np.full((n, per_detector.shape[2]), np.nan)
        column[rows] = per_detector[d]
        out[name] = column
    return out
