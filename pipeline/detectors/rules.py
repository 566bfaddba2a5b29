"""The meteorological rules' statistics: pressure fall, gust and rapid change.

Unlike the statistical detectors these compare a physical quantity with a physical threshold,
so they need no baseline and no warm-up; their severity levels and edge-triggering are applied
by the bank together with the detectors' alarms.

* Pressure fall: the highest pressure of the last ``window_hours`` minus the reading. The
  defaults follow the Met Office barometric tendency terms, "falling quickly" 3.5-6 hPa in 3 h
  (advisory) and "falling very rapidly" more than 6 hPa in 3 h (warning); for comparison the
  US METAR remark PRESFR marks a fall of 0.06 inHg (2 hPa) or more in one hour. Each pressure
  variable is its own series: station pressure and sea-level pressure never mix.
* Gust: the gust itself. Defaults after the NWS wind advisory (gusts 46-57 mph, 20.6 m/s) and
  high wind warning (gusts 58 mph or more, 25.9 m/s).
* Rapid change: the larger of the rise above the window's lowest value and the fall below its
  highest over the last ``window_minutes``, per variable given a threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.detectors.windows import N_BUCKETS, WindowExtremes
from pipeline.settings import DetectorSettings, RuleSettings
from pipeline.variables import VariableSpec


class RuleStatistics:
    """The statistic of each rule for the variables it watches (``columns``, per rule: the
    threshold table's, so variables named in the settings but absent from the bank, and
    disabled rules, are left out). A :class:`~pipeline.detectors.batch.BatchStatistic`."""

    def __init__(
        self,
        variables: Sequence[VariableSpec],
        columns: Mapping[str, list[int]],
        detectors: DetectorSettings,
        rules: RuleSettings,
    ) -> None:
        fall, change = rules.pressure_fall, rules.rapid_change
        self.fall_columns = columns["pressure_fall"]
        self.change_columns = columns["rapid_change"]
        self.gust_columns = columns["gust"]
        self.windows = WindowExtremes(
            self.fall_columns + self.change_columns,
            [fall.window_hours * 3600.0] * len(self.fall_columns)
            + [change.window_minutes * 60.0] * len(self.change_columns),
            0,
        )
        # A window reaches back up to two of its buckets more than its length (see windows).
        self.relearn_s = max(fall.window_hours * 3600.0, change.window_minutes * 60.0) * (
            1.0 + 2.0 / N_BUCKETS
        )

    def grow(self, capacity: int) -> None:
        self.windows.grow(capacity)

    def keep_stations(self, kept: np.ndarray) -> None:
        self.windows.keep_stations(kept)

    def statistics(
        self, station: np.ndarray, time: np.ndarray, values: np.ndarray, starts: np.ndarray
    ) -> list[tuple[str, list[int], np.ndarray]]:
        """(detector, columns, statistics) of each rule in use, for a batch in (station, time)
        order: (n, len(columns)) arrays, NaN where the value is missing."""
        high, low = self.windows.update(station, time, values, starts)
        out = []
        n_fall = len(self.fall_columns)
        if n_fall:
            fall = high[:, :n_fall] - values[:, self.fall_columns]
            out.append(("pressure_fall", self.fall_columns, fall))
        if self.change_columns:
            x = values[:, self.change_columns]
            change = np.maximum(x - low[:, n_fall:], high[:, n_fall:] - x)
            out.append(("rapid_change", self.change_columns, change))
        if self.gust_columns:
            out.append(("gust", self.gust_columns, values[:, self.gust_columns]))
        return out
