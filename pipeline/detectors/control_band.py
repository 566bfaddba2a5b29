"""The EWMA control chart of one series in the series' own units, for drawing over a chart.

The detector charts standardised residuals; here the same recursion (same elapsed-time
weighting, baseline, clipping and warm-up as :mod:`pipeline.detectors.statistics`) is mapped
back onto the data: the EWMA line is ``mean + sigma * z`` and the band ``mean +/- L * sd *
sigma`` around the baseline as it stood before each reading, with ``sd`` the chart's asymptotic
standard deviation (Roberts 1959). The line leaves the band exactly when the detector alarms.
A plain loop: a chart holds a few thousand points at most.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.detectors.statistics import CLIP_SIGMAS, chart_sd
from pipeline.detectors.timing import SPACING_WEIGHT, elapsed_steps
from pipeline.settings import EwmaSettings


def control_band(
    times: np.ndarray,
    values: np.ndarray,
    settings: EwmaSettings,
    resolution: float,
    *,
    limit: float | None = None,
    max_gap_s: float = math.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(EWMA line, lower limit, upper limit) at each reading; NaN during warm-up, at missing
    values and at readings not later than the previous one.

    ``limit`` overrides ``settings.limit`` (a per-variable or runtime value); ``max_gap_s``
    restarts the chart after a silence, as the detector does with ``detectors.max_gap_s``.
    """
    n = len(values)
    line, lower, upper = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    half_width = (settings.limit if limit is None else limit) * chart_sd(settings.lam)
    keep_chart_base, keep_mean_base = 1.0 - settings.lam, 1.0 - settings.baseline_lam
    count, last_row, last_t, dt_ref = 0, -math.inf, math.nan, math.nan
    mean, var, sigma, z = math.nan, resolution**2, resolution, 0.0
    for i in range(n):
        t, x = float(times[i]), float(values[i])
        if not t > last_row:
            continue
        last_row = t
        if math.isnan(x):
            continue
        dt = t - last_t
        if dt > max_gap_s:
            count, dt_ref, var, sigma, z = 0, math.nan, resolution**2, resolution, 0.0
        if count == 0:
            mean, steps = x, 0.0
        else:
            if count == 1:
                dt_ref = dt
            steps = elapsed_steps(dt, dt_ref)
            dt_ref += SPACING_WEIGHT * (dt - dt_ref)
        keep_chart, keep_mean = keep_chart_base**steps, keep_mean_base**steps
        e = x - mean
        r = e / sigma
        z = (z - r) * keep_chart + r
        if count >= settings.warmup:
            line[i] = mean + sigma * z
            lower[i] = mean - half_width * sigma
            upper[i] = mean + half_width * sigma
            e = max(min(e, sigma * CLIP_SIGMAS), -(sigma * CLIP_SIGMAS))
        gain = 1.0 - keep_mean
        mean += gain * e
        var = (var + e * e * gain) * keep_mean
        sigma = max(math.sqrt(var), resolution)
        last_t = t
        count += 1
    return line, lower, upper
