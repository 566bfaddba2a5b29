"""Where each run-time threshold lives in the settings, so a change made from the keyboard is
saved under the key the loader reads back at the next start."""

from __future__ import annotations

from pipeline.detectors import Threshold

# Per-variable overrides: a table keyed by variable name.
PER_VARIABLE = {
    ("zscore", "threshold"): "detectors.zscore.thresholds",
    ("ewma", "limit"): "detectors.ewma.thresholds",
    ("cusum", "h"): "detectors.cusum.thresholds",
    ("stuck", "samples"): "detectors.stuck.thresholds",
    ("rapid_change", "threshold"): "rules.rapid_change.thresholds",
}
# One value for every variable the detector or rule watches.
SHARED = {
    ("gap", "factor"): "detectors.gap.factor",
    ("pressure_fall", "advisory_hpa"): "rules.pressure_fall.advisory_hpa",
    ("pressure_fall", "warning_hpa"): "rules.pressure_fall.warning_hpa",
    ("gust", "advisory_ms"): "rules.gust.advisory_ms",
    ("gust", "warning_ms"): "rules.gust.warning_ms",
}


def setting_key(threshold: Threshold) -> str:
    pair = (threshold.detector, threshold.parameter)
    if pair in PER_VARIABLE:
        return f"{PER_VARIABLE[pair]}.{threshold.variable}"
    return SHARED[pair]


def is_shared(threshold: Threshold) -> bool:
    """True when one setting holds the value for every variable (e.g. both pressures)."""
    return (threshold.detector, threshold.parameter) in SHARED


def threshold_id(threshold: Threshold) -> str:
    return f"{threshold.detector}/{threshold.parameter}/{threshold.variable}"
