"""Per-station state arrays grown by rows as stations arrive."""

from __future__ import annotations

import numpy as np


def with_rows(array: np.ndarray, extra: int, fill: float | np.ndarray) -> np.ndarray:
    """``array`` followed by ``extra`` rows of ``fill`` (a scalar, or one row to broadcast).

    One new array, filled in place: ``np.concatenate`` with a filled block would hold that
    block too, a third copy at the moment the state is largest (10,000 stations arriving in
    one batch made the peak resident set 1.5 times the state)."""
    kept = array.shape[0]
    out = np.empty((kept + extra, *array.shape[1:]), dtype=array.dtype)
    out[:kept] = array
    out[kept:] = fill
    return out
