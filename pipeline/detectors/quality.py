"""Quality control before analysis: a reading the sensor cannot have measured is held back.

In the spirit of the WMO step test (Zahumenský 2004, "Guidelines on quality control procedures
for data from automatic weather stations"): a reading further from the series' last good one
than the variable's step limit is *suspect*. It is withheld from the detectors and rules at
once, so a glitch never reaches a weather rule (a 592 hPa barometer spike is not a 311 hPa
pressure fall), and the next readings decide what it was:

* they come back within the limit of the last good reading: the suspect ones were a **spike**
  (a sensor fault, reported once, at the first suspect reading);
* they stay together at the new level for ``confirm`` readings: a **step** that does not
  recover (a sensor swapped, re-calibrated or broken). It is reported once; the new level is
  taken as good, the series' detectors start their warm-up again, and its rules see nothing
  for ``relearn_s`` (a pressure-fall rule would otherwise compare the new level with the old).

The limit scales with the square root of the spacing (weather wanders further in three hours
than in one, and less in one minute), never below the variable's floor (the WMO limit between
1-minute values), and does not apply across a gap longer than ``max_gap_s``: after a silence
any level is believable. Like the detectors, this is vectorised over the rounds of a
batch (see :mod:`~pipeline.detectors.ordering`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.anomaly import Anomaly, sensor_fault
from pipeline.detectors.consistency import CONSISTENCY_DETECTORS
from pipeline.detectors.ordering import RoundPlan, plan_rounds
from pipeline.rows import with_rows
from pipeline.settings import QcSettings
from pipeline.variables import VariableSpec

QC_DETECTORS = ("spike", "step", *CONSISTENCY_DETECTORS)
"""The sensor faults quality control reports, as an anomaly's ``detector``."""

(
    GOOD_X,  # the last good reading
    GOOD_T,  # its time
    HELD,  # how many readings in a row have been held back since it
    FIRST_X,  # the first of them
    FIRST_T,
    FIRST_JUMP,  # its distance from the last good reading
    FIRST_LIMIT,  # and the limit it went past
    LAST_X,  # the latest of them
    RELEARN_UNTIL,  # rules see nothing of the series before this time (after a step)
) = range(9)
N_QC_SLOTS = 9


def initial_qc_block(n_vars: int) -> np.ndarray:
    block = np.zeros((N_QC_SLOTS, n_vars))
    block[[GOOD_X, GOOD_T, FIRST_X, FIRST_T, FIRST_JUMP, FIRST_LIMIT, LAST_X]] = np.nan
    block[RELEARN_UNTIL] = -np.inf
    return block


@dataclass(slots=True)
class Screened:
    """What quality control made of a batch, arrays in round order (n, V).

    ``held``: readings withheld from detectors and rules. ``restart``: the series' detectors
    start again at this reading (the first good one after a step). ``relearning``: the rules
    see nothing of this reading. ``events``: (row, column, detector, value, time, jump,
    limit) of each spike or step found."""

    held: np.ndarray
    restart: np.ndarray
    relearning: np.ndarray
    events: list[tuple[int, int, str, float, float, float, float]]


class QualityControl:
    """Step and spike screening of every series, state kept per station and variable."""

    def __init__(
        self, variables: Sequence[VariableSpec], settings: QcSettings, relearn_s: float
    ) -> None:
        self.enabled = settings.enabled
        limits = [settings.step_limits.get(v.name, np.inf) for v in variables]
        self.step = np.asarray(limits, dtype=np.float64)
        floors = [settings.step_floors.get(v.name, 0.0) for v in variables]
        self.floor = np.minimum(np.asarray(floors, dtype=np.float64), self.step)
        self.confirm = settings.confirm
        self.slow_rows = settings.confirm + 1  # enough to tell a spike from a step
        self.relearn_s = relearn_s
        self.max_gap_s = settings.max_gap_hours * 3600.0
        self._initial = initial_qc_block(len(variables))
        self.state = np.empty((0, N_QC_SLOTS, len(variables)))

    @property
    def active(self) -> bool:
        return self.enabled and bool(np.isfinite(self.step).any())

    def grow(self, extra: int) -> None:
        self.state = with_rows(self.state, extra, self._initial)

    def keep_stations(self, kept: np.ndarray) -> None:
        self.state = self.state[kept[kept < self.state.shape[0]]]

    def screen_batch(
        self, stations: np.ndarray, times: np.ndarray, readings: np.ndarray, order: np.ndarray
    ) -> Screened:
        """Screen a batch (arrays in (station, time) order; ``order`` permutes that into round
        order, as the result is).

        Reading by reading (:meth:`screen`) costs a round per reading of the longest series,
        however few stations need it, so it is kept to where something is suspect: each
        station's readings up to its first suspect one are taken at once, the next
        ``slow_rows`` (enough to tell a spike from a step) go reading by reading, and the
        rest is screened again the same way, until nothing is left."""
        n, n_vars = readings.shape
        held = np.zeros((n, n_vars), dtype=bool)
        restart = np.zeros((n, n_vars), dtype=bool)
        relearning = np.zeros((n, n_vars), dtype=bool)
        events: list[tuple[int, int, str, float, float, float, float]] = []
        pending = np.arange(n)  # rows still to screen, in (station, time) order
        no_reading_yet = np.full(self.state.shape[0], -np.inf)
        while pending.shape[0]:
            whole = pending.shape[0] == n  # the first pass: no need to copy
            at, when, x = (
                (stations, times, readings)
                if whole
                else (stations[pending], times[pending], readings[pending])
            )
            first = self._first_suspect(at, when, x)  # per row: its station's, or n
            number = np.arange(pending.shape[0])
            quiet = number < first
            self._take_quietly(at[quiet], when[quiet], x[quiet])
            done = pending[quiet]
            relearns = self.state[:, RELEARN_UNTIL].max(initial=-np.inf)
            if relearns > times[done].min(initial=np.inf):  # some series is relearning
                relearning[done] = ~np.isnan(readings[done]) & (
                    times[done, None] < self.state[stations[done], RELEARN_UNTIL]
                )
            slow = ~quiet & (number < first + self.slow_rows)
            if slow.any():
                rows = pending[slow]
                plan = plan_rounds(stations[rows], times[rows], no_reading_yet)
                inner = rows[plan.by_station][plan.to_rounds]
                part = self.screen(plan, times[inner], readings[inner])
                held[inner], restart[inner], relearning[inner] = (
                    part.held,
                    part.restart,
                    part.relearning,
                )
                events += [(int(inner[event[0]]), *event[1:]) for event in part.events]
            pending = pending[~quiet & ~slow]
        position = np.empty(n, dtype=np.intp)  # where each (station, time) row is in rounds
        position[order] = np.arange(n)
        events = [(int(position[event[0]]), *event[1:]) for event in events]
        return Screened(held[order], restart[order], relearning[order], events)

    def _first_suspect(
        self, stations: np.ndarray, times: np.ndarray, readings: np.ndarray
    ) -> np.ndarray:
        """(rows,) for each row, the row number (in these arrays, (station, time) order) of
        its station's first row that must be screened reading by reading: the station's first
        row if it is holding readings back, else its first reading further than its limit
        from the one before it; ``len(rows)`` for a station with neither."""
        q = self.state
        n = stations.shape[0]
        new_station = np.ones(n, dtype=bool)
        np.not_equal(stations[1:], stations[:-1], out=new_station[1:])
        holding: np.ndarray = np.any(q[:, HELD] > 0, axis=1)  # per station: cheaper than per row
        suspect = new_station & holding[stations]
        for c in np.flatnonzero(np.isfinite(self.step)).tolist():
            rows = np.flatnonzero(~np.isnan(readings[:, c]))
            if not rows.shape[0]:
                continue
            x, t, at = readings[rows, c], times[rows], stations[rows]
            follows = np.zeros(rows.shape[0], dtype=bool)  # the previous present row is its own
            np.equal(at[1:], at[:-1], out=follows[1:])
            ref_x, ref_t = q[at, GOOD_X, c], q[at, GOOD_T, c]
            ref_x[1:] = np.where(follows[1:], x[:-1], ref_x[1:])
            ref_t[1:] = np.where(follows[1:], t[:-1], ref_t[1:])
            dt = t - ref_t
            with np.errstate(invalid="ignore"):
                limit = np.maximum(self.step[c] * np.sqrt(dt / 3600.0), self.floor[c])
                suspect[rows] |= (dt <= self.max_gap_s) & (np.abs(x - ref_x) > limit)
        starts = np.flatnonzero(new_station)
        marked = np.where(suspect, np.arange(n), n)
        first = np.minimum.reduceat(marked, starts)
        return np.repeat(first, np.diff(np.append(starts, n)))

    def _take_quietly(self, stations: np.ndarray, times: np.ndarray, readings: np.ndarray) -> None:
        """Readings of stations with nothing suspect (station, time order): each series' last
        present one becomes its last good reading."""
        q = self.state
        for c in np.flatnonzero(np.isfinite(self.step)).tolist():
            rows = np.flatnonzero(~np.isnan(readings[:, c]))
            if not rows.shape[0]:
                continue
            at = stations[rows]
            last = np.ones(rows.shape[0], dtype=bool)  # each station's last present row
            np.not_equal(at[1:], at[:-1], out=last[:-1])
            q[at[last], GOOD_X, c] = readings[rows[last], c]
            q[at[last], GOOD_T, c] = times[rows[last]]

    def screen(self, plan: RoundPlan, times: np.ndarray, readings: np.ndarray) -> Screened:
        """Screen a batch in round order (``times`` (n,), ``readings`` (n, V))."""
        n, n_vars = readings.shape
        held = np.zeros((n, n_vars), dtype=bool)
        restart = np.zeros((n, n_vars), dtype=bool)
        relearning = np.zeros((n, n_vars), dtype=bool)
        events: list[tuple[int, int, str, float, float, float, float]] = []
        ranked, bounds = plan.ranked, plan.bounds
        work = np.ascontiguousarray(self.state[ranked].transpose(1, 0, 2))
        step, floor = self.step[None, :], self.floor[None, :]
        with np.errstate(invalid="ignore"):
            for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                q = work[:, : stop - start]
                x = readings[start:stop]
                t = times[start:stop, None]
                present = ~np.isnan(x)
                dt = t - q[GOOD_T]
                near_in_time = dt <= self.max_gap_s  # False where there is no good reading yet
                limit = np.maximum(step * np.sqrt(dt / 3600.0), floor)
                holding = q[HELD] > 0
                # While readings are held, the last good one grows older, and the limit with
                # it: a step would soon look "back within the limit" and pass for a spike. So
                # a held series is judged by the limit its first held reading went past.
                np.copyto(limit, q[FIRST_LIMIT], where=holding)
                jump = np.abs(x - q[GOOD_X])
                far = present & near_in_time & (jump > limit)
                returned = present & holding & ~far & near_in_time
                together = far & holding & (np.abs(x - q[LAST_X]) <= limit)
                confirmed = together & (q[HELD] + 1 >= self.confirm)
                # A spike is told as its first reading was held (value, time, how far, past
                # which limit); a step as the reading that confirmed it.
                for i, c in zip(*np.nonzero(returned), strict=True):
                    told = q[[FIRST_X, FIRST_T, FIRST_JUMP, FIRST_LIMIT], i, c].tolist()
                    events.append((start + i, c, "spike", *told))
                for i, c in zip(*np.nonzero(confirmed), strict=True):
                    events.append((start + i, c, "step", x[i, c], t[i, 0], jump[i, c], limit[i, c]))
                suspect = far & ~confirmed
                starts_hold = suspect & ~holding
                np.copyto(q[FIRST_X], x, where=starts_hold)
                np.copyto(q[FIRST_T], np.broadcast_to(t, x.shape), where=starts_hold)
                np.copyto(q[FIRST_JUMP], jump, where=starts_hold)
                np.copyto(q[FIRST_LIMIT], limit, where=starts_hold)
                q[HELD] = np.where(suspect, q[HELD] + 1, np.where(present, 0.0, q[HELD]))
                np.copyto(q[LAST_X], x, where=suspect)
                good = present & ~suspect
                np.copyto(q[GOOD_X], x, where=good)
                np.copyto(q[GOOD_T], np.broadcast_to(t, x.shape), where=good)
                np.copyto(
                    q[RELEARN_UNTIL], np.broadcast_to(t + self.relearn_s, x.shape), where=confirmed
                )
                held[start:stop] = suspect
                restart[start:stop] = confirmed
                relearning[start:stop] = good & (t < q[RELEARN_UNTIL])
        self.state[ranked] = work.transpose(1, 0, 2)
        return Screened(held, restart, relearning, events)


def qc_anomalies(
    screened: Screened,
    stations: np.ndarray,
    station_ids: Sequence[str],
    names: Sequence[str],
) -> list[Anomaly]:
    """The spikes and steps of a batch as anomalies (``stations`` in round order), scored by
    the jump against the limit it went past."""
    return [
        sensor_fault(station_ids[int(stations[row])], names[column], value, kind, when, jump, limit)
        for row, column, kind, value, when, jump, limit in screened.events
    ]
