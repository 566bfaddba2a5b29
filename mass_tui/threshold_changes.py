"""Applying a threshold change to the running detectors and saving it to the user config, under
the setting the catalogue names, so the loader reads it back at the next start."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mass_tui.settings_layers import ConfigSaveError, LoadedSettings, save_settings
from pipeline.detectors import Threshold
from pipeline.detectors.thresholds import ThresholdTable
from pipeline.threshold_catalogue import parameter, setting_key

log = logging.getLogger(__name__)


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
    if not parameter(threshold.detector, threshold.parameter).per_variable:
        pair = (threshold.detector, threshold.parameter)
        targets = [
            t for v in variables for t in sink.thresholds(v) if (t.detector, t.parameter) == pair
        ]
    for target in targets:
        sink.set_threshold(target.detector, target.parameter, target.variable, value)
    key = setting_key(threshold.key)
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
        wanted = {t.key: t.value for t in fresh.listing(spec.name)}
        for current in sink.thresholds(spec.name):
            value = wanted.get(current.key)
            if value is not None and value != current.value:
                sink.set_threshold(current.detector, current.parameter, current.variable, value)
                changed.append(f"{setting_key(current.key)} = {value:g}")
    return sorted(set(changed))
