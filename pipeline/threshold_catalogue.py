"""Every tunable threshold of the detectors and rules, each declared once.

An entry says where the setting lives, its unit, whether it is one value per variable (a
``thresholds`` table) or one for every variable the detector watches, its +/- step and the
bounds a value must keep. The threshold table, the config checks, saving from the console and
the threshold editor all read this catalogue: a new tunable parameter is one entry here and
the field it names in :mod:`pipeline.settings`. It imports nothing of the analytics, so
reading and checking the settings stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class ThresholdKey:
    """Which threshold: a parameter of a detector, for one variable."""

    detector: str
    parameter: str
    variable: str


@dataclass(frozen=True, slots=True)
class Parameter:
    detector: str
    name: str
    # The dotted setting: the per-variable table, or the one shared value.
    setting: str
    unit: str  # "" means the variable's own unit
    step: float | None  # None: a 1-2-5 step near a tenth of the value
    per_variable: bool
    # Per-variable only: the setting used for a variable its table does not name; "" when the
    # detector applies only to the variables its table names.
    fallback: str = ""
    # The gate level the value sets: the alarm (a rule's advisory), a rule's warning, or
    # none (a parameter that is not a level of an edge-triggered detector).
    level: Literal["alarm", "warning"] | None = None
    # Shared parameters: another parameter of the same detector this must not be below (a
    # warning level must not fall under its advisory, nor the advisory rise over it).
    not_below: str = ""
    above: float = 0.0  # values must exceed this
    above_why: str = ""  # what the bound means, for the message refusing a value at or under it
    whole_from: int | None = None  # a whole number of at least this, or any number

    @property
    def section(self) -> str:
        """The settings table of the detector or rule (``detectors.zscore``)."""
        return self.setting.rpartition(".")[0]

    def setting_key(self, variable: str) -> str:
        """The dotted setting the value for ``variable`` is saved under."""
        return f"{self.setting}.{variable}" if self.per_variable else self.setting


PARAMETERS = (
    Parameter(
        "zscore",
        "threshold",
        "detectors.zscore.thresholds",
        "σ",
        0.5,
        per_variable=True,
        level="alarm",
        fallback="detectors.zscore.threshold",
    ),
    Parameter(
        "ewma",
        "limit",
        "detectors.ewma.thresholds",
        "σ",
        0.5,
        per_variable=True,
        level="alarm",
        fallback="detectors.ewma.limit",
    ),
    Parameter(
        "cusum",
        "h",
        "detectors.cusum.thresholds",
        "σ",
        1.0,
        per_variable=True,
        level="alarm",
        fallback="detectors.cusum.h",
    ),
    Parameter(
        "stuck",
        "samples",
        "detectors.stuck.thresholds",
        "samples",
        1.0,
        per_variable=True,
        level="alarm",
        fallback="detectors.stuck.samples",
        whole_from=2,  # a run of repeats needs two readings
    ),
    Parameter(
        "gap",
        "factor",
        "detectors.gap.factor",
        "× spacing",
        0.5,
        per_variable=False,
        above=1.0,
        above_why="times the usual spacing",
    ),
    Parameter(
        "pressure_fall",
        "advisory_hpa",
        "rules.pressure_fall.advisory_hpa",
        "hPa",
        0.5,
        per_variable=False,
        level="alarm",
    ),
    Parameter(
        "pressure_fall",
        "warning_hpa",
        "rules.pressure_fall.warning_hpa",
        "hPa",
        0.5,
        per_variable=False,
        level="warning",
        not_below="advisory_hpa",
    ),
    Parameter(
        "gust",
        "advisory_ms",
        "rules.gust.advisory_ms",
        "m/s",
        0.5,
        per_variable=False,
        level="alarm",
    ),
    Parameter(
        "gust",
        "warning_ms",
        "rules.gust.warning_ms",
        "m/s",
        0.5,
        per_variable=False,
        level="warning",
        not_below="advisory_ms",
    ),
    Parameter(
        "rapid_change",
        "threshold",
        "rules.rapid_change.thresholds",
        "",
        None,
        per_variable=True,
        level="alarm",
    ),
)

_BY_KEY = {(p.detector, p.name): p for p in PARAMETERS}


def parameter(detector: str, name: str) -> Parameter:
    """The catalogue entry of ``detector``'s parameter ``name``; ValueError naming the
    parameters it has when there is none."""
    try:
        return _BY_KEY[detector, name]
    except KeyError:
        names = ", ".join(p.name for p in PARAMETERS if p.detector == detector)
        raise ValueError(
            f"detector {detector!r} has no parameter {name!r} (it has: {names})"
        ) from None


def setting_key(key: ThresholdKey) -> str:
    """The dotted setting the threshold ``key`` is saved under."""
    return parameter(key.detector, key.parameter).setting_key(key.variable)


def setting_value(settings: object, dotted: str) -> Any:
    """The value at ``dotted`` of anything with the settings' ``detectors`` and ``rules``."""
    value = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value
