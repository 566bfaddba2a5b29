"""When each series' newest reading arrived, by the pipeline's clock: what tells a station
that has stopped from one whose readings are old but still coming.

The detectors measure silence in observed time, from a series' newest reading. That is not
enough live: the simulator's start-up backfill (three hours at once) took the console minutes
to catch up at 1,000 stations, and while it did, every station whose history was still being
caught up looked hours silent, though its readings were arriving right then. A feed that is
steadily late (a provider's delay) is the same. Live, a series is silent when nothing new of
it has arrived for as long as its newest reading is allowed to be old, or when its station's
own up-to-date readings go on without it for that long (``Analytics._stopped``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.frame import ObservationFrame
from pipeline.rows import with_rows


@dataclass(slots=True)
class SeriesArrivals:
    """(stations, variables) clock time at which each series' newest reading was processed;
    -inf where none is known to have arrived (silence is then observed time's alone)."""

    at: np.ndarray

    @classmethod
    def of(cls, n_vars: int) -> SeriesArrivals:
        return cls(np.full((0, n_vars), -np.inf))

    def grow(self, n_stations: int) -> None:
        if n_stations > self.at.shape[0]:
            self.at = with_rows(self.at, n_stations - self.at.shape[0], -np.inf)

    def record(self, fresh: ObservationFrame, now: float) -> None:
        """The series ``fresh`` carries a reading of (NaN: none) arrived at ``now``: the
        readings the detectors take as their newest (held-back ones too: the sensor spoke)."""
        rows, columns = np.nonzero(~np.isnan(fresh.values))
        self.at[fresh.station[rows], columns] = now

    def unknown(self, station: int, columns: slice | int) -> None:
        """Forget when these series last had a reading arrive."""
        self.at[station, columns] = -np.inf

    def quiet_for(self, station: np.ndarray, column: np.ndarray, now: float) -> np.ndarray:
        """Seconds since a reading of each (station, column) series last arrived."""
        return now - self.at[station, column]

    def keep_stations(self, kept: np.ndarray) -> None:
        """Keep the stations at ``kept``, renumbered in that order (as the registry does)."""
        self.at = self.at[kept[kept < self.at.shape[0]]]
