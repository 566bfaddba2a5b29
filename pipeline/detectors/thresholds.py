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

from pipeline.detectors.layout import (
    CUSUM,
    DETECTORS,
    EWMA,
    GATED,
    GUST,
    PRESSURE_FALL,
    RAPID_CHANGE,
    STUCK,
    ZSCORE,
    widen,
)
from pipeline.settings import DetectorSettings, RuleSettings
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


THRESHOLD_RANGE = (1e-3, 1e5)
"""No threshold of any detector or rule means anything outside this (in σ, samples, hPa, m/s,
times the spacing): a value there is a typo, refused rather than saved."""


@dataclass(frozen=True, slots=True)
class Parameter:
    detector: str
    name: str
    unit: str  # "" means the variable's own unit
    step: float | None  # None: a 1-2-5 step near a tenth of the value


PARAMETERS = (
    Parameter("zscore", "threshold", "σ", 0.5),
    Parameter("ewma", "limit", "σ", 0.5),
    Parameter("cusum", "h", "σ", 1.0),
    Parameter("stuck", "samples", "samples", 1.0),
    Parameter("gap", "factor", "× spacing", 0.5),
    Parameter("pressure_fall", "advisory_hpa", "hPa", 0.5),
    Parameter("pressure_fall", "warning_hpa", "hPa", 0.5),
    Parameter("gust", "advisory_ms", "m/s", 0.5),
    Parameter("gust", "warning_ms", "m/s", 0.5),
    Parameter("rapid_change", "threshold", "", None),
)

# The parameter that sets each gated detector's alarm (its lowest level), and for the rules with
# two severities the one that sets "warning".
LOWER = {
    ZSCORE: "threshold",
    EWMA: "limit",
    CUSUM: "h",
    STUCK: "samples",
    PRESSURE_FALL: "advisory_hpa",
    GUST: "advisory_ms",
    RAPID_CHANGE: "threshold",
}
UPPER = {PRESSURE_FALL: "warning_hpa", GUST: "warning_ms"}
# A severity pair: the lower may not be raised above the upper, nor the upper below the lower.
PAIRS = {
    ("pressure_fall", "advisory_hpa"): ("warning_hpa", "above"),
    ("pressure_fall", "warning_hpa"): ("advisory_hpa", "below"),
    ("gust", "advisory_ms"): ("warning_ms", "above"),
    ("gust", "warning_ms"): ("advisory_ms", "below"),
}


@dataclass(frozen=True, slots=True)
class GateLimits:
    """A snapshot of the thresholds in the form the bank's vector code uses.

    ``lower``/``upper``/``rearm`` are (gated detectors, V); ``inf`` where a detector does not
    apply (it can never alarm) or has a single level (``upper``). ``gap`` is (V,).
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
    """Per-variable values of every :data:`PARAMETERS` entry, seeded from the settings."""

    def __init__(
        self, variables: Sequence[VariableSpec], detectors: DetectorSettings, rules: RuleSettings
    ) -> None:
        self.variables = tuple(variables)
        self._index = {v.name: i for i, v in enumerate(self.variables)}
        self._lock = threading.Lock()
        self._limits: GateLimits | None = None
        n = len(self.variables)
        self._values = {(p.detector, p.name): np.full(n, np.nan) for p in PARAMETERS}

        statistical = [i for i, v in enumerate(self.variables) if v.statistical]
        stuck_checked = [i for i, v in enumerate(self.variables) if v.stuck_check]
        per_variable = (
            ("zscore", "threshold", detectors.zscore, statistical),
            ("ewma", "limit", detectors.ewma, statistical),
            ("cusum", "h", detectors.cusum, statistical),
            ("stuck", "samples", detectors.stuck, stuck_checked),
        )
        for detector, name, settings, applies in per_variable:
            if settings.enabled:
                default = float(getattr(settings, name))
                for i in applies:
                    value = settings.thresholds.get(self.variables[i].name, default)
                    self._values[detector, name][i] = value
        if detectors.gap.enabled:
            for i, spec in enumerate(self.variables):
                if spec.gap_check:
                    self._values["gap", "factor"][i] = detectors.gap.factor

        fall = rules.pressure_fall
        if fall.enabled:
            for i in self._columns(fall.variables):
                self._values["pressure_fall", "advisory_hpa"][i] = fall.advisory_hpa
                self._values["pressure_fall", "warning_hpa"][i] = fall.warning_hpa
        gust = rules.gust
        if gust.enabled:
            for i in self._columns([gust.variable]):
                self._values["gust", "advisory_ms"][i] = gust.advisory_ms
                self._values["gust", "warning_ms"][i] = gust.warning_ms
        change = rules.rapid_change
        if change.enabled:
            for i in self._columns(change.thresholds):
                self._values["rapid_change", "threshold"][i] = change.thresholds[
                    self.variables[i].name
                ]

    def _columns(self, names: Iterable[str]) -> list[int]:
        """Indices of the named variables this bank has (rules skip the others)."""
        return [self._index[name] for name in names if name in self._index]

    def applies(self, detector: str) -> np.ndarray:
        """(V,) bool: where ``detector`` is in use."""
        values = [v for (d, _), v in self._values.items() if d == detector]
        return ~np.isnan(values[0])

    def listing(self, variable: str) -> list[Threshold]:
        i = self._variable(variable)
        spec = self.variables[i]
        out = []
        with self._lock:
            for p in PARAMETERS:
                value = float(self._values[p.detector, p.name][i])
                if math.isnan(value):
                    continue
                step = p.step if p.step is not None else nice_step(value)
                out.append(
                    Threshold(p.detector, p.name, variable, value, step, p.unit or spec.unit)
                )
        return out

    def set(self, detector: str, parameter: str, variable: str, value: float) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r} (known: {', '.join(DETECTORS)})")
        names = [p.name for p in PARAMETERS if p.detector == detector]
        if parameter not in names:
            raise ValueError(
                f"detector {detector!r} has no parameter {parameter!r} (it has: {', '.join(names)})"
            )
        i = self._variable(variable)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{detector}.{parameter} must be a positive number, got {value!r}")
        if detector == "gap" and value <= 1:
            raise ValueError(f"gap.factor must be above 1 (times the usual spacing), got {value}")
        if parameter == "samples" and (value != int(value) or value < 2):
            raise ValueError(f"{detector}.samples must be a whole number of 2 or more, got {value}")
        if not THRESHOLD_RANGE[0] <= value <= THRESHOLD_RANGE[1]:
            raise ValueError(
                f"{detector}.{parameter} {value:g} is outside any sensible threshold "
                f"({THRESHOLD_RANGE[0]:g} to {THRESHOLD_RANGE[1]:g})"
            )
        with self._lock:
            values = self._values[detector, parameter]
            if math.isnan(values[i]):
                raise ValueError(f"{detector}.{parameter} does not apply to {variable!r}")
            pair = PAIRS.get((detector, parameter))
            if pair is not None:
                other, side = pair
                bound = float(self._values[detector, other][i])
                if (side == "above" and value > bound) or (side == "below" and value < bound):
                    raise ValueError(
                        f"{detector}.{parameter} {value} would be {side} "
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
        lower = np.full((GATED, n), np.inf)
        upper = np.full((GATED, n), np.inf)
        for d, name in LOWER.items():
            lower[d] = np.nan_to_num(self._values[DETECTORS[d], name], nan=np.inf)
        for d, name in UPPER.items():
            upper[d] = np.nan_to_num(self._values[DETECTORS[d], name], nan=np.inf)
        rearm = lower.copy()
        # The CUSUM sums restart at zero after each signal (Page 1954), so its statistic falls
        # below h at once even while the shift persists: the alarm re-arms only when the sums
        # are back at exactly zero, i.e. the residuals are back within +/- k.
        rearm[CUSUM] = np.finfo(float).smallest_subnormal
        gap = np.nan_to_num(self._values["gap", "factor"], nan=np.inf)
        return GateLimits(lower, upper, rearm, gap)
