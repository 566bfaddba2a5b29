"""Where the detectors keep their numbers: a block of slots per station.

A series is one (station, variable) pair. Every series carries the same few numbers (last
time, elapsed-time reference, baseline, chart values, window sums), stored as one float64
array of shape (stations, slots, variables), so that a batch gathers the state of all its
stations with one fancy index and writes it back with one. The slots of detectors stepped
beside the core (:mod:`~pipeline.detectors.stepped`) follow the core's, as many as they
declare. The alarm level of each gated detector (0 none, 1 alarm or advisory, 2 warning) is
kept beside it as int8 (stations, detectors, variables; the gap, not edge-triggered, stays
0): the edge logic is cheaper in small integers.

While a batch runs, that state is transposed into a work array (slots, stations, variables)
with the stations ordered by how many readings they have in the batch, most first. Round ``r``
(every station's ``r``-th reading) then involves exactly the first ``m_r`` stations, and each
slot of them is a contiguous (m_r, variables) slice: no gather or scatter per round, and
whole-array operations on contiguous memory. The per-call overhead of numpy, not the
arithmetic, is what limits a vectorised detector on arrays this small.
"""

from __future__ import annotations

import numpy as np

from pipeline.detector_axis import CALIBRATED, DETECTORS
from pipeline.detectors.calibration import PRIOR_MEAN, PRIOR_VAR

# The detector axis itself (names, rows) is pipeline.detector_axis; the statistics add a row
# after the detectors': the spacing dt, the gap's quantity. These are the application's
# catalogue's; a catalogue extended with detectors of its own has its spacing further on
# (DetectorAxis.spacing).
SPACING = len(DETECTORS)
N_STATS = SPACING + 1

# Slots of the per-series state.
(
    LAST_T,  # time of the last reading taken (NaN: none since the last restart)
    COUNT,  # readings taken since the last restart
    DT_REF,  # exponentially weighted mean spacing (NaN until the second reading)
    MEAN,  # baseline mean shared by EWMA and CUSUM
    VAR,  # baseline variance
    SIGMA,  # sqrt(VAR) floored at the variable's resolution
    EWMA_Z,  # EWMA of the standardised residuals
    CUSUM_HI,  # upper CUSUM sum
    CUSUM_LO,  # lower CUSUM sum
    LAST_X,  # last value, for the stuck-sensor count
    REPEATS,  # consecutive readings equal to the previous one
    Z_REF,  # reference the rolling window's values are kept relative to
    Z_SUM,  # sum of the window's values (relative to Z_REF)
    Z_SUMSQ,  # sum of their squares
    Z_POS,  # next position in the window's ring buffer
    LAST_Z,  # latest rolling z-score once the window is full
    FLAT_SINCE,  # time of the first reading of the current run of repeats
) = range(17)
N_CORE = 17  # the slots a restart returns to their initial values
# The running distribution of each calibrated detector's statistic: means, then variances,
# one slot per detector, so a round updates all three at once. It describes the series, not
# its current run, so a restart after a gap keeps it.
CAL_MEAN = N_CORE
CAL_VAR = CAL_MEAN + len(CALIBRATED)
N_SLOTS = CAL_VAR + len(CALIBRATED)


def initial_block(resolution: np.ndarray) -> np.ndarray:
    """The (slots, variables) state of a series that has seen nothing since its last restart.

    The baseline starts at variance ``resolution**2`` so the first residuals are measured
    against the sensor's own noise floor rather than a zero spread.
    """
    block = np.zeros((N_SLOTS, resolution.shape[0]))
    block[[LAST_T, DT_REF, MEAN, LAST_X, Z_REF, LAST_Z, FLAT_SINCE]] = np.nan
    block[VAR] = resolution**2
    block[SIGMA] = resolution
    block[CAL_MEAN : CAL_MEAN + len(CALIBRATED)] = PRIOR_MEAN
    block[CAL_VAR : CAL_VAR + len(CALIBRATED)] = PRIOR_VAR
    return block


def with_stepped(core: np.ndarray, blocks: list[np.ndarray]) -> tuple[np.ndarray, list[slice]]:
    """The initial (slots, V) state with the slots each stepped detector declares
    (:mod:`~pipeline.detectors.stepped`; ``blocks``, their initial values) after the core's
    :data:`N_SLOTS`, and where each detector's are."""
    where, start = [], N_SLOTS
    for block in blocks:
        where.append(slice(start, start + block.shape[0]))
        start += block.shape[0]
    return np.concatenate([core, *blocks]), where


VIEW_ROWS = 4096


def widen(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` (..., V) repeated into (..., rows, V), contiguous.

    Combining a (m, V) array with a (V,) one makes numpy loop over rows of V elements, several
    times slower than combining two (m, V) arrays, so per-variable constants are widened once
    and the rounds take their first ``m`` rows.
    """
    shape = (*array.shape[:-1], rows, array.shape[-1])
    view = np.broadcast_to(array[..., None, :], shape)
    return view if rows > VIEW_ROWS else np.ascontiguousarray(view)
