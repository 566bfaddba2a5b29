"""Highest and lowest value of each series over a trailing time window, a batch at a time.

The rules need "the highest pressure of the last 3 hours" and "the range of the last hour" at
every reading. Keeping every reading of the window would cost memory and time proportional to
the rate, so time is cut into :data:`N_BUCKETS` buckets per window and each series keeps, in a
ring, the max and min of its most recent buckets with each bucket's number. The window of a
reading in bucket ``b`` is buckets ``b - N_BUCKETS .. b``: it reaches back between one and
``1 + 1/N_BUCKETS`` window lengths, a resolution of 5 minutes for a 3-hour window.

There is no recursion in a windowed max, so a whole batch is done at once. For each station
and column, the ring and the batch's readings are laid on a dense grid of buckets; the max of
the completed buckets before each one is a fixed-width sliding max along the grid, and the
readings earlier in a reading's own bucket come from a segmented running max.

The grid costs (buckets spanned + a window) x stations in the batch, however few readings each
station has: with 10,000 stations of two readings each, it was 56 % of the pipeline's time.
When every station has at most :data:`FEW_READINGS` readings in the batch, they are taken a
round at a time instead (each station's first reading, then its second...), each reading
looking at its station's ring directly: readings x ring slots. Both give the same extremes
(``tests/test_detectors_rules.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.rows import with_rows

N_BUCKETS = 36
FEW_READINGS = 8  # per station in a batch: at most this many, rounds beat the grid
# Stations a round gathers the rings of at once: the gathered rings are (stations, columns,
# slots) floats, 15 MB at 10,000 stations each; in chunks they stay a few MB.
ROUND_CHUNK = 2048


def trailing_max(grid: np.ndarray, width: int) -> np.ndarray:
    """``out[g] = max(grid[g - width : g])`` along axis 0 (-inf where that is empty).

    By doubling: after k steps ``block[i]`` is the max of ``2**k`` consecutive cells, and a
    window of ``width`` cells is covered by two such blocks that overlap. Axis 0 comes first
    so that each step is one whole-array operation across all series.
    """
    cells = grid.shape[0]
    block = np.full((cells + width, *grid.shape[1:]), -np.inf)
    block[width:] = grid
    spare = np.empty_like(block)
    span = 1
    while 2 * span <= width:
        rows = block.shape[0] - span
        np.maximum(block[:rows], block[span:], out=spare[:rows])
        block, spare = spare[:rows], block
        span *= 2
    return np.maximum(block[:cells], block[width - span : width - span + cells])


def running_max(values: np.ndarray, group: np.ndarray, stride: int = 1) -> np.ndarray:
    """Running max along a flat array, one sequence every ``stride`` elements (rows of a
    C-ordered (n, stride) array), within runs of equal ``group``: a segmented inclusive scan by
    doubling (Hillis & Steele 1986), log2 of the longest run steps."""
    out = values.copy()
    step = stride
    while step < out.shape[0]:
        same = group[step:] == group[:-step]
        if not same.any():
            break
        np.maximum(out[step:], np.where(same, out[:-step], -np.inf), out=out[step:])
        step *= 2
    return out


class WindowExtremes:
    """Trailing-window max and min for chosen variable columns of every station."""

    def __init__(self, columns: Sequence[int], windows_s: Sequence[float], capacity: int) -> None:
        self.columns = np.asarray(columns, dtype=np.intp)
        self.width = np.asarray(windows_s, dtype=np.float64) / N_BUCKETS
        self.slots = N_BUCKETS + 1
        shape = (capacity, len(self.columns), self.slots)
        self.number = np.full(shape, -np.inf)
        self.high = np.full(shape, -np.inf)
        self.low = np.full(shape, np.inf)

    def grow(self, capacity: int) -> None:
        extra = capacity - self.number.shape[0]
        self.number = with_rows(self.number, extra, -np.inf)
        self.high = with_rows(self.high, extra, -np.inf)
        self.low = with_rows(self.low, extra, np.inf)

    def keep_stations(self, kept: np.ndarray) -> None:
        """Keep only the stations at ``kept``, renumbered in that order (see
        :meth:`pipeline.registry.StationRegistry.keep`)."""
        self.number, self.high, self.low = self.number[kept], self.high[kept], self.low[kept]

    def update(
        self, station: np.ndarray, time: np.ndarray, values: np.ndarray, starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Take a batch in and return the window (max, min) at each of its readings.

        Rows are in (station, time) order, times strictly increasing within a station and
        later than anything the station sent before; ``starts`` indexes each station's first
        row. Returns two (n, columns) arrays including the reading itself; NaN values are
        skipped (they leave -inf/inf where a window holds no value at all).
        """
        n, n_cols = station.shape[0], self.columns.shape[0]
        if n_cols == 0 or n == 0:
            empty = np.empty((n, n_cols))
            return empty, empty
        lengths = np.diff(np.append(starts, n))
        if lengths.max() <= FEW_READINGS:
            return self._by_rounds(station, time, values, starts, lengths)
        return self._on_grid(station, time, values, starts)

    def _by_rounds(
        self,
        station: np.ndarray,
        time: np.ndarray,
        values: np.ndarray,
        starts: np.ndarray,
        lengths: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Round ``r`` takes every station's ``r``-th reading of the batch (one per station,
        so the ring updates of a round never collide): its window is the ring's buckets
        ``b - N_BUCKETS .. b`` (a slot holding an older bucket is out of it by construction)
        and the reading itself; then the reading goes into its bucket's slot."""
        n, n_cols = station.shape[0], self.columns.shape[0]
        x = values[:, self.columns]
        up = np.where(np.isnan(x), -np.inf, x)
        down = np.where(np.isnan(x), -np.inf, -x)
        bucket = np.floor(time[:, None] / self.width)  # (n, columns), float: compared only
        window_high, window_low = np.empty((n, n_cols)), np.empty((n, n_cols))
        for r in range(int(lengths.max())):
            taken = starts[lengths > r] + r
            for first in range(0, taken.shape[0], ROUND_CHUNK):
                rows = taken[first : first + ROUND_CHUNK]
                high, low = self._round(station[rows], bucket[rows], up[rows], down[rows])
                window_high[rows], window_low[rows] = high, low
        return window_high, window_low

    def _round(
        self, s: np.ndarray, b: np.ndarray, up: np.ndarray, down: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One reading of each station ``s`` (distinct) in bucket ``b``, ``up`` its values
        and ``down`` their negation (-inf where missing): its window (max, min), after which
        the reading is in its bucket's slot."""
        number = self.number[s]  # (m, columns, slots)
        inside = (number >= (b - N_BUCKETS)[:, :, None]) & (number <= b[:, :, None])
        ring_high = np.where(inside, self.high[s], -np.inf).max(axis=2)
        ring_low = np.where(inside, -self.low[s], -np.inf).max(axis=2)
        slot = (b % self.slots).astype(np.intp)
        at = (s[:, None], np.arange(self.columns.shape[0])[None, :], slot)
        same = self.number[at] == b
        self.high[at] = np.where(same, np.maximum(self.high[at], up), up)
        self.low[at] = np.where(same, np.minimum(self.low[at], -down), -down)
        self.number[at] = b
        return np.maximum(ring_high, up), -np.maximum(ring_low, down)

    def _on_grid(
        self, station: np.ndarray, time: np.ndarray, values: np.ndarray, starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        n, n_cols, slots = station.shape[0], self.columns.shape[0], self.slots
        x = values[:, self.columns]
        missing = np.isnan(x)
        bucket = np.floor(time[:, None] / self.width).astype(np.int64)
        n_blocks = starts.shape[0]
        ends = np.append(starts[1:], n) - 1
        block = np.repeat(np.arange(n_blocks), ends - starts + 1)
        present = station[starts]
        # Silences longer than a window are shrunk to one window on the grid: nothing can see
        # across them, and the grid stays as small as the batch whatever time it spans.
        step = np.empty_like(bucket)
        step[0] = 0
        np.minimum(bucket[1:] - bucket[:-1], slots, out=step[1:])
        step[starts] = 0
        position = np.cumsum(step, axis=0)
        position += (bucket[starts] - position[starts])[block]
        # The grid: (cells, stations * columns), cell 0 one bucket before the earliest window.
        origin = bucket[starts] - slots
        cells = int((position[ends] - origin).max()) + 1
        series = (block[:, None] * n_cols + np.arange(n_cols)).ravel()
        flat = (position - origin[block]).ravel() * (n_blocks * n_cols) + series

        # The ring's buckets that fall on the grid.
        ring_cell = self.number[present] - origin[:, :, None]
        on_grid = ring_cell >= 0
        stations_at, columns_at, _ = np.unravel_index(np.flatnonzero(on_grid), on_grid.shape)
        at_cell = ring_cell[on_grid].astype(np.intp) * (n_blocks * n_cols)
        at_cell += stations_at * n_cols + columns_at
        ring_high = np.full(cells * n_blocks * n_cols, -np.inf)
        ring_low = np.full(cells * n_blocks * n_cols, np.inf)
        ring_high[at_cell] = self.high[present][on_grid]
        ring_low[at_cell] = self.low[present][on_grid]

        # The batch's readings on top: each bucket's running extremes, whose last value is the
        # bucket's extreme.
        up = np.where(missing, -np.inf, x).ravel()
        down = np.where(missing, -np.inf, -x).ravel()
        ring_up, ring_down = ring_high[flat], -ring_low[flat]
        np.maximum(running_max(up, flat, n_cols), ring_up, out=up)
        np.maximum(running_max(down, flat, n_cols), ring_down, out=down)
        last = np.ones(n * n_cols, dtype=bool)
        np.not_equal(flat[:-n_cols], flat[n_cols:], out=last[:-n_cols])
        high, low = ring_high.copy(), ring_low.copy()
        high[flat[last]] = up[last]
        low[flat[last]] = -down[last]

        # Window extremes: completed buckets before the reading's own, then its own so far.
        shape = (cells, n_blocks * n_cols)
        before_high = trailing_max(high.reshape(shape), N_BUCKETS).reshape(-1)[flat]
        before_low = trailing_max(-low.reshape(shape), N_BUCKETS).reshape(-1)[flat]
        window_high = np.maximum(before_high, up).reshape(n, n_cols)
        window_low = -np.maximum(before_low, down).reshape(n, n_cols)

        # Keep each station's last N_BUCKETS + 1 buckets (a silence within them is an exact
        # 36 empty cells on the grid, so bucket and cell still correspond one to one).
        offsets = np.arange(slots) - N_BUCKETS
        kept = bucket[ends][:, :, None] + offsets
        kept_flat = (position[ends] - origin)[:, :, None] + offsets
        kept_flat *= n_blocks * n_cols
        kept_flat += (np.arange(n_blocks)[:, None] * n_cols + np.arange(n_cols))[:, :, None]
        at = (present[:, None, None], np.arange(n_cols)[None, :, None], kept % slots)
        self.number[at] = kept
        self.high[at] = high[kept_flat]
        self.low[at] = low[kept_flat]
        return window_high, window_low
