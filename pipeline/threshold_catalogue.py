"""Every detector and rule, and every tunable threshold of theirs, each declared once.

A :class:`Detector` entry says what kind of detector it is (calibrated, edge-triggered, a
rule with severity levels, or one reporting every event), which variables it watches, the
short name the console's panel gives its thresholds, and where its statistic is computed:
the statistical core's rounds, or a module of its own: a batch statistic (see
:mod:`pipeline.detectors.batch`) or one stepped in the rounds beside the core's (see
:mod:`pipeline.detectors.stepped`). The detector axis (:mod:`pipeline.detector_axis`), the
threshold table's applicability and the bank's dispatch are derived from these entries.

A :class:`Parameter` entry says where a threshold's setting lives, its unit, whether it is
one value per variable (a ``thresholds`` table) or one for every variable the detector
watches, its +/- step and the bounds a value must keep. The threshold table, the config
checks, saving from the console and the threshold editor all read it.

So a new detector, computed from a batch or stepped reading by reading, is its own module,
its entries here and its settings table in :mod:`pipeline.settings`; a new tunable parameter
is one entry and the field it names. This module imports nothing of the analytics, so reading
and checking the settings (and the command line's help) stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["calibrated", "edge", "rule", "every"]
AppliesTo = Literal["statistical", "stuck_check", "gap_check", "all", "named"]
CORE = "core"
"""The ``source`` of the detectors the statistical core computes in its rounds
(:func:`pipeline.detectors.statistics.advance`: z-score, EWMA, CUSUM, stuck and gap share
one baseline and one pass, which is what keeps the rounds fast)."""


@dataclass(frozen=True, slots=True)
class Detector:
    """One row of the detector axis.

    ``kind``: ``calibrated`` (alarms gated on how improbable the statistic is for its series,
    see :mod:`pipeline.detectors.calibration`; the core's only), ``edge`` (an anomaly when the
    alarm level rises), ``rule`` (likewise, with an advisory and a warning level, and the
    statistic reported as the anomaly's quantity), ``every`` (every reading past the
    threshold is its own event: the gap).
    """

    name: str
    kind: Kind
    # Which variables it may watch: those of a kind (a flag of VariableSpec), all of them, or
    # the ones the setting ``named_by`` names (a variable's name, a list, or a table's keys).
    applies_to: AppliesTo
    short: str  # the panel's name for its thresholds: "z" as in "z ≥ 6 σ"
    named_by: str = ""
    # CORE, or "module:factory" of the statistic computing it: a batch statistic
    # (pipeline.detectors.batch), or with ``stepped`` one the rounds step reading by reading
    # (pipeline.detectors.stepped).
    source: str = CORE
    stepped: bool = False


DETECTORS = (
    Detector("zscore", "calibrated", "statistical", "z"),
    Detector("ewma", "calibrated", "statistical", "EWMA L"),
    Detector("cusum", "calibrated", "statistical", "CUSUM h"),
    Detector("stuck", "edge", "stuck_check", "stuck"),
    Detector(
        "pressure_fall",
        "rule",
        "named",
        "fall",
        named_by="rules.pressure_fall.variables",
        source="pipeline.detectors.rules:RuleStatistics",
    ),
    Detector(
        "gust",
        "rule",
        "named",
        "gust",
        named_by="rules.gust.variable",
        source="pipeline.detectors.rules:RuleStatistics",
    ),
    Detector(
        "rapid_change",
        "rule",
        "named",
        "Δ",
        named_by="rules.rapid_change.thresholds",
        source="pipeline.detectors.rules:RuleStatistics",
    ),
    Detector("gap", "every", "gap_check", "gap ×"),
)
"""In the order of the detector axis: the calibrated first (the core keeps their running
distributions in that order), then the rest as they have always been numbered (anomalies of
one reading are listed in this order)."""


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


OWN_UNITS = frozenset({"σ", "samples", "× spacing"})
"""Threshold units that are not the watched variable's. Every other (a fall in hPa, a gust in
m/s, "" for a change in the variable's own unit) is an amount of the variable, shown in the
unit the variable is shown in."""

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


@dataclass(frozen=True)
class Catalogue:
    """Detectors and their parameters, checked to agree. The bank and the threshold table
    take one (by default :data:`CATALOGUE`), so a detector can be tried, or tested, in a
    catalogue :meth:`extended` with it without changing the one the application runs."""

    detectors: tuple[Detector, ...]
    parameters: tuple[Parameter, ...]
    _by_name: dict[str, Detector] = field(init=False, repr=False, compare=False)
    _by_key: dict[tuple[str, str], Parameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {d.name: d for d in self.detectors}
        if len(by_name) != len(self.detectors):
            raise ValueError("two detectors of the catalogue have one name")
        for d in self.detectors:
            if (d.applies_to == "named") != bool(d.named_by):
                raise ValueError(f"{d.name}: named_by goes with applies_to 'named', only")
            if d.stepped and d.source == CORE:
                raise ValueError(f"{d.name}: a stepped detector names its statistic (source)")
        for p in self.parameters:
            if p.detector not in by_name:
                raise ValueError(f"parameter {p.detector}.{p.name}: no such detector")
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_key", {(p.detector, p.name): p for p in self.parameters})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.detectors)

    def detector(self, name: str) -> Detector:
        """The entry of detector ``name``; ValueError naming the known ones when none."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name)
            raise ValueError(f"unknown detector {name!r} (known: {known})") from None

    def parameter(self, detector: str, name: str) -> Parameter:
        """The entry of ``detector``'s parameter ``name``; ValueError naming the parameters
        it has when there is none."""
        try:
            return self._by_key[detector, name]
        except KeyError:
            names = ", ".join(p.name for p in self.parameters if p.detector == detector)
            raise ValueError(
                f"detector {detector!r} has no parameter {name!r} (it has: {names})"
            ) from None

    def statistic_unit(self, detector: str) -> str:
        """The unit of ``detector``'s statistic and thresholds when it is one of
        :data:`OWN_UNITS`; "" when they are amounts of the variable (a rule's, or quality
        control's jumps, which the catalogue does not hold)."""
        units = (p.unit for p in self.parameters if p.detector == detector)
        return next((unit for unit in units if unit in OWN_UNITS), "")

    def extended(self, detector: Detector, *parameters: Parameter) -> Catalogue:
        """This catalogue with ``detector`` (and its parameters) after every detector it has:
        the rows of those stay where they are."""
        return Catalogue((*self.detectors, detector), (*self.parameters, *parameters))

    def short_label(self, detector: str, parameter_name: str) -> str:
        """A panel-sized name for a threshold: ``z ≥``, ``fall ≥``, ``gust warn ≥``."""
        warning = self.parameter(detector, parameter_name).level == "warning"
        return f"{self.detector(detector).short}{' warn' if warning else ''} ≥"

    def shared_rules(self) -> tuple[str, ...]:
        """The rules whose thresholds are one value for every variable they watch (a
        pressure fall, a gust): the thresholds people watch, whatever variable is shown."""
        return tuple(
            d.name
            for d in self.detectors
            if d.kind == "rule"
            and all(not p.per_variable for p in self.parameters if p.detector == d.name)
        )


CATALOGUE = Catalogue(DETECTORS, PARAMETERS)


def parameter(detector: str, name: str) -> Parameter:
    """:meth:`Catalogue.parameter` of :data:`CATALOGUE`."""
    return CATALOGUE.parameter(detector, name)


def setting_key(key: ThresholdKey) -> str:
    """The dotted setting the threshold ``key`` is saved under."""
    return parameter(key.detector, key.parameter).setting_key(key.variable)


def setting_value(settings: object, dotted: str) -> Any:
    """The value at ``dotted`` of anything with the settings' ``detectors`` and ``rules``."""
    value = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value
