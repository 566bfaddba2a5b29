"""The one place that knows units: the units files come in, converted to the canonical ones at
reading, and the display units canonical values are shown in.

Storage and detection stay metric (canonical); only what a file holds and what a person reads
differ. Both directions come from one table of :class:`InputUnit`, so a factor is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: reading the settings must not load numpy
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

    def format(self, value: float) -> str:
        """``value`` (canonical) as text in this unit, or an em dash when unknown."""
        if value != value:  # NaN
            return "—"
        return f"{self.convert(value):.{self.decimals}f} {self.symbol}".rstrip()

    def format_difference(self, amount: float, extra_decimals: int = 0) -> str:
        """An amount of the quantity (a fall, a change, a jump; canonical) in this unit: scaled,
        never offset (a 10 °C change is 18 °F, not 50 °F)."""
        if amount != amount:  # NaN
            return "—"
        decimals = self.decimals + extra_decimals
        return f"{amount * self.scale:.{decimals}f} {self.symbol}".rstrip()


# The units a person may read each quantity in: the first is the canonical one. A quantity's
# name (for ``[ui.units]``) and its choices.
QUANTITY_UNITS: dict[str, tuple[str, ...]] = {
    "temperature": ("°C", "°F"),
    "speed": ("m/s", "km/h", "mph", "kn"),
    "pressure": ("hPa", "inHg", "kPa", "mmHg"),
    "rain": ("mm", "in"),
}
_CANONICAL_QUANTITY = {units[0]: quantity for quantity, units in QUANTITY_UNITS.items()}
_DECIMALS = {
    "°C": 1,
    "°F": 1,
    "m/s": 1,
    "km/h": 0,
    "mph": 1,
    "kn": 1,
    "hPa": 1,
    "inHg": 2,
    "kPa": 2,
    "mmHg": 0,
    "mm": 1,
    "in": 2,
    "%": 0,
    "°": 0,
}
PRESETS: dict[str, dict[str, str]] = {
    METRIC: {},
    IMPERIAL: {"temperature": "°F", "speed": "mph", "pressure": "inHg", "rain": "in"},
}
UnitSystem = str | Mapping[str, str]
"""A preset (``"metric"``, ``"imperial"``) or quantity -> unit (``{"speed": "kn"}``); a
quantity not named is shown in its canonical unit."""


def unit_choices(system: UnitSystem) -> dict[str, str]:
    """``system`` as quantity -> unit, checked. Raises ValueError naming what is wrong."""
    if isinstance(system, str):
        if system not in PRESETS:
            raise ValueError(f"unknown unit system {system!r} (metric, imperial, or a table)")
        return dict(PRESETS[system])
    for quantity, unit in system.items():
        if quantity not in QUANTITY_UNITS:
            raise ValueError(f"unknown quantity {quantity!r} (one of {', '.join(QUANTITY_UNITS)})")
        if unit not in QUANTITY_UNITS[quantity]:
            raise ValueError(
                f"{quantity}: unknown unit {unit!r} (one of {', '.join(QUANTITY_UNITS[quantity])})"
            )
    return dict(system)


def quantity_of(unit: str) -> str | None:
    """The quantity whose canonical unit is ``unit`` (``"°C"`` -> ``"temperature"``), if any."""
    return _CANONICAL_QUANTITY.get(unit)


_IDENTITY = 1.0


def display_unit(unit: str, system: UnitSystem) -> DisplayUnit:
    """How to show a value whose canonical unit is ``unit`` in the given unit system."""
    quantity = quantity_of(unit)
    chosen = unit_choices(system).get(quantity or "", unit) if quantity else unit
    if chosen == unit:
        return DisplayUnit(unit, lambda v: v, _IDENTITY, _DECIMALS.get(unit, 1))
    shown = INPUT_UNITS[chosen]
    return DisplayUnit(chosen, shown.from_canonical, 1 / shown.factor, _DECIMALS.get(chosen, 1))


def format_value(value: float, unit: str, system: UnitSystem) -> str:
    """``value`` (canonical) as text with its display unit, or an em dash when unknown."""
    return display_unit(unit, system).format(value)
