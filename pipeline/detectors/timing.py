"""Elapsed-time weighting shared by every smoothed quantity.

Observations do not arrive on a fixed grid: a station may report every minute, then skip a
few, then send two close together. A smoothing constant ``lam`` is defined per *expected*
reading, so a reading that comes ``n`` expected spacings after the previous one is weighted as
if ``n`` readings had passed: ``alpha = 1 - (1 - lam) ** n``. On a regular grid ``n == 1`` and
the recursion is the ordinary ``pandas.Series.ewm(alpha=lam, adjust=False)``.

The expected spacing ``dt_ref`` is itself an exponentially weighted mean of the spacings seen
(weight :data:`SPACING_WEIGHT`, the first spacing initialises it); a reading's step count uses
the value from before its own spacing is folded in. The step count is clipped to
[:data:`MIN_STEPS`, :data:`MAX_STEPS`] so that a burst of near-simultaneous readings cannot
freeze the statistics and a long silence cannot wipe them in one step; silences longer than
``max_gap_s`` restart the series instead.
"""

from __future__ import annotations

SPACING_WEIGHT = 0.1
MIN_STEPS = 0.1
MAX_STEPS = 10.0


def elapsed_steps(dt: float, dt_ref: float) -> float:
    """How many expected spacings ``dt`` is worth (scalar form of the bank's vector update)."""
    return min(max(dt / dt_ref, MIN_STEPS), MAX_STEPS)
