"""Detectors computed for a whole batch before the rounds: what one supplies, how it is found.

The bank runs most detectors in rounds, one reading of each station at a time, because
their state recurs reading by reading; the statistical core does that for z-score, EWMA,
CUSUM, stuck and gap in one fused pass (:func:`~pipeline.detectors.statistics.advance`),
since every numpy call a round adds costs on each of hundreds of rounds, and a detector of
its own does it as a :class:`~pipeline.detectors.stepped.SteppedStatistic`. A detector whose
statistic can be computed for the whole batch at once (the rules: a reading against a
trailing window, or a threshold on the reading itself) instead implements
:class:`BatchStatistic`; its catalogue entry names the factory (``"module:factory"``,
:attr:`~pipeline.threshold_catalogue.Detector.source`), and the bank writes what it returns
into the detector's row, where the rounds gate it, score it and report it like any other.
Several detectors may share one factory (the rules share their trailing windows).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from pipeline.settings import DetectorSettings, RuleSettings
from pipeline.variables import VariableSpec


class BatchStatistic(Protocol):
    relearn_s: float
    """How long after a sensor step its statistic still sees the old level (a trailing
    window's length): quality control keeps the step from it that long."""

    def statistics(
        self, station: np.ndarray, time: np.ndarray, values: np.ndarray, starts: np.ndarray
    ) -> list[tuple[str, list[int], np.ndarray]]:
        """(detector, columns, statistic) of each of its detectors in use, for a batch in
        (station, time) order (``starts``: where each station's readings begin): statistic
        (n, len(columns)), NaN where not evaluated."""
        ...

    def grow(self, capacity: int) -> None:
        """Make room for stations up to ``capacity`` (new ones start empty)."""
        ...

    def keep_stations(self, kept: np.ndarray) -> None:
        """Keep only the stations at ``kept``, renumbered in that order."""
        ...


Factory = Callable[
    [Sequence[VariableSpec], Mapping[str, list[int]], DetectorSettings, RuleSettings],
    BatchStatistic,
]
"""Builds a batch statistic from the bank's variables, the columns each detector applies to
(from the threshold table: enabled, and with a threshold there), and the settings."""


def load(source: str) -> Any:
    """What a catalogue entry's ``source`` (``"module:name"``) names."""
    module, _, name = source.partition(":")
    return getattr(importlib.import_module(module), name)


def factory(source: str) -> Factory:
    """The batch statistic's factory a catalogue entry's ``source`` names."""
    found: Factory = load(source)
    return found
