"""Thinning a series for display without losing its spikes."""

from __future__ import annotations

import numpy as np


def min_max_thin(times: np.ndarray, values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices (in time order) of at most ``max_points`` points that keep the series' shape.

    The time range is cut into ``max_points // 2`` equal buckets and each keeps its lowest and
    highest point (the M4/min-max idea, Jugel et al. 2014): unlike averaging or striding, a
    one-sample spike survives any amount of thinning. ``times`` must be ascending.
    """
    if max_points < 2:
        raise ValueError("max_points must be at least 2 (a minimum and a maximum per bucket)")
    if len(times) <= max_points:
        return np.arange(len(times))
    n_buckets = max_points // 2
    span = float(times[-1] - times[0]) or 1.0
    bucket = ((times - times[0]) * (n_buckets / span)).astype(np.int64)
    np.minimum(bucket, n_buckets - 1, out=bucket)
    order = np.lexsort((values, bucket))  # by bucket, then by value within it
    ordered = bucket[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    last = np.r_[first[1:], len(order)] - 1
    return np.unique(np.concatenate((order[first], order[last])))
