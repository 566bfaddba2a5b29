"""Edge-triggering: one event, one anomaly.

A detector past its threshold stays past it for a while (an EWMA chart decays slowly, a
pressure fall lasts hours). Reporting every reading of the excursion would bury the operator,
so each (series, detector) keeps the level it last reported and an anomaly is raised only when
the level rises: none -> alarm for a detector, none -> advisory -> warning (or straight to
warning) for a rule. The level re-arms when the statistic drops below the lowest threshold.
The gap detector is not gated: every gap is its own event.
"""

from __future__ import annotations

import numpy as np

from pipeline.detector_axis import GAP
from pipeline.detectors.thresholds import GateLimits


def gate(
    levels: np.ndarray,
    stats: np.ndarray,
    triggered: np.ndarray,
    limits: GateLimits,
    raw: np.ndarray | None = None,
) -> None:
    """Update ``levels`` (detectors, m, V; int8) in place from this round's ``stats``
    (detectors, m, V) and mark in ``triggered`` (likewise) the entries that raise an anomaly.
    NaN statistics (not evaluated) neither trigger nor re-arm. ``limits`` are widened to at
    least m rows; their levels are infinite for the gap, whose row is left at 0 and whose
    triggers go by its factor alone.
    ``raw``: the statistics before calibration held some below their threshold; re-arming
    goes by them, so an excursion that is past the threshold but usual for its series, in
    the middle of one that alarmed, does not re-arm the alarm to fire again."""
    m = stats.shape[1]
    level = (stats >= limits.lower[:, :m]).view(np.int8)
    level += (stats >= limits.upper[:, :m]).view(np.int8)
    np.greater(level, levels, out=triggered)
    np.maximum(levels, level, out=levels)
    held = (stats if raw is None else raw[: stats.shape[0]]) < limits.rearm[:, :m]
    np.logical_not(held, out=held)
    levels *= held
    np.greater(stats[GAP], limits.gap[:m], out=triggered[GAP])
