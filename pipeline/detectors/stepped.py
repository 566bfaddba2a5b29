"""Detectors stepped in the rounds beside the statistical core: what one supplies.

A detector whose state recurs reading by reading (a chart, a running extreme) cannot be
computed for a whole batch at once like a :class:`~pipeline.detectors.batch.BatchStatistic`;
the bank takes it through the rounds, one reading of each station at a time, as it does the
core (:func:`~pipeline.detectors.statistics.advance`). Such a detector implements
:class:`SteppedStatistic`; its catalogue entry names the factory (``source``, as for a batch
statistic) and says ``stepped=True``. It declares its per-series state as the initial value
of each of its slots; the bank lays them out after the core's in the state block
(:func:`~pipeline.detectors.layout.with_stepped`), so they are gathered, kept for a missing
reading and written back with the core's, and returns them to those values when the series
restarts (after a gap or a sensor step).

Each round the bank calls :meth:`SteppedStatistic.step` once per stepped source, in catalogue
order, after the core, on the contiguous (m, V) slices of that round (see
:mod:`~pipeline.detectors.layout`): a few numpy calls of its own per round, which is the cost
of a separate pass; the core's detectors stay fused for that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from pipeline.detectors.batch import load
from pipeline.settings import DetectorSettings, RuleSettings
from pipeline.variables import VariableSpec


class SteppedStatistic(Protocol):
    def initial(self) -> np.ndarray:
        """(slots, V): the state of a series that has seen nothing since its last restart;
        its first dimension is how many slots the detector keeps per series."""
        ...

    def step(self, state: np.ndarray, x: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
        """Take one round's readings ``x`` at times ``t`` (both (m, V); ``x`` with the daily
        profile taken out where the bank does that) into ``state`` (slots, m, V), in place,
        and write the statistic of each of its detectors into ``out`` (detectors, m, V; in
        catalogue order), NaN where not evaluated. A missing reading is NaN in ``x``: what it
        computes there the bank discards, restoring that series' state and statistic."""
        ...


SteppedFactory = Callable[
    [Sequence[VariableSpec], Mapping[str, list[int]], DetectorSettings, RuleSettings],
    SteppedStatistic,
]
"""Builds a stepped statistic from the same arguments as a batch statistic's factory."""


def factory(source: str) -> SteppedFactory:
    """The stepped statistic's factory a catalogue entry's ``source`` names."""
    found: SteppedFactory = load(source)
    return found
