"""Observed time in fixed steps, for a pipeline whose clock is the data's own (a replay).

Live, alerts are settled (cleared once their rule has been quiet long enough) at whatever
moments the batches happen to end, which depend on timing. A replay must give the same alerts
every run, read fast or at its recorded pace, so there they are settled at fixed instants of
observed time instead: at every multiple of ``step_s``, with the state of the detectors after
every reading before that instant and none after. Batches are cut into cells between those
instants; how a file is split into batches then changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from pipeline.frame import ObservationFrame


class SteppedTime:
    def __init__(self, step_s: float = 60.0) -> None:
        self.step_s = step_s
        self.settled: float | None = None  # the last instant settled at

    def cells(self, frame: ObservationFrame) -> list[np.ndarray]:
        """The frame's rows in time order, cut at every step boundary (row numbers)."""
        if not len(frame):
            return []
        order = np.argsort(frame.observed_at, kind="stable")
        cell = np.floor(frame.observed_at[order] / self.step_s)
        cuts = np.flatnonzero(cell[1:] != cell[:-1]) + 1
        return np.split(order, cuts)

    def boundaries(self, until: float, next_due: Callable[[], float | None]) -> Iterator[float]:
        """The instants to settle at before a reading at ``until``: every step boundary since
        the last one settled, up to ``until`` — skipping, across a gap in the data, those at
        which nothing can change (``next_due``: the earliest instant an alert may clear, asked
        after each settling)."""
        target = math.floor(until / self.step_s) * self.step_s
        if self.settled is None:
            self.settled = target
            return
        while self.settled < target:
            self.settled += self.step_s
            yield self.settled
            due = next_due()
            skip_to = (
                target if due is None else min(target, math.ceil(due / self.step_s) * self.step_s)
            )
            self.settled = max(self.settled, skip_to - self.step_s)
