"""The one place that knows units: the units files come in, converted to the canonical ones at
reading, and the display units canonical values are shown in.

Storage and detection stay metric (canonical); only what a file holds and what a person reads
differ. Both directions come from one table of :class:`InputUnit`, so a factor is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

METRIC = "metric"
IMPERIAL = "imperial"


@dataclass(frozen=True, slots=True)
class InputUnit:
    """A unit a value may come in: ``canonical = value * factor + offset``."""

    canonical: str
    factor: float
    offset: float = 0.0

    def to_canonical(self, value: float) -> float:
        return value * self.factor + self.offset

    def from_canonical(self, value: float | np.ndarray) -> float | np.ndarray:
        return (value - self.offset) / self.factor


# Exact by definition: 1 mph = 0.44704 m/s (international mile), 1 kn = 1852/3600 m/s,
# 1 in = 25.4 mm; 1 inHg = 33.8638866667 hPa and 1 mmHg = 1.33322387415 hPa (conventional
# values at 0 °C, NIST SP 811 appendix B.8).
_CELSIUS = InputUnit("°C", 1.0)
_FAHRENHEIT = InputUnit("°C", 5 / 9, -32 * 5 / 9)
_KNOT = InputUnit("m/s", 1852 / 3600)
_INCH = InputUnit("mm", 25.4)
_HPA = InputUnit("hPa", 1.0)
INPUT_UNITS: dict[str, InputUnit] = {
    "degC": _CELSIUS,
    "°C": _CELSIUS,
    "C": _CELSIUS,
    "degF": _FAHRENHEIT,
    "°F": _FAHRENHEIT,
    "F": _FAHRENHEIT,
    "K": InputUnit("°C", 1.0, -273.15),
    "m/s": InputUnit("m/s", 1.0),
    "km/h": InputUnit("m/s", 1 / 3.6),
    "mph": InputUnit("m/s", 0.44704),
    "kn": _KNOT,
    "kt": _KNOT,
    "knots": _KNOT,
    "hPa": _HPA,
    "mbar": _HPA,
    "mb": _HPA,
    "Pa": InputUnit("hPa", 0.01),
    "kPa": InputUnit("hPa", 10.0),
    "inHg": InputUnit("hPa", 33.8638866667),
    "mmHg": InputUnit("hPa", 1.33322387415),
    "mm": InputUnit("mm", 1.0),
    "cm": InputUnit("mm", 10.0),
    "in": _INCH,
    "inch": _INCH,
    "%": InputUnit("%", 1.0),
    "°": InputUnit("°", 1.0),
    "deg": InputUnit("°", 1.0),
}
_QUANTITY = {"°C": "temperature", "m/s": "speed", "hPa": "pressure", "mm": "depth"}


def input_unit(label: str, canonical: str) -> InputUnit:
    """How a value given in ``label`` becomes one in ``canonical``. Raises ValueError for an
    unknown unit, or one of another quantity (mph for a temperature)."""
    unit = INPUT_UNITS.get(label)
    if unit is None:
        raise ValueError(f"unknown unit {label!r} (known: {', '.join(INPUT_UNITS)})")
    if unit.canonical != canonical:
        wanted = _QUANTITY.get(canonical, canonical or "unitless")
        raise ValueError(
            f"{label!r} is a unit of {_QUANTITY.get(unit.canonical, unit.canonical)}, "
            f"not of {wanted} ({canonical or 'no unit'})"
        )
    return unit


@dataclass(frozen=True, slots=True)
class DisplayUnit:
    symbol: str
    convert: Callable[[float | np.ndarray], float | np.ndarray]
    scale: float
    """Factor for differences (a threshold step, a fall in hPa): conversion without offset."""
    decimals: int


def _imperial(symbol: str, decimals: int) -> DisplayUnit:
    unit = INPUT_UNITS[symbol]
    return DisplayUnit(symbol, unit.from_canonical, 1 / unit.factor, decimals)


_IDENTITY = 1.0
_IMPERIAL: dict[str, DisplayUnit] = {
    "°C": _imperial("°F", 1),
    "m/s": _imperial("mph", 1),
    "hPa": _imperial("inHg", 2),
    "mm": _imperial("in", 2),
}
_METRIC_DECIMALS = {"°C": 1, "m/s": 1, "hPa": 1, "mm": 1, "%": 0, "°": 0}


def display_unit(unit: str, system: str) -> DisplayUnit:
    """How to show a value whose canonical unit is ``unit`` in the given unit system."""
    if system == IMPERIAL and unit in _IMPERIAL:
        return _IMPERIAL[unit]
    return DisplayUnit(unit, lambda v: v, _IDENTITY, _METRIC_DECIMALS.get(unit, 1))


def format_value(value: float, unit: str, system: str) -> str:
    """``value`` (canonical) as text with its display unit, or an em dash when unknown."""
    shown = display_unit(unit, system)
    if value != value:  # NaN
        return "—"
    text = f"{shown.convert(value):.{shown.decimals}f}"
    return f"{text} {shown.symbol}".rstrip()
