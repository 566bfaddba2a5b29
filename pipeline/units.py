"""The one place that maps canonical units to display units.

Storage and detection stay metric (canonical); only what a person reads changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

METRIC = "metric"
IMPERIAL = "imperial"


@dataclass(frozen=True, slots=True)
class DisplayUnit:
    symbol: str
    convert: Callable[[float | np.ndarray], float | np.ndarray]
    scale: float
    """Factor for differences (a threshold step, a fall in hPa): conversion without offset."""
    decimals: int


_IDENTITY = 1.0
_IMPERIAL: dict[str, DisplayUnit] = {
    "°C": DisplayUnit("°F", lambda v: v * 9 / 5 + 32, 9 / 5, 1),
    "m/s": DisplayUnit("mph", lambda v: v * 2.236936, 2.236936, 1),
    "hPa": DisplayUnit("inHg", lambda v: v * 0.0295300, 0.0295300, 2),
    "mm": DisplayUnit("in", lambda v: v * 0.0393701, 0.0393701, 2),
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
