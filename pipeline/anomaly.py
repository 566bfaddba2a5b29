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
