"""Calibration: how improbable a detector's statistic is *for this series*.

A z-score of 6 means one thing for a barometer, whose readings wander smoothly, and another
for hourly wind, which routinely doubles in an afternoon: on a year of real hourly records
the EWMA chart of wind, humidity and temperature passed its limit a few times a week on
ordinary weather (wind picking up from 3 to 11 m/s, an evening cooling of 6 °C). So each
statistical detector also keeps, per series, the running distribution of its own statistic
(an exponentially weighted mean and variance, the "anomaly likelihood" idea of Ahmad et al.
2017, "Unsupervised real-time anomaly detection for streaming data"), and a reading is an
anomaly only when its statistic is past the detector's threshold **and** improbable for the
series: ``u = (statistic - mean) / sd`` at least :data:`SIGNIFICANT_U` (a one-sided normal
tail of :data:`ALARM_TAIL`).

The running distribution starts from what the statistic is for well-behaved data (the
absolute value of a standard normal: mean 0.80, variance 0.36), so a series behaves as the
uncalibrated detectors did until its readings show otherwise. An excursion is clipped at
:data:`CLIP_SD` sds before it updates the distribution, so one storm does not teach the
detector that storms are ordinary. The calibration outlives a gap restart: it describes the
series, not its current run.

The calibrated score is ``t / (t + t_alarm)`` with ``t = -log10(tail probability)``: 0.5 at
the alarm tail, and, unlike ``statistic / (statistic + threshold)``, it keeps ranking far past
the threshold instead of crowding against 1.
"""

from __future__ import annotations

import math

import numpy as np

ALARM_TAIL = 1e-5
"""The one-sided tail probability at which a statistic is improbable for its series."""
SIGNIFICANT_U = 4.265  # the standard normal quantile of 1 - ALARM_TAIL
PRIOR_MEAN = math.sqrt(2 / math.pi)  # E|Z|, Z standard normal
PRIOR_VAR = 1 - 2 / math.pi  # Var|Z|
RATE = 1 / 500
"""Weight of each reading in the running distribution: about 500 readings of memory (three
weeks of hourly readings, eight hours of one-minute ones)."""
CLIP_SD = 4.0
ALARM_T = -math.log10(ALARM_TAIL)


def standardised(stat: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``u``: how many of the series' own sds the statistic is above its running mean."""
    return (stat - mean) / np.sqrt(var)


def learn(e: np.ndarray, sd: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
    """Take a reading into the running distribution (in place, Finch 2009's incremental
    weighted mean and variance), given its residual ``e = stat - mean`` and ``sd =
    sqrt(var)``, both overwritten; NaN entries change nothing."""
    sd *= CLIP_SD
    np.minimum(e, sd, out=e)
    taken = e == e  # not NaN
    np.copyto(e, 0.0, where=~taken)
    e *= RATE
    mean += e
    e *= e
    e *= 1.0 / RATE  # RATE * (clipped residual) ** 2
    e += var
    e *= 1.0 - RATE
    np.copyto(var, e, where=taken)


def log10_tail(u: np.ndarray) -> np.ndarray:
    """log10 of the standard normal upper tail at ``u``, accurate far into the tail (where
    1 - Phi(u) underflows): ``erfc`` below 8, its asymptotic expansion beyond."""
    u = np.asarray(u, dtype=np.float64)
    out = np.full(u.shape, np.nan)
    finite = np.isfinite(u)
    near = finite & (u < 8.0)
    far = finite & ~near
    if near.any():
        erfc = np.frompyfunc(math.erfc, 1, 1)
        out[near] = np.log10(0.5 * erfc(u[near] / math.sqrt(2)).astype(np.float64))
    if far.any():
        x = u[far]
        out[far] = (-x * x / 2 - np.log(x * math.sqrt(2 * math.pi)) + np.log1p(-1 / (x * x))) / (
            math.log(10)
        )
    out[u == np.inf] = -np.inf
    return out


def calibrated_score(u: np.ndarray) -> np.ndarray:
    """0..1, 0.5 where the tail is :data:`ALARM_TAIL`, NaN where ``u`` is."""
    return _score_of(-log10_tail(u))


def _score_of(t: np.ndarray) -> np.ndarray:
    """``t / (t + t_alarm)``, 1 where ``t`` is infinite."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isposinf(t), 1.0, t / (t + ALARM_T))


def fused_score(scores: np.ndarray) -> np.ndarray:
    """One score from several calibrated ones (``scores`` (detectors, n), NaN where a
    detector did not evaluate), by the Bonferroni rule: the smallest tail probability times
    the number of detectors that evaluated the reading, capped at 1. The noisiest detector
    does not win by being noisy (each is calibrated to its own behaviour), and a reading
    that only one of three detectors finds improbable counts for a third of its tail. 0 where
    none evaluated."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ALARM_T * scores / (1.0 - scores)  # -log10 of each tail probability
    evaluated = np.count_nonzero(~np.isnan(scores), axis=0)
    out = np.zeros(scores.shape[1])
    some = evaluated > 0
    best = np.nanmax(np.where(np.isnan(t[:, some]), -np.inf, t[:, some]), axis=0)
    fused = np.maximum(best - np.log10(evaluated[some]), 0.0)
    out[some] = _score_of(fused)
    return out
