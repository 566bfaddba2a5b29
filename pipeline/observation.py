"""The normalized observation every source produces and every consumer reads."""

from __future__ import annotations

import msgspec


class Observation(msgspec.Struct, gc=False):
    """One station's readings at one instant, in canonical units.

    ``observed_at`` is seconds since the Unix epoch, UTC (on the wire: ISO 8601 with ``Z``).
    ``values`` maps variable names (see :mod:`pipeline.variables`) to numbers; a variable a
    station does not measure is simply absent. Pressure comes as two distinct variables,
    ``pressure_hpa`` (station level) and ``pressure_msl_hpa`` (reduced to sea level), so a
    pressure trend never mixes the two kinds.
    """

    station_id: str
    station_name: str
    lat: float
    lon: float
    observed_at: float
    source: str
    values: dict[str, float]
