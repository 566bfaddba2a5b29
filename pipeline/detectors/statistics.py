"""One vectorised step of the statistical detectors, for many series at once.

:func:`advance` takes the state block of ``m`` stations (each appearing once), their next
reading, and updates every series in a few dozen whole-array numpy calls. Per series it
computes:

* the elapsed-time weights (:mod:`pipeline.detectors.timing`);
* a shared baseline, an exponentially weighted mean and variance with smoothing
  ``baseline_lam``, updated incrementally (Finch 2009, "Incremental calculation of weighted mean
  and variance", eq. 143: ``s2 <- (1 - a) * (s2 + a * e**2)``). Once warm, the residual that
  feeds it is clipped at 4 sigma so that a single outlier does not drag the baseline toward
  itself and hide the next one;
* the EWMA control chart (Roberts 1959, "Control chart tests based on geometric moving
  averages") of the standardised residuals ``r = (x - mean) / sigma``, reported in units of
  its asymptotic standard deviation ``sqrt(lam / (2 - lam))``;
* the two-sided tabular CUSUM (Page 1954, "Continuous inspection schemes") of the same
  residuals with reference value ``k``; both sums restart at zero after a signal, as in Page's
  scheme, and stay at zero during warm-up so that the settling baseline cannot pre-load them;
* the rolling z-score of the reading against the previous ``window`` readings (current one
  excluded, sample standard deviation), from running sums over a ring buffer. Values are kept
  relative to the first reading after a restart so the sums of squares do not lose precision
  to a large offset (pressure near 1000 hPa varies by tenths);
* a ``bounded`` reading resting at its bound (wind 0 m/s in a calm, humidity 100 % in fog) is
  censored: it says only that the value is there or beyond, so it moves no baseline, chart or
  window and is not scored. Otherwise the spread learnt over a calm night collapses to the
  resolution and the first breeze of the morning is "17 sigma";
* the stuck-sensor count: consecutive readings within half a resolution step of the previous
  (and since when: a run shorter than ``stuck.min_hours`` does not alarm, see
  :func:`hold_short_runs`),
  where a ``bounded`` variable resting at its minimum or maximum (humidity at 100 % in fog,
  wind at 0 m/s in a calm), and a vane in a calm, must stay so for ``stuck.bound_hours``.

The sample standard deviations are floored at the variable's resolution (see
:class:`~pipeline.variables.VariableSpec`). A series whose spacing exceeds ``max_gap_s``
restarts: its state returns to :func:`~pipeline.detectors.layout.initial_block` before the
reading is taken, so warm-up begins again (all but the calibration, see
:mod:`~pipeline.detectors.calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from pipeline.detector_axis import CALIBRATED, CUSUM, EWMA, GAP, STUCK, ZSCORE
from pipeline.detectors.calibration import SIGNIFICANT_U, learn
from pipeline.detectors.layout import (
    CAL_MEAN,
    CAL_VAR,
    COUNT,
    CUSUM_HI,
    CUSUM_LO,
    DT_REF,
    EWMA_Z,
    FLAT_SINCE,
    LAST_T,
    LAST_X,
    LAST_Z,
    MEAN,
    N_CORE,
    REPEATS,
    SIGMA,
    SPACING,
    VAR,
    Z_POS,
    Z_REF,
    Z_SUM,
    Z_SUMSQ,
    initial_block,
    widen,
)
from pipeline.detectors.timing import MAX_STEPS, MIN_STEPS, SPACING_WEIGHT
from pipeline.settings import DetectorSettings
from pipeline.variables import VariableSpec

CLIP_SIGMAS = 4.0
"""Residuals beyond this many baseline sigmas are clipped before they update the baseline."""


def chart_sd(lam: float) -> float:
    """Asymptotic standard deviation of an EWMA of unit-variance residuals (Roberts 1959)."""
    return float(np.sqrt(lam / (2.0 - lam)))


@dataclass(frozen=True, slots=True)
class StatisticalConstants:
    """What :func:`advance` needs besides the state: fixed for the life of a bank.

    Per-variable arrays have shape (rows, V): the bank uses :meth:`widened` copies (see
    :func:`~pipeline.detectors.layout.widen`) and :func:`advance` takes their first ``m`` rows.
    """

    resolution: np.ndarray
    half_resolution: np.ndarray
    rest_floor: np.ndarray  # at or below it a reading rests at its bound: not stuck
    rest_ceiling: np.ndarray  # at or above it likewise; -inf/inf where a variable has no rest
    initial: np.ndarray  # (slots, V): state of a restarted series
    log_retention_chart: float  # log(1 - lam) of the EWMA chart
    log_retention_baseline: float  # log(1 - baseline_lam)
    chart_scale: float  # 1 / asymptotic sd of the EWMA chart
    k: float
    warmup: int
    window: int
    max_gap: float
    ring_offsets: np.ndarray  # (rows, V): offset of each variable's ring in a station's rings
    ring_stride: int  # ring slots per station: ``window`` per variable
    spacing: int  # the row of the statistics the spacing goes to (after the detectors')

    @classmethod
    def build(
        cls, variables: Sequence[VariableSpec], settings: DetectorSettings, spacing: int = SPACING
    ) -> StatisticalConstants:
        resolution = np.array([v.resolution for v in variables], dtype=np.float64)
        window = settings.zscore.window
        rests = np.array([v.rests_at_bounds for v in variables], dtype=bool)
        floor = np.array([v.minimum + v.resolution / 2 for v in variables])
        ceiling = np.array([v.maximum - v.resolution / 2 for v in variables])
        return cls(
            resolution=resolution[None, :],
            half_resolution=resolution[None, :] / 2.0,
            rest_floor=np.where(rests, floor, -np.inf)[None, :],
            rest_ceiling=np.where(rests, ceiling, np.inf)[None, :],
            initial=initial_block(resolution),
            log_retention_chart=float(np.log1p(-settings.ewma.lam)),
            log_retention_baseline=float(np.log1p(-settings.ewma.baseline_lam)),
            chart_scale=1.0 / chart_sd(settings.ewma.lam),
            k=settings.cusum.k,
            warmup=settings.ewma.warmup,
            window=window,
            max_gap=settings.max_gap_s,
            ring_offsets=np.arange(len(variables), dtype=np.intp)[None, :] * window,
            ring_stride=window * len(variables),
            spacing=spacing,
        )

    def widened(self, rows: int) -> StatisticalConstants:
        """A copy whose per-variable arrays have ``rows`` identical rows."""
        return replace(
            self,
            resolution=widen(self.resolution[0], rows),
            half_resolution=widen(self.half_resolution[0], rows),
            rest_floor=widen(self.rest_floor[0], rows),
            rest_ceiling=widen(self.rest_ceiling[0], rows),
            ring_offsets=widen(self.ring_offsets[0], rows),
        )


def cells(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) indices where a 2-d ``mask`` is set (``np.nonzero``, typed as a pair)."""
    rows, columns = np.nonzero(mask)
    return rows, columns


def advance(
    s: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    stats: np.ndarray,
    ring: np.ndarray,
    ring_base: np.ndarray,
    c: StatisticalConstants,
    cusum_h: np.ndarray,
    missing: tuple[np.ndarray, np.ndarray] | None,
    raw: np.ndarray | None = None,
    resting: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Take readings ``x`` (m, V) at times ``t`` (m, V) into the state ``s`` (slots, m, V).
    ``raw``: the readings as measured, where ``x`` has had the daily profile taken out (see
    :mod:`~pipeline.detectors.diurnal`): the stuck check goes by them. ``resting`` (m, V):
    the raw readings at a bound of a bounded variable, None where there are none.

    Updates ``s`` in place and writes the statistics of the z-score, EWMA, CUSUM, stuck and gap
    detectors, and the spacing, into their rows of ``stats`` (rows, m, V); NaN where a detector
    is still warming up. ``ring`` is the flat rolling-window buffer of all stations and
    ``ring_base`` (m, V) where each series' ring starts in it; ``cusum_h`` is (m, V).
    ``missing`` locates NaN readings: they are computed through as NaN and the caller restores
    those series' state afterwards (the ring buffer is protected here). Returns the (rows,
    columns) of the series that restarted after a gap, if any.

    Steps only needed while some series is young (first readings, warm-up, window filling) are
    skipped once every series of the round is past them: most rounds are.
    """
    m = x.shape[0]
    resolution = c.resolution[:m]
    # A bounded reading at its bound (calm, fog) says only that the value is there or beyond:
    # censored, it teaches the baseline, the charts and the window nothing, and is not scored.
    raw = x if raw is None else raw
    dt = np.subtract(t, s[LAST_T], out=stats[c.spacing])
    # Gap statistic against the spacing known before this reading, then the restart.
    np.divide(dt, s[DT_REF], out=stats[GAP])
    restarted = None
    if np.fmax.reduce(dt, axis=None) > c.max_gap:
        restarted = cells(dt > c.max_gap)
        s[:N_CORE, restarted[0], restarted[1]] = c.initial[:N_CORE, restarted[1]]

    count = s[COUNT]
    youngest = count.min()
    dt_ref = s[DT_REF]
    steps = dt / dt_ref
    np.maximum(steps, MIN_STEPS, out=steps)
    np.minimum(steps, MAX_STEPS, out=steps)
    first = None
    if youngest < 2:
        first = count == 0
        second = count == 1
        # The first spacing seen initialises the reference: one step.
        np.copyto(dt_ref, dt, where=second)
        np.copyto(steps, 1.0, where=second)
        # The first reading after a restart only seeds the state: zero weight for the update.
        np.copyto(steps, 0.0, where=first)
        np.copyto(s[MEAN], x, where=first)
        np.copyto(s[Z_REF], x, where=first)
    dt_ref += SPACING_WEIGHT * (dt - dt_ref)
    if resting is not None:
        np.copyto(steps, 0.0, where=resting)  # no decay, no gain: the baseline stays as it was
        held_sums = s[CUSUM_HI : CUSUM_LO + 1].copy()
    # (1 - lam) ** steps, the weight the previous value keeps.
    keep_chart = np.exp(steps * c.log_retention_chart)
    keep_base = np.exp(steps * c.log_retention_baseline)

    # Shared baseline.
    mean, var, sigma = s[MEAN], s[VAR], s[SIGMA]
    e = x - mean
    r = e / sigma
    cold = count < c.warmup if youngest < c.warmup else None
    bound = sigma * CLIP_SIGMAS
    if cold is not None:
        np.copyto(bound, np.inf, where=cold)
    np.minimum(e, bound, out=e)
    np.negative(bound, out=bound)
    np.maximum(e, bound, out=e)
    gain = 1.0 - keep_base
    mean += gain * e
    e *= e
    e *= gain
    var += e
    var *= keep_base
    np.sqrt(var, out=sigma)
    np.maximum(sigma, resolution, out=sigma)

    # EWMA chart: z <- alpha * r + (1 - alpha) * z.
    z = s[EWMA_Z]
    z -= r
    z *= keep_chart
    z += r
    ewma = stats[EWMA]
    np.abs(z, out=ewma)
    ewma *= c.chart_scale

    # Two-sided CUSUM.
    hi, lo = s[CUSUM_HI], s[CUSUM_LO]
    hi += r
    hi -= c.k
    np.maximum(hi, 0.0, out=hi)
    lo -= r
    lo -= c.k
    np.maximum(lo, 0.0, out=lo)
    cusum = stats[CUSUM]
    np.maximum(hi, lo, out=cusum)
    running = cusum < cusum_h
    if cold is not None:
        running &= ~cold
        np.copyto(stats[EWMA : CUSUM + 1], np.nan, where=cold)
    hi *= running
    lo *= running
    if resting is not None:
        np.copyto(s[CUSUM_HI : CUSUM_LO + 1], held_sums, where=resting)
        np.copyto(stats[EWMA : CUSUM + 1], np.nan, where=resting)

    # Rolling z-score against the previous `window` readings.
    if resting is not None:
        window_saved = s[Z_SUM : Z_POS + 1].copy()
    d = x - s[Z_REF]
    total, squares = s[Z_SUM], s[Z_SUMSQ]
    filling = youngest < c.window
    filled = np.minimum(count, c.window) if filling else c.window
    window_mean = total / filled
    spread = squares - total * window_mean
    spread /= filled - 1.0
    sd = np.sqrt(spread)
    np.fmax(sd, resolution, out=sd)
    zscore = d - window_mean
    zscore /= sd
    zstat = stats[ZSCORE]
    np.abs(zscore, out=zstat)
    position = s[Z_POS]
    index = position.astype(np.intp)
    index += ring_base
    position += 1.0
    position *= position < c.window
    oldest = ring.take(index)
    if missing is not None:
        d[missing] = oldest[missing]
    if resting is not None:
        np.copyto(d, oldest, where=resting)  # the window keeps what it held (sums restored below)
        np.copyto(zstat, np.nan, where=resting)
        np.copyto(zscore, np.nan, where=resting)
    ring.put(index, d)
    if filling:
        full = count >= c.window
        np.copyto(s[LAST_Z], zscore, where=full)
        np.copyto(zstat, np.nan, where=~full)
        oldest *= full
    else:
        s[LAST_Z] = zscore
    total += d
    total -= oldest
    squares += d * d
    oldest *= oldest
    squares -= oldest
    if resting is not None:
        np.copyto(s[Z_SUM : Z_POS + 1], window_saved, where=resting)

    # Stuck sensor.
    last = s[LAST_X]
    repeats = s[REPEATS]
    repeats += 1.0
    flat = np.abs(raw - last) < c.half_resolution[:m]
    repeats *= flat
    stats[STUCK] = repeats
    np.copyto(s[FLAT_SINCE], s[LAST_T], where=repeats == 1.0)  # the run began at the last one
    last[...] = raw

    s[LAST_T] = t
    count += 1.0 if resting is None else ~resting
    return restarted


def hold_short_runs(
    state: np.ndarray,
    times: np.ndarray,
    gating: np.ndarray,
    below: np.ndarray,
    min_flat_s: float,
    resting: np.ndarray | None = None,
    bound_flat_s: float = 0.0,
) -> None:
    """A run of repeats shorter than ``min_flat_s`` is held just below the stuck threshold
    in ``gating``: on real hourly records a whole-degree thermometer, a whole-hPa barometer
    or a vane in a steady wind sat on one value for 15 to 20 hours several times a year,
    while a sensor that has failed stays frozen for days. Where ``resting`` (at a bound, or
    a vane in a calm), ``bound_flat_s`` instead."""
    least = min_flat_s if resting is None else np.where(resting, bound_flat_s, min_flat_s)
    young = times - state[FLAT_SINCE] < least
    np.copyto(gating[STUCK], np.minimum(gating[STUCK], below[STUCK]), where=young)


def calibrate(
    state: np.ndarray, stats: np.ndarray, below: np.ndarray, out: np.ndarray, gating: np.ndarray
) -> None:
    """One round: for each calibrated detector, ``u`` of its statistic (into ``out`` (3, m,
    V)) and the statistic learnt. ``gating`` receives the statistics the alarms are gated on:
    ``stats`` where a statistic is improbable for its series, else held just below the
    detector's threshold (``below`` (detectors, m, V)), so the alarm neither fires nor
    re-arms on it. ``state`` is (slots, m, V); ``stats`` (statistics, m, V) is unchanged."""
    np.copyto(gating, stats[: gating.shape[0]])
    k = len(CALIBRATED)  # the first k rows of the statistics, in slot order
    stat = stats[:k]
    mean, var = state[CAL_MEAN : CAL_MEAN + k], state[CAL_VAR : CAL_VAR + k]
    sd = np.sqrt(var)
    e = stat - mean
    np.divide(e, sd, out=out)
    usual = out < SIGNIFICANT_U  # NaN (not evaluated) is neither
    np.copyto(gating[:k], below[:k], where=usual & (stat > below[:k]))
    learn(e, sd, mean, var)
