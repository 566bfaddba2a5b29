"""The detectors, by name and by their row on the detector axis of statistics, levels and
scores (:mod:`pipeline.detectors.layout` keeps the numbers behind them).

Kept apart from the detectors package and free of numpy, so that what only needs the names
(the command line's help, settings) does not load the arrays: the package's ``__init__``
imports the bank.
"""

from __future__ import annotations

# The first GATED are edge-triggered (an anomaly when the alarm level rises); ``gap`` reports
# every gap it sees.
ZSCORE, EWMA, CUSUM, STUCK, PRESSURE_FALL, GUST, RAPID_CHANGE, GAP = range(8)
DETECTORS = (
    "zscore",
    "ewma",
    "cusum",
    "stuck",
    "pressure_fall",
    "gust",
    "rapid_change",
    "gap",
)
GATED = GAP
RULES = frozenset({PRESSURE_FALL, GUST, RAPID_CHANGE})
CALIBRATED = (ZSCORE, EWMA, CUSUM)  # the first rows of the detector axis, in this order
STATISTICAL = tuple(DETECTORS[d] for d in CALIBRATED)  # their names: the statistical detectors
