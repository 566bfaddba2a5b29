"""What a detector or rule reports."""

from __future__ import annotations

import msgspec


class Anomaly(msgspec.Struct, kw_only=True):
    """One abnormal reading.

    ``score`` is in 0..1 and comparable across detectors: ``statistic / (statistic + threshold)``,
    so 0.5 means "exactly at the threshold in force", 0.75 three times past it.
    For rules, ``quantity`` is the quantity that crossed the threshold (hPa fallen in the
    window, the gust in m/s, the change over the window) and ``severity`` is ``advisory`` or
    ``warning``; statistical detectors leave both at their defaults.
    """

    station_id: str
    variable: str
    value: float
    detector: str
    score: float
    threshold: float
    observed_at: float
    statistic: float
    quantity: float | None = None
    severity: str | None = None
    event_start: float | None = None
    """When the burst this anomaly belongs to began, if it is not the burst's first anomaly
    but a new peak of it (see :mod:`pipeline.events`): the log shows one row per burst."""


def sensor_fault(
    station_id: str,
    variable: str,
    value: float,
    detector: str,
    observed_at: float,
    statistic: float,
    threshold: float,
) -> Anomaly:
    """A sensor fault quality control found: never a weather severity. ``score`` is
    ``statistic / (statistic + threshold)``, as the detectors' scores are (0.5 at the
    threshold); ``quantity`` is the statistic (how far past what is possible)."""
    total = statistic + threshold
    return Anomaly(
        station_id=station_id,
        variable=variable,
        value=float(value),
        detector=detector,
        score=float(statistic / total) if total > 0 else 1.0,
        threshold=float(threshold),
        observed_at=float(observed_at),
        statistic=float(statistic),
        quantity=float(statistic),
    )
