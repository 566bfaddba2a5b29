"""Every tunable threshold of the detectors and rules, per variable, editable at run time.

Each (detector, parameter) pair has one value per variable, NaN where it does not apply (a
disabled detector, a non-statistical variable, a variable no rule watches). The bank reads a
consistent snapshot of them, :class:`GateLimits`, at the start of each batch, so a change made
from the console thread takes effect from the next observation processed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.detector_axis import CUSUM, axis_of
from pipeline.detectors.layout import widen
from pipeline.settings import DetectorSettings, RuleSettings
from pipeline.threshold_catalogue import CATALOGUE, Catalogue, Detector, ThresholdKey, setting_value
from pipeline.variables import VariableSpec


@dataclass(slots=True)
class Threshold:
    """One editable threshold as the threshold editor shows it."""

    detector: str
    parameter: str
    variable: str
    value: float
    step: float  # a sensible +/- increment
    unit: str

    @property
    def key(self) -> ThresholdKey:
        return ThresholdKey(self.detector, self.parameter, self.variable)


THRESHOLD_RANGE = (1e-3, 1e5)
"""No threshold of any detector or rule means anything outside this (in σ, samples, hPa, m/s,
times the spacing): a value there is a typo, refused rather than saved."""


@dataclass(frozen=True, slots=True)
class _Tuning:
    """The part of the settings the catalogue's setting paths are read from."""

    detectors: DetectorSettings
    rules: RuleSettings


@dataclass(frozen=True, slots=True)
class GateLimits:
    """A snapshot of the thresholds in the form the bank's vector code uses.

    ``lower``/``upper``/``rearm`` are (detectors, V); ``inf`` where a detector does not
    apply (it can never alarm), has a single level (``upper``) or is not edge-triggered (the
    gap, whose factor is ``gap``, (V,)).
    """

    lower: np.ndarray
    upper: np.ndarray
    rearm: np.ndarray
    gap: np.ndarray

    def widened(self, rows: int) -> GateLimits:
        """A copy with a station axis of ``rows`` before the variable axis (see ``widen``)."""
        return GateLimits(*(widen(a, rows) for a in (self.lower, self.upper, self.rearm, self.gap)))


def nice_step(value: float) -> float:
    """The largest of 1, 2, 5 x 10**k not above a tenth of ``value``: 6 -> 0.5, 35 -> 2."""
    target = value / 10.0
    decade = 10.0 ** math.floor(math.log10(target))
    return max(m * decade for m in (1.0, 2.0, 5.0) if m * decade <= target * (1 + 1e-9))


class ThresholdTable:
    """Per-variable values of every parameter of a catalogue (by default the application's),
    seeded from the settings."""

    def __init__(
        self,
        variables: Sequence[VariableSpec],
        detectors: DetectorSettings,
        rules: RuleSettings,
        catalogue: Catalogue = CATALOGUE,
    ) -> None:
        self.variables = tuple(variables)
        self.catalogue = catalogue
        self._axis = axis_of(catalogue)
        self._index = {v.name: i for i, v in enumerate(self.variables)}
        self._lock = threading.Lock()
        self._limits: GateLimits | None = None
        n = len(self.variables)
        self._values = {(p.detector, p.name): np.full(n, np.nan) for p in catalogue.parameters}
        tuning = _Tuning(detectors, rules)
        applies = {d.name: self._applicable(d, tuning) for d in catalogue.detectors}
        for p in catalogue.parameters:
            if not setting_value(tuning, f"{p.section}.enabled"):
                continue
            values = self._values[p.detector, p.name]
            if not p.per_variable:
                values[applies[p.detector]] = setting_value(tuning, p.setting)
                continue
            table = setting_value(tuning, p.setting)
            fallback = setting_value(tuning, p.fallback) if p.fallback else None
            for i in applies[p.detector]:
                value = table.get(self.variables[i].name, fallback)
                if value is not None:  # no fallback: only the variables the table names
                    values[i] = value
        self._columns = {name: self._in_use(name, columns) for name, columns in applies.items()}

    def _applicable(self, detector: Detector, tuning: _Tuning) -> list[int]:
        """The variables ``detector``'s thresholds may apply to (by the variables' kinds, or
        the variables its settings name, in the order they name them)."""
        columns = range(len(self.variables))
        if detector.applies_to == "all":
            return list(columns)
        if detector.applies_to != "named":
            return [i for i in columns if getattr(self.variables[i], detector.applies_to)]
        named = setting_value(tuning, detector.named_by)
        names: Iterable[str] = [named] if isinstance(named, str) else named  # a table's keys
        # Variables the settings name but the bank lacks are skipped.
        return [self._index[name] for name in names if name in self._index]

    def _in_use(self, detector: str, applicable: list[int]) -> list[int]:
        """Of ``applicable``, the columns ``detector`` has a threshold for (none when it is
        disabled or has no parameter)."""
        values = [v for (d, _), v in self._values.items() if d == detector]
        return [i for i in applicable if values and not math.isnan(values[0][i])]

    def applies(self, detector: str) -> np.ndarray:
        """(V,) bool: where ``detector`` is in use."""
        mask = np.zeros(len(self.variables), dtype=bool)
        mask[self._columns[detector]] = True
        return mask

    def columns(self, detector: str) -> list[int]:
        """Where ``detector`` is in use, in the order its settings name the variables."""
        return list(self._columns[detector])

    def listing(self, variable: str) -> list[Threshold]:
        i = self._variable(variable)
        spec = self.variables[i]
        out = []
        with self._lock:
            for p in self.catalogue.parameters:
                value = float(self._values[p.detector, p.name][i])
                if math.isnan(value):
                    continue
                step = p.step if p.step is not None else nice_step(value)
                out.append(
                    Threshold(p.detector, p.name, variable, value, step, p.unit or spec.unit)
                )
        return out

    def set(self, detector: str, parameter_name: str, variable: str, value: float) -> None:
        self.catalogue.detector(detector)  # ValueError naming the known ones
        p = self.catalogue.parameter(detector, parameter_name)
        i = self._variable(variable)
        label = f"{detector}.{p.name}"
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{label} must be a positive number, got {value!r}")
        if value <= p.above:
            raise ValueError(f"{label} must be above {p.above:g} ({p.above_why}), got {value}")
        if p.whole_from is not None and (value != int(value) or value < p.whole_from):
            raise ValueError(
                f"{label} must be a whole number of {p.whole_from} or more, got {value}"
            )
        if not THRESHOLD_RANGE[0] <= value <= THRESHOLD_RANGE[1]:
            raise ValueError(
                f"{label} {value:g} is outside any sensible threshold "
                f"({THRESHOLD_RANGE[0]:g} to {THRESHOLD_RANGE[1]:g})"
            )
        # The other level of a severity pair: this may not pass it.
        bounds = [(p.not_below, "below")] if p.not_below else []
        bounds += [
            (q.name, "above")
            for q in self.catalogue.parameters
            if (q.detector, q.not_below) == (detector, p.name)
        ]
        with self._lock:
            values = self._values[detector, p.name]
            if math.isnan(values[i]):
                raise ValueError(f"{label} does not apply to {variable!r}")
            for other, side in bounds:
                bound = float(self._values[detector, other][i])
                if (side == "above" and value > bound) or (side == "below" and value < bound):
                    raise ValueError(
                        f"{label} {value} would be {side} "
                        f"{detector}.{other} ({bound}) for {variable!r}"
                    )
            values[i] = value
            self._limits = None

    def _variable(self, variable: str) -> int:
        try:
            return self._index[variable]
        except KeyError:
            known = ", ".join(self._index)
            raise ValueError(f"unknown variable {variable!r} (known: {known})") from None

    def limits(self) -> GateLimits:
        """The thresholds in force now, as arrays (rebuilt only after a change)."""
        with self._lock:
            if self._limits is None:
                self._limits = self._build_limits()
            return self._limits

    def _build_limits(self) -> GateLimits:
        n = len(self.variables)
        lower = np.full((len(self._axis.names), n), np.inf)
        upper = np.full((len(self._axis.names), n), np.inf)
        for p in self.catalogue.parameters:
            d = self._axis.row(p.detector)
            if d not in self._axis.every and p.level is not None:
                levels = lower if p.level == "alarm" else upper
                levels[d] = np.nan_to_num(self._values[p.detector, p.name], nan=np.inf)
        rearm = lower.copy()
        # The CUSUM sums restart at zero after each signal (Page 1954), so its statistic falls
        # below h at once even while the shift persists: the alarm re-arms only when the sums
        # are back at exactly zero, i.e. the residuals are back within +/- k.
        rearm[CUSUM] = np.finfo(float).smallest_subnormal
        gap = np.nan_to_num(self._values["gap", "factor"], nan=np.inf)
        return GateLimits(lower, upper, rearm, gap)
