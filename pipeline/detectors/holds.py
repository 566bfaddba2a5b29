"""Runs of flagged readings per series, and what a long hold means for the detectors.

A held reading is no gap: the sensor reported, so its series is not silent (the bank moves its
last-reading time on). But its detectors learnt nothing while it was held, and a baseline
hours old would take the first sound reading after an inconsistent spell for an anomaly. So
the first sound reading after a hold longer than ``max_gap_s`` restarts its series' detectors,
as the first reading after a silence that long does.

Both this and the consistency check's one-report-per-run need, per series, where a run of
flagged readings starts and when; :func:`runs` finds that for a whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.rows import with_rows


@dataclass(slots=True)
class Runs:
    """Of one column's present readings (``rows``, (station, time) order): ``start``, where a
    run of flagged readings begins; ``began``, for each flagged reading, when its run began;
    ``after``, the sound readings that end a run, and ``ended_began`` when that run began."""

    rows: np.ndarray
    start: np.ndarray
    began: np.ndarray
    after: np.ndarray
    ended_began: np.ndarray


def runs(
    stations: np.ndarray,
    times: np.ndarray,
    flagged: np.ndarray,
    present: np.ndarray,
    since: np.ndarray,
) -> Runs:
    """Runs of ``flagged`` among the ``present`` readings of one column, (station, time) order.
    ``since`` (stations,): when each station's run open at the batch's start began (NaN: none);
    it is updated to what is open at the batch's end."""
    rows = np.flatnonzero(present)
    f, at, t = flagged[rows], stations[rows], times[rows]
    n = rows.shape[0]
    first = np.ones(n, dtype=bool)
    np.not_equal(at[1:], at[:-1], out=first[1:])
    carried = since[at]
    before = np.zeros(n, dtype=bool)  # the previous present reading of the station is flagged
    before[1:] = f[:-1]
    before[first] = ~np.isnan(carried[first])
    start = f & ~before
    # When each flagged reading's run began: forward-filled from its start (or the carry-in).
    known = np.where(start, t, np.where(first & f, carried, np.nan))
    anchor = np.where(~np.isnan(known), np.arange(n), 0)
    np.maximum.accumulate(anchor, out=anchor)
    began = np.where(f, known[anchor], np.nan)
    after = ~f & before
    previous = np.empty(n)
    previous[0:1] = np.nan
    previous[1:] = began[:-1]
    ended_began = np.where(first, carried, previous)[after]
    last = np.ones(n, dtype=bool)
    np.not_equal(at[1:], at[:-1], out=last[:-1])
    since[at[last]] = began[last]
    return Runs(rows, start, began, after, ended_began)


class LongHolds:
    def __init__(self, n_vars: int, max_gap_s: float) -> None:
        self.max_gap_s = max_gap_s
        self.since = np.empty((0, n_vars))  # when each series' current hold began; NaN: none

    def grow(self, extra: int) -> None:
        self.since = with_rows(self.since, extra, np.nan)

    def keep_stations(self, kept: np.ndarray) -> None:
        self.since = self.since[kept[kept < self.since.shape[0]]]

    def restarts(
        self,
        stations: np.ndarray,
        times: np.ndarray,
        measured: np.ndarray,
        held: np.ndarray | None,
        starts: np.ndarray,
    ) -> np.ndarray | None:
        """(n, V) in (station, time) order: the sound readings that end a hold longer than
        ``max_gap_s`` (None when none do). ``measured``: the readings as the sensors reported
        them (NaN: none); ``held``: those held back; ``starts``: each station's first row."""
        touched = ~np.isnan(self.since[stations[starts]]).all(axis=0)  # per column
        if held is None and not touched.any():
            return None
        if held is None:
            held = np.zeros(measured.shape, dtype=bool)
        restart = None
        for column in np.flatnonzero(touched | held.any(axis=0)):
            present = ~np.isnan(measured[:, column])
            found = runs(stations, times, held[:, column], present, self.since[:, column])
            long = found.rows[found.after][
                times[found.rows[found.after]] - found.ended_began > self.max_gap_s
            ]
            if long.shape[0]:
                if restart is None:
                    restart = np.zeros(measured.shape, dtype=bool)
                restart[long, column] = True
        return restart
