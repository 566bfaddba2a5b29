"""Where each run-time threshold lives in the settings, so a change made from the keyboard is
saved under the key the loader reads back at the next start."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mass_tui.config import ConfigSaveError, LoadedSettings, save_settings
from pipeline.detectors import Threshold
from pipeline.detectors.thresholds import ThresholdTable

log = logging.getLogger(__name__)

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


class ThresholdSink(Protocol):
    """Where thresholds are read and changed: a pipeline, or a service attached to."""

    def thresholds(self, variable: str) -> list[Threshold]: ...

    def set_threshold(self, detector: str, parameter: str, variable: str, value: float) -> None: ...


@dataclass(frozen=True, slots=True)
class ThresholdChange:
    """What changing a threshold did: applied to the running detectors, and saved or not."""

    key: str  # the setting it is saved under
    saved: bool
    problem: str = ""  # why it was not saved, or what masks the saved value at the next start


def change_threshold(
    loaded: LoadedSettings,
    sink: ThresholdSink,
    variables: Sequence[str],
    threshold: Threshold,
    value: float,
) -> ThresholdChange:
    """Apply ``value`` at once (to every variable a shared setting covers), then save it to the
    user config file. Raises ValueError (nothing applied) for a bad value or threshold."""
    targets = [threshold]
    if is_shared(threshold):
        pair = (threshold.detector, threshold.parameter)
        targets = [
            t for v in variables for t in sink.thresholds(v) if (t.detector, t.parameter) == pair
        ]
    for target in targets:
        sink.set_threshold(target.detector, target.parameter, target.variable, value)
    key = setting_key(threshold)
    try:
        save_settings(loaded.user_config, {key: value})
    except ConfigSaveError as exc:
        log.warning("%s", exc)
        return ThresholdChange(key, False, f"applies for this session only: {exc}")
    masked = loaded.overridden_by(key)
    return ThresholdChange(
        key, True, f"{masked} also sets it and wins at the next start" if masked else ""
    )


def reload_thresholds(loaded: LoadedSettings, sink: ThresholdSink) -> list[str]:
    """Set every threshold of the running detectors to what ``loaded`` (settings read again)
    says; returns the settings changed, as ``key = value``. Raises ValueError for a value
    the detectors refuse (those before it stay applied)."""
    fresh = ThresholdTable(loaded.variables, loaded.settings.detectors, loaded.settings.rules)
    changed = []
    for spec in loaded.variables:
        wanted = {threshold_id(t): t.value for t in fresh.listing(spec.name)}
        for current in sink.thresholds(spec.name):
            value = wanted.get(threshold_id(current))
            if value is not None and value != current.value:
                sink.set_threshold(current.detector, current.parameter, current.variable, value)
                changed.append(f"{setting_key(current)} = {value:g}")
    return sorted(set(changed))
