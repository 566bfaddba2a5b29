"""Columnar batches: the form in which observations go through validation and detection.

A Python loop per reading costs more than the whole vectorised detector update, so the
consumer turns each batch of :class:`~pipeline.observation.Observation` into arrays once and
works on those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class ObservationFrame:
    """``n`` observations: row ``i`` is station ``station[i]`` at ``observed_at[i]``.

    ``values`` has one column per variable of the pipeline's variable list, in that order; NaN
    marks a variable the observation did not carry (or one rejected by validation).
    """

    station: np.ndarray  # int64, (n,): index into the StationRegistry
    observed_at: np.ndarray  # float64, (n,): seconds since the epoch, UTC
    values: np.ndarray  # float64, (n, n_variables)
    source: np.ndarray | None = None  # object, (n,): the source of each row, where known
    suspect: np.ndarray | None = None
    """bool, (n, n_variables): readings quality control held back (their QC flag), once
    detection has run; None when none were (or before)."""

    def __len__(self) -> int:
        return int(self.station.shape[0])

    def take(self, rows: np.ndarray) -> ObservationFrame:
        source = None if self.source is None else self.source[rows]
        suspect = None if self.suspect is None else self.suspect[rows]
        return ObservationFrame(
            self.station[rows], self.observed_at[rows], self.values[rows], source, suspect
        )


def concat(a: ObservationFrame, b: ObservationFrame) -> ObservationFrame:
    """``a``'s rows, then ``b``'s."""
    source = None
    if a.source is not None and b.source is not None:
        source = np.concatenate([a.source, b.source])
    suspect = None
    if a.suspect is not None or b.suspect is not None:
        suspect = np.concatenate([_flags(a), _flags(b)])
    return ObservationFrame(
        np.concatenate([a.station, b.station]),
        np.concatenate([a.observed_at, b.observed_at]),
        np.concatenate([a.values, b.values]),
        source,
        suspect,
    )


def _flags(frame: ObservationFrame) -> np.ndarray:
    if frame.suspect is not None:
        return frame.suspect
    return np.zeros(frame.values.shape, dtype=bool)
