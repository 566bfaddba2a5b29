"""How well a score ranks labelled rows: ROC-AUC, average precision, and the baseline to beat.

Written out rather than imported (scikit-learn is a large dependency for two formulas); the
tests check them against values worked by hand.
"""

from __future__ import annotations

import numpy as np

BASELINE_WINDOW = 200
"""Rows the windowed-Gaussian baseline learns from (the previous ones, the current excluded)."""


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The probability that a random positive row outscores a random negative one, ties
    counting half (the Mann-Whitney U statistic over both class sizes). NaN without both."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Precision averaged over the recall steps, thresholds taken at each distinct score
    (rows tied at a score enter together): the area under the precision-recall curve as
    scikit-learn's ``average_precision_score`` defines it. NaN without a positive row."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
    true_positives = np.cumsum(hits)[last_of_tie]
    taken = (np.flatnonzero(last_of_tie) + 1).astype(np.float64)
    precision = true_positives / taken
    recall_gain = np.diff(np.concatenate([[0.0], true_positives])) / positives
    return float(np.sum(precision * recall_gain))


def windowed_gaussian(values: np.ndarray, window: int = BASELINE_WINDOW) -> np.ndarray:
    """The plain detector to beat: |x - mean| / sd over the previous ``window`` rows (0 for
    the first ``window``, and where the window does not vary). Its rank order is that of the
    Gaussian tail probability NAB's windowed-Gaussian baseline reports."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    out = np.zeros(n)
    if n <= window:
        return out
    shifted = values - values[0]  # sums of squares keep their precision near a large offset
    total = np.concatenate([[0.0], np.cumsum(shifted)])
    squares = np.concatenate([[0.0], np.cumsum(shifted * shifted)])
    ends = np.arange(window, n)
    window_sum = total[ends] - total[ends - window]
    window_squares = squares[ends] - squares[ends - window]
    mean = window_sum / window
    variance = np.maximum(window_squares / window - mean * mean, 0.0) * window / (window - 1)
    sd = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(shifted[ends] - mean) / sd
    out[window:] = np.where(sd > 0, z, 0.0)
    return out


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.append(True, ordered[1:] != ordered[:-1]))
    ends = np.append(starts[1:], ordered.shape[0])
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends
    ranks = np.empty(values.shape[0])
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks
