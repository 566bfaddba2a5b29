"""Anomaly detection over every station and variable at once.

:class:`DetectorBank` runs the statistical detectors (rolling z-score, EWMA chart, CUSUM,
stuck sensor, reporting gap) and the meteorological rules (pressure fall, gust, rapid change)
on :class:`~pipeline.frame.ObservationFrame` batches; :func:`control_band` draws the EWMA
chart of one series for the console.
"""

from pipeline.detectors.bank import DetectorBank
from pipeline.detectors.control_band import control_band
from pipeline.detectors.result import DetectionResult
from pipeline.detectors.thresholds import Threshold

__all__ = ["DetectionResult", "DetectorBank", "Threshold", "control_band"]
